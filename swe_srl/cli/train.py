"""`swe-srl train`: Train with SRL (GRPO + dynamic sampling) or SFT (issue 6)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("train", help="Train with SRL (GRPO + dynamic sampling) or SFT (issue 6). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _train(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl train` is not yet available in this version")

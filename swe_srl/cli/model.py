"""`swe-srl model`: Model utilities: init-tiny (issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("model", help="Model utilities: init-tiny (issue 5). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _model(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl model` is not yet available in this version")

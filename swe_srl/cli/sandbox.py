"""`swe-srl sandbox`: Docker sandboxes: build | ls | prune (issue 3)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("sandbox", help="Docker sandboxes: build | ls | prune (issue 3). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _sandbox(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl sandbox` is not yet available in this version")

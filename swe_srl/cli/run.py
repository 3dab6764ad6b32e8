"""`swe-srl run`: Run a policy as an agent on tasks (issue 5)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("run", help="Run a policy as an agent on tasks (issue 5). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _run(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl run` is not yet available in this version")

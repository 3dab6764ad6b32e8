"""`swe-srl tasks`: Task instances: synthesize | validate (issue 4)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("tasks", help="Task instances: synthesize | validate (issue 4). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _tasks(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl tasks` is not yet available in this version")

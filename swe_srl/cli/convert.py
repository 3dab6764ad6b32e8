"""`swe-srl convert`: Agent logs -> canonical trajectories (issue 2)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("convert", help="Agent logs -> canonical trajectories (issue 2). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _convert(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl convert` is not yet available in this version")

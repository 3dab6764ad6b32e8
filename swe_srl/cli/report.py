"""`swe-srl report`: HTML report of a run (issue 7)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("report", help="HTML report of a run (issue 7). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _report(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl report` is not yet available in this version")

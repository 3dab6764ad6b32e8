"""`swe-srl eval`: Grade predictions with the SWE-bench-style harness (issue 4)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval", help="Grade predictions with the SWE-bench-style harness (issue 4). Not yet available.", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _eval(ctx: typer.Context) -> None:
        from swe_srl.errors import NotYetAvailableError

        raise NotYetAvailableError("`swe-srl eval` is not yet available in this version")

"""`swe-srl report RUN_DIR`: one self-contained HTML page summarising a run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """One self-contained HTML page summarising a run directory.

RUN_DIR is searched (recursively, bounded depth) for the outputs of every
stage, wherever they sit: dataset statistics (stats.json), conversion reports
(report.json from convert), training metrics (metrics.jsonl, plots/*.png),
agent runs (summary.json, predictions.jsonl) and evaluations (run report.json
and per-instance folders). Missing pieces are noted on the page. The page needs
no network: CSS inline, charts embedded as PNG, no scripts. By default it is
written to RUN_DIR/report.html so its links to patches and test logs work.

Examples:

  swe-srl report runs/demo

  swe-srl report runs/demo --out /tmp/demo-report.html
"""


def register(app: typer.Typer) -> None:
    @app.command("report", help=HELP)
    def report_cmd(
        run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="The run directory to summarise."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", metavar="FILE.html", help="Where to write the page (default: RUN_DIR/report.html)."),
    ) -> None:
        from swe_srl.cli.common import console, summary
        from swe_srl.report import write_report

        with console.status("reading the run directory and drawing charts"):
            target, found = write_report(run_dir, out)
        summary("swe-srl report", [
            ("datasets", len(found.datasets)),
            ("conversions", len(found.converts)),
            ("training runs", len(found.trainings)),
            ("agent runs", len(found.agent_runs)),
            ("evaluations", len(found.evals)),
            ("notes", len(found.notes)),
            ("page", f"{target} ({target.stat().st_size / 1024:.0f} KiB)"),
        ])

"""`swe-srl report`: one self-contained HTML page summarising a run directory.

The layout of RUN_DIR is discovered, not assumed (:mod:`swe_srl.report.discover`):
dataset statistics, conversion reports, training metrics and plots, agent runs
and evaluation reports are found by their files and keys wherever they sit
(bounded depth). The page (:mod:`swe_srl.report.html`) needs no network to
view: inline CSS, charts as base64 PNG drawn with matplotlib's Agg canvas, no
scripts. Links to per-instance patches and test logs are relative, so the page
works when written inside RUN_DIR (the default, RUN_DIR/report.html).
"""

from __future__ import annotations

import os
from pathlib import Path

from swe_srl.errors import SweSrlError

# (``swe_srl.report.discover.discover`` walks a run directory; it is not
# re-exported here, since the submodule of the same name would shadow it.)
__all__ = ["build_report", "write_report", "DEFAULT_NAME"]

DEFAULT_NAME = "report.html"


def build_report(run_dir: str | os.PathLike, page: str | os.PathLike | None = None):
    """``(html, contents)`` for ``run_dir``; links are relative to ``page``
    (default ``run_dir/report.html``). Raises :class:`SweSrlError` when nothing
    in ``run_dir`` is recognisable."""
    from swe_srl.report.discover import discover as _discover
    from swe_srl.report.html import render

    found = _discover(run_dir)
    if found.empty():
        raise SweSrlError(
            f"{run_dir}: nothing to report (looked for stats.json, report.json, metrics.jsonl, "
            "trainer_state.json, summary.json, predictions.jsonl, score*.json)"
        )
    page = Path(page) if page is not None else Path(run_dir) / DEFAULT_NAME
    return render(found, page), found


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None):
    """Render ``run_dir`` and write the page atomically to ``out`` (default
    ``run_dir/report.html``); returns ``(path written, contents found)``."""
    from swe_srl.io import atomic_open

    out = Path(out) if out is not None else Path(run_dir) / DEFAULT_NAME
    text, found = build_report(run_dir, out)
    with atomic_open(out) as fh:
        fh.write(text)
    # atomic_open's temporary file is private (0600); a report is for sharing.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(out, 0o666 & ~umask)
    return out, found

"""`swe-srl convert`: agent logs -> canonical trajectories (JSONL) + report."""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

FORMATS = "auto|swe-agent|mini-swe-agent|openhands|chat-messages|claude-code|codex|canonical"

HELP = f"""Agent logs -> canonical trajectories.

INPUT may be files or directories (walked recursively, hidden files skipped).
Each file's format is detected on its own unless --format is given
({FORMATS}). Writes DIR/trajectories.jsonl (one canonical trajectory per
line) and DIR/report.json (counts per format, actions by tool, every skipped
file or record with its reason as file:line: reason). Bad files are skipped
and reported; the exit code is non-zero only when nothing could be converted.
Re-running with the same inputs rewrites the same outputs.

Examples:

  swe-srl convert ../shared/trajectory-samples --out out/traj

  swe-srl convert runs/*.traj --out out/swe-agent --format swe-agent
"""


def register(app: typer.Typer) -> None:
    @app.command("convert", help=HELP)
    def convert_cmd(
        inputs: List[Path] = typer.Argument(..., metavar="INPUT...", help="Agent-log files or directories."),
        out: Path = typer.Option(..., "--out", "-o", help="Output directory (trajectories.jsonl, report.json)."),
        fmt: str = typer.Option("auto", "--format", "-f", help=f"Input format: {FORMATS}."),
        show_skips: int = typer.Option(8, "--show-skips", help="How many skip reasons to print (all are in report.json)."),
    ) -> None:
        import sys
        import time

        from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TransferSpeedColumn

        from swe_srl.cli.common import console
        from swe_srl.errors import ParseError
        from swe_srl.trajectories.convert import command_record, convert, iter_input_files

        files = list(iter_input_files(inputs))
        total_bytes = sum(f[1] for f in files if not isinstance(f, ParseError))
        command = command_record(
            ["swe-srl", *sys.argv[1:]], inputs=[str(p) for p in inputs], out=str(out), format=fmt
        )
        t0 = time.perf_counter()
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]convert"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task("convert", total=total_bytes or 1, status="")
            counts = {"traj": 0, "files": 0}

            def on_file(path: Path, size: int, name: str | None, n: int) -> None:
                counts["traj"] += n
                counts["files"] += 1
                bar.update(task, advance=size, status=f"{counts['files']} files, {counts['traj']} trajectories")

            report = convert(inputs, out, fmt=fmt, command=command, on_file=on_file, files=files)
        elapsed = time.perf_counter() - t0
        _print_summary(report, out, elapsed, show_skips)
        if report["trajectories"] == 0:
            console.print("[bold red]error:[/] nothing could be converted (see the skipped files above)")
            raise typer.Exit(1)


def _print_summary(report: dict, out: Path, elapsed: float, show_skips: int) -> None:
    from rich.console import Console, Group
    from rich.table import Table
    from rich.text import Text

    from swe_srl.cli.common import printable

    files = report["files"]
    mb = report["bytes"] / 1e6
    head = Table(title="swe-srl convert", show_header=False, title_justify="left", box=None)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("files", f"{files['total']} ({files['parsed']} parsed, {files['skipped']} skipped)")
    head.add_row("trajectories", str(report["trajectories"]))
    head.add_row("steps", str(report["steps"]))
    head.add_row("records skipped", str(report["records_skipped"]))
    if report.get("prefix_duplicates_dropped"):
        head.add_row("prefix duplicates dropped", str(report["prefix_duplicates_dropped"]))
    bad_utf8 = report.get("invalid_utf8") or {}
    if bad_utf8.get("records"):
        head.add_row("invalid UTF-8 replaced", f"{bad_utf8['records']} records in {bad_utf8['files']} files "
                                               "(per file in report.json)")
    head.add_row("throughput", f"{mb:.1f} MB in {elapsed:.1f} s ({mb / max(elapsed, 1e-9):.1f} MB/s)")
    head.add_row("output", Text(printable(f"{out / 'trajectories.jsonl'}, {out / 'report.json'}")))

    fmt_table = Table(title="per format", title_justify="left")
    for col in ("format", "files", "trajectories", "steps"):
        fmt_table.add_column(col, justify="left" if col == "format" else "right")
    for name, c in report["formats"].items():
        fmt_table.add_row(Text(printable(name)), str(c["files"]), str(c["trajectories"]), str(c["steps"]))

    tools = list(report["actions_by_tool"].items())
    tool_table = Table(title="actions by tool", title_justify="left")
    tool_table.add_column("tool")
    tool_table.add_column("steps", justify="right")
    for name, n in tools[:8]:
        tool_table.add_row(Text(printable(name)), str(n))
    if len(tools) > 8:
        tool_table.add_row(f"({len(tools) - 8} more)", str(sum(n for _, n in tools[8:])))

    parts: list = [head]
    if report["formats"]:
        parts.append(fmt_table)
    if tools:
        parts.append(tool_table)
    out_console = Console()
    out_console.print(Group(*parts))
    skipped = report["skipped"]
    if skipped:
        out_console.print(f"[bold]skipped[/] ({report['skipped_total']}, all listed in report.json):", highlight=False)
        for reason in skipped[:show_skips]:
            out_console.print(f"  {printable(reason)}", highlight=False, soft_wrap=True, markup=False)
        if report["skipped_total"] > show_skips:
            out_console.print(f"  ... and {report['skipped_total'] - show_skips} more", highlight=False)

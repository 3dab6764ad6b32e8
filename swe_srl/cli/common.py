"""Shared CLI pieces: the console, progress bars, summary tables, error exit."""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

console = Console(stderr=True)


def progress(transient: bool = False) -> Progress:
    """A rich progress bar (written to stderr, quiet when not a terminal)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0, 9), *range(11, 32), 127)}
_CONTROL.update({0x9b: "\\x9b", 0x85: "\\x85"})


def printable(text: Any) -> str:
    """``text`` with control characters (terminal escape sequences from file names, logs or
    command output) written as ``\\xNN``; newlines and tabs kept."""
    return str(text).translate(_CONTROL)


def shown(text: Any) -> str:
    """:func:`printable`, with rich markup escaped too (for text printed with markup on)."""
    from rich.markup import escape

    return escape(printable(text))


def per_node(counts: dict[str, int]) -> str:
    """``node-a 12, node-b 9``: tasks per node of the Ray backend, for progress bars and summaries
    (``-`` when none is known)."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


def summary(title: str, rows: Iterable[tuple[str, Any]]) -> None:
    """Print a two-column summary table at the end of a command (values shown escaped)."""
    from rich.text import Text

    table = Table(title=Text(str(title).translate(_CONTROL)), show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for k, v in rows:
        table.add_row(Text(str(k).translate(_CONTROL)), Text(str(v).translate(_CONTROL)))
    Console().print(table)


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error and exit non-zero."""
    import typer

    console.print(f"[bold red]error:[/] {shown(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

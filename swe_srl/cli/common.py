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


def summary(title: str, rows: Iterable[tuple[str, Any]]) -> None:
    """Print a two-column summary table at the end of a command."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for k, v in rows:
        table.add_row(str(k), str(v))
    Console().print(table)


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error and exit non-zero."""
    import typer

    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)

"""The ``swe-srl`` command line.

Each stage registers its commands from its own module (``swe_srl.cli.<stage>``);
heavy libraries are imported inside the commands, so ``swe-srl --help`` is fast.
Errors the user can cause (:class:`swe_srl.errors.SweSrlError`) become one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from swe_srl import __version__

HELP = """Supervised Reinforcement Learning (SRL) for coding agents.

Pipeline: convert agent logs -> build step-wise datasets -> train (SRL/GRPO or SFT)
-> run the policy as an agent in Docker sandboxes -> grade patches with a
SWE-bench-style harness.

Examples:

  swe-srl convert ../shared/trajectory-samples --out out/traj

  swe-srl dataset out/traj/trajectories.jsonl --out out/data --kind srl

  swe-srl model init-tiny --out out/tiny

  swe-srl train --config configs/srl_tiny_cpu.yaml max_steps=10

  swe-srl eval --tasks tasks.jsonl --predictions gold --run-id check
"""

app = typer.Typer(
    name="swe-srl",
    help=HELP,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

STAGE_MODULES = ["convert", "dataset", "model", "train", "score", "sandbox", "tasks", "run", "eval", "report"]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"swe-srl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Supervised Reinforcement Learning for coding agents."""


for _name in STAGE_MODULES:
    importlib.import_module(f"swe_srl.cli.{_name}").register(app)


def main() -> None:
    from swe_srl.errors import SweSrlError

    try:
        app()
    except SweSrlError as e:
        from swe_srl.cli.common import console, shown

        console.print(f"[bold red]error:[/] {shown(e)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        from swe_srl.cli.common import console

        console.print("[yellow]interrupted[/]: outputs written so far are kept; re-run to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()

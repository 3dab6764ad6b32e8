"""`swe-srl dataset`: canonical trajectories -> step-wise SRL / SFT datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from swe_srl.data.build import DatasetConfig
from swe_srl.data.prompts import PromptConfig

# Defaults come from the config models (one place); the flags name their fields in errors.
D = DatasetConfig()
P = D.prompt
PROMPT_FLAGS = {"context_steps": "--context-steps", "max_observation_chars": "--max-observation-chars",
                "max_prompt_tokens": "--max-prompt-tokens"}
DATASET_FLAGS = {"kind": "--kind", "tokenizer": "--tokenizer", "val_fraction": "--val-fraction", "seed": "--seed"}

HELP = """Canonical trajectories -> step-wise SRL / SFT datasets.

One row per expert step: the prompt (system: the think-then-one-action format
and the tools; user: the task and the last --context-steps expert rounds) and
the expert's action (srl: expert_action; sft: an assistant completion with
the expert's thought and action). The split is by trajectory, seeded.
Writes a datasets.DatasetDict to DIR (save_to_disk), DIR/<split>.parquet and
DIR/stats.json (which records the prompt settings, so `swe-srl run` asks the
trained model in the same form).

Examples:

  swe-srl dataset out/traj/trajectories.jsonl --out out/data

  swe-srl dataset out/traj/trajectories.jsonl --out out/sft --kind sft --only-submitted

  swe-srl dataset out/traj/trajectories.jsonl --out out/data --max-prompt-tokens 4096 --tokenizer out/tiny
"""


def register(app: typer.Typer) -> None:
    @app.command("dataset", help=HELP)
    def dataset_cmd(
        trajectories: Path = typer.Argument(..., metavar="TRAJECTORIES.jsonl", help="Canonical trajectories (swe-srl convert output)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
        kind: str = typer.Option(D.kind, "--kind", help="srl (prompt + expert_action) or sft (prompt + completion)."),
        context_steps: int = typer.Option(P.context_steps, "--context-steps", help="Previous expert rounds shown in the prompt."),
        max_prompt_tokens: Optional[int] = typer.Option(P.max_prompt_tokens, "--max-prompt-tokens", help="Token budget of the prompt (needs --tokenizer)."),
        tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Local tokenizer directory with a chat template (e.g. from `swe-srl model init-tiny`)."),
        only_resolved: bool = typer.Option(D.only_resolved, "--only-resolved", help="Keep only resolved trajectories."),
        only_submitted: bool = typer.Option(D.only_submitted, "--only-submitted", help="Keep only trajectories that submitted."),
        drop_format_errors: bool = typer.Option(D.drop_format_errors, "--drop-format-errors/--keep-format-errors", help="Drop steps whose observation is a format error."),
        only_canonical_tools: bool = typer.Option(D.only_canonical_tools, "--only-canonical-tools/--all-tools", help="Keep only bash / str_replace_editor / submit targets."),
        dedupe: bool = typer.Option(D.dedupe, "--dedupe/--no-dedupe", help="Keep identical (prompt, action) rows once."),
        val_fraction: float = typer.Option(D.val_fraction, "--val-fraction", help="Fraction of trajectories in the validation split."),
        seed: int = typer.Option(D.seed, "--seed", help="Seed of the train/validation split."),
        max_observation_chars: int = typer.Option(P.max_observation_chars, "--max-observation-chars", help="Cut longer observations head-and-tail."),
    ) -> None:
        import sys

        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from swe_srl.cli.common import console
        from swe_srl.data.build import build_dataset

        prompt = PromptConfig.from_dict(
            {"context_steps": context_steps, "max_observation_chars": max_observation_chars,
             "max_prompt_tokens": max_prompt_tokens}, "swe-srl dataset", names=PROMPT_FLAGS)
        cfg = DatasetConfig.from_dict(dict(
            kind=kind,
            prompt=prompt,
            tokenizer=str(tokenizer) if tokenizer else None,
            only_resolved=only_resolved,
            only_submitted=only_submitted,
            drop_format_errors=drop_format_errors,
            only_canonical_tools=only_canonical_tools,
            dedupe=dedupe,
            val_fraction=val_fraction,
            seed=seed,
        ), "swe-srl dataset", names=DATASET_FLAGS)
        command = {"argv": ["swe-srl", *sys.argv[1:]]}
        with Progress(SpinnerColumn(), TextColumn("[bold]dataset"), TextColumn("{task.fields[status]}"),
                      TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task("dataset", total=None, status="reading trajectories")

            def on_row(n: int) -> None:
                if n % 200 == 0:
                    bar.update(task, status=f"{n} rows")

            stats = build_dataset(trajectories, out, cfg, command=command, on_row=on_row)
        _print_summary(stats, out)


def _print_summary(stats: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    rows, trajs, f = stats["rows"], stats["trajectories"], stats["filters"]
    t = Table(title=f"swe-srl dataset ({stats['kind']})", show_header=False, title_justify="left", box=None)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("rows", f"{rows['total']} (train {rows['train']}, validation {rows['validation']})")
    t.add_row("trajectories", f"{trajs['total']} (train {trajs['train']}, validation {trajs['validation']}) of {f['trajectories_read']} read")
    pc = stats["prompt_chars"]
    t.add_row("prompt chars", f"p50 {pc['p50']:.0f}, p90 {pc['p90']:.0f}, max {pc['max']:.0f}")
    if stats.get("prompt_tokens"):
        pt = stats["prompt_tokens"]
        t.add_row("prompt tokens", f"p50 {pt['p50']:.0f}, p90 {pt['p90']:.0f}, max {pt['max']:.0f}")
    tools = ", ".join(f"{k} {v}" for k, v in list(stats["actions_by_tool"].items())[:6])
    t.add_row("actions by tool", tools)
    dropped = [(k, f[k]) for k in ("bad_lines", "not_resolved", "not_submitted", "no_steps", "format_error_steps",
                                   "non_canonical_tool_steps", "over_token_budget", "duplicates") if f[k]]
    t.add_row("dropped", ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dropped) or "nothing")
    t.add_row("output", f"{out} (save_to_disk), {out}/train.parquet, {out}/validation.parquet, {out}/stats.json")
    Console().print(t)

"""`swe-srl score`: greedy responses of a model to a dataset's SRL prompts, scored step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Score a model on a dataset's SRL prompts (greedy, one response per step).

Each response gets the SRL reward: -1 when it is not <think>...</think> plus
exactly one action of an offered tool (or the expert's), else the similarity
of its action to the expert's. FILE.json holds samples, format_valid_rate,
mean_similarity (format failures count 0), mean_reward, exact_match_rate,
tool_match_rate and same_tool_similarity (answers calling another tool than
the expert's count 0), by_tool, and every response.
Generation uses vLLM when it is installed (all prompts in one engine call),
else transformers; --model openai:URL#MODEL scores a served model instead (for
example a `vllm serve` endpoint with LoRA modules: one engine for many models). Re-running with unchanged inputs is a no-op (--force redoes it).

Examples:

  swe-srl score --model ~/.cache/swe-srl/models/smollm2-135m-instruct --dataset out/data/srl --out runs/scores/base.json

  swe-srl score --model runs/srl/adapter --dataset out/data/srl --max-samples 50 --out runs/scores/srl.json

  swe-srl score --model out/tiny --dataset out/data/srl --split all --backend hf --max-new-tokens 64 --out score.json

  swe-srl score --model "openai:http://127.0.0.1:8000/v1#sft" --dataset out/data/srl --out runs/scores/sft.json
"""


def register(app: typer.Typer) -> None:
    @app.command("score", help=HELP)
    def score(
        model: str = typer.Option(..., "--model", help="A model folder, a LoRA adapter folder (its base is loaded), "
                                                      "or openai:URL#MODEL, a model an OpenAI-compatible server serves."),
        dataset: Path = typer.Option(..., "--dataset", help="A `swe-srl dataset` output folder (SRL or SFT rows)."),
        out: Path = typer.Option(..., "--out", help="The score file to write (JSON)."),
        adapter: Optional[Path] = typer.Option(None, "--adapter", help="A LoRA adapter to apply on --model."),
        split: str = typer.Option("validation", "--split", help="validation, train or all."),
        max_samples: Optional[int] = typer.Option(None, "--max-samples", help="Score the first N rows only."),
        max_new_tokens: int = typer.Option(512, "--max-new-tokens", help="Response budget (a think block plus the action)."),
        backend: str = typer.Option("auto", "--backend", help="auto (vLLM when installed), vllm or hf."),
        batch_size: int = typer.Option(8, "--batch-size", help="Prompts per generate call with the hf backend; "
                                                              "requests at once to a served model."),
        label: Optional[str] = typer.Option(None, "--label", help="Name in tables and the report (default: the file or run name)."),
        force: bool = typer.Option(False, "--force", help="Score again even when FILE.json is up to date."),
    ) -> None:
        from rich.console import Console
        from rich.table import Table

        from swe_srl.cli.common import console, progress, summary
        from swe_srl.errors import SweSrlError
        from swe_srl.io import read_json, write_json
        from swe_srl.train.score import pick_backend, score_inputs, score_model

        if out.suffix.lower() != ".json":
            raise typer.BadParameter(f"{out}: the score file must end in .json", param_hint="--out")
        if label is None and not out.stem.lower().startswith("score"):
            label = out.stem  # runs/demo/scores/sft.json -> sft
        inputs = score_inputs(model=model, adapter=adapter, dataset=dataset, split=split, max_samples=max_samples,
                              max_new_tokens=max_new_tokens, backend=pick_backend(backend))
        result = None
        if out.is_file() and not force:
            try:
                old = read_json(out)
            except SweSrlError:
                old = None  # unreadable: score again and replace it
            if isinstance(old, dict) and old.get("inputs") == inputs and (label is None or old.get("label") == label):
                result = old
                console.print(f"{out}: up to date (same model, adapter, dataset and settings); --force scores again")
        if result is None:
            with progress() as bar:
                task = bar.add_task("scoring", total=None, status=f"{inputs['backend']}")

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = score_model(model=model, adapter=adapter, dataset=dataset, split=split, max_samples=max_samples,
                                     max_new_tokens=max_new_tokens, backend=backend, batch_size=batch_size, label=label,
                                     progress=advance)
                bar.update(task, completed=result["samples"], total=result["samples"])
            write_json(out, result)

        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.1f}%"

        def num(v: float | None) -> str:
            return "-" if v is None else f"{v:.4f}"

        rows = [("model", result["label"]), ("base / adapter", f"{result['base_model']} / {result['adapter'] or '-'}"),
                ("dataset", f"{result['dataset']} ({result['split']})"), ("samples", result["samples"]),
                ("format valid", pct(result["format_valid_rate"])), ("mean similarity", num(result["mean_similarity"])),
                ("mean reward", num(result["mean_reward"])), ("exact match", pct(result["exact_match_rate"])),
                ("expert's tool called", pct(result.get("tool_match_rate"))),
                ("same-tool similarity", num(result.get("same_tool_similarity"))),
                ("finish reasons", ", ".join(f"{k} {v}" for k, v in sorted(result["finish_reasons"].items()))),
                ("backend", f"{result['backend']}, greedy, {result['max_new_tokens']} new tokens max"),
                ("generation", f"{result['generate_s']:.1f} s, {result['tokens_per_s'] or 0:.1f} tokens/s"),
                ("wall time", f"{result['wall_s']:.1f} s"), ("written", out)]
        summary("swe-srl score", rows)
        table = Table(title="by expert tool", title_justify="left")
        for col in ("tool", "samples", "format valid", "mean similarity", "exact match"):
            table.add_column(col, justify="left" if col == "tool" else "right")
        for tool, t in result["by_tool"].items():
            table.add_row(tool, str(t["samples"]), pct(t["format_valid_rate"]), num(t["mean_similarity"]), pct(t["exact_match_rate"]))
        Console().print(table)

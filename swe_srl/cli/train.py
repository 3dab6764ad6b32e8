"""`swe-srl train`: SRL (GRPO + dynamic sampling) or the SFT baseline, from a YAML config."""

from __future__ import annotations

from typing import List, Optional

import typer

EXAMPLES = """Train with SRL (GRPO + dynamic sampling) or SFT from a YAML config.

Any GRPOConfig / SFTConfig field, and the nested srl.* / lora.* / validation.*
keys, can be overridden with KEY=VALUE arguments.

Examples:

  swe-srl train --config configs/srl_tiny_cpu.yaml max_steps=10

  swe-srl train --config configs/sft_tiny_cpu.yaml output_dir=runs/sft lora=null

  swe-srl train --config configs/srl_tiny_cpu.yaml --resume

  accelerate launch --config_file configs/accelerate/ddp.yaml -m swe_srl train --config configs/srl_qwen7b_gpu.yaml

Writes OUTPUT_DIR/{checkpoints/, adapter/ or model/, metrics.jsonl, plots/*.png, config.yaml, summary.json}.
"""


def register(app: typer.Typer) -> None:
    @app.command("train", help=EXAMPLES, context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
    def _train(
        ctx: typer.Context,
        config: str = typer.Option(..., "--config", "-c", help="Training config (YAML)."),
        overrides: Optional[List[str]] = typer.Argument(None, help="KEY=VALUE overrides (dotted keys for srl./lora./validation.)."),
        resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUTPUT_DIR/checkpoints."),
    ) -> None:
        from swe_srl.cli.common import console, summary
        from swe_srl.train.config import load_config
        from swe_srl.train.runner import train

        import signal
        import sys

        # SIGTERM ends the run like Ctrl-C: `finally` blocks run, so the vLLM engine's processes go too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        items = list(overrides or []) + list(ctx.args)
        cfg = load_config(config, items)
        result = train(cfg, resume=resume, log=lambda message: console.print(message, highlight=False, soft_wrap=True))
        if not result:  # not the main process
            return
        rows = [
            ("method", result["method"]),
            ("steps", result["global_step"]),
            ("resumed from", result["resumed_from"] or "-"),
            ("train rows", result["train_rows"]),
            ("wall time", f"{result['wall_s']:.1f} s"),
            ("saved", result["final_dir"]),
        ]
        last = result.get("last_logged", {})
        for key in ("reward", "reward_std", "srl/format_failure_rate", "loss"):
            if key in last:
                rows.append((key, f"{last[key]:.4f}"))
        if result.get("validation"):
            v = result["validation"][-1]
            rows.append(("validation similarity", f"{v['validation/similarity']:.4f} (step {v['step']})"))
        ds = result.get("dynamic_sampling")
        if ds:
            rows.append(("dynamic sampling", f"dropped {ds['groups_dropped_total']} groups, refilled {ds['groups_refilled']}, "
                                             f"unfilled {ds['groups_unfilled']} in {ds['generation_batches']} batches"))
        rows.append(("plots", ", ".join(p.rsplit("/", 1)[-1] for p in result["plots"]) or "-"))
        summary("swe-srl train", rows)

"""Benchmark: time per GRPO step of the tiny model on CPU, split into
generation, reward and optimisation.

Design: a subclass of the SRL trainer times TRL's ``_generate`` (generation:
tokenise, sample, decode), ``_calculate_rewards`` (the SRL reward on every
rollout) and the whole ``training_step``; optimisation is the step time minus
the two (old/ref log-probs, forward, backward, optimizer). The first step is
warm-up and not counted. Dynamic sampling is off by default so every step is
one generation round (``--dynamic-sampling`` turns it on).

    python scripts/bench/train_step.py [--steps 4] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="measured steps (after one warm-up step)")
    ap.add_argument("--model", help="a model folder (default: build the tiny model)")
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--prompts-per-step", type=int, default=2)
    ap.add_argument("--max-completion-length", type=int, default=64)
    ap.add_argument("--dynamic-sampling", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads (1: OpenMP spin-waiting makes 2+ threads far slower on a busy 2-core machine)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    from swe_srl.io import write_json
    from swe_srl.train.config import config_from_dict
    from swe_srl.train.grpo import SRLGRPOTrainer
    from swe_srl.train.runner import run_training
    from swe_srl.train.toy import save_toy_dataset, toy_rows

    timings: dict[str, list[float]] = {"generate": [], "reward": [], "step": []}

    class Timed(SRLGRPOTrainer):
        def _generate(self, prompts):
            t = time.perf_counter()
            try:
                return super()._generate(prompts)
            finally:
                self._cur["generate"] += time.perf_counter() - t

        def _calculate_rewards(self, *a, **k):
            t = time.perf_counter()
            try:
                return super()._calculate_rewards(*a, **k)
            finally:
                self._cur["reward"] += time.perf_counter() - t

        def training_step(self, *a, **k):
            self._cur = {"generate": 0.0, "reward": 0.0}
            t = time.perf_counter()
            out = super().training_step(*a, **k)
            timings["step"].append(time.perf_counter() - t)
            timings["generate"].append(self._cur["generate"])
            timings["reward"].append(self._cur["reward"])
            return out

    import swe_srl.train.runner as runner_mod

    with tempfile.TemporaryDirectory(prefix="swe-srl-bench-") as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from swe_srl.models.tiny import build_tiny_model

            model = str(build_tiny_model(tmp / "tiny"))
        save_toy_dataset(tmp / "data", toy_rows(32), toy_rows(2, id_prefix="val"))
        G = args.num_generations
        cfg = config_from_dict({
            "method": "srl", "model": model, "dataset": str(tmp / "data"), "output_dir": str(tmp / "run"),
            "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear"},
            "srl": {"epsilon": 1e-6 if args.dynamic_sampling else None},
            "validation": {"every_steps": 0},
            "num_generations": G, "per_device_train_batch_size": G * args.prompts_per_step,
            "max_completion_length": args.max_completion_length, "max_steps": args.steps + 1,
            "save_strategy": "no", "learning_rate": 1e-4, "use_cpu": True, "seed": 0, "disable_tqdm": True,
        })
        original = runner_mod.SRLGRPOTrainer if hasattr(runner_mod, "SRLGRPOTrainer") else None
        import swe_srl.train.grpo as grpo_mod

        grpo_mod_cls = grpo_mod.SRLGRPOTrainer
        grpo_mod.SRLGRPOTrainer = Timed
        try:
            run_training(cfg)
        finally:
            grpo_mod.SRLGRPOTrainer = grpo_mod_cls
            if original is not None:
                runner_mod.SRLGRPOTrainer = original

    n = len(timings["step"])
    measured = {k: v[1:] if n > 1 else v for k, v in timings.items()}

    def mean(xs):
        return sum(xs) / len(xs) if xs else float("nan")

    gen, rew, step = mean(measured["generate"]), mean(measured["reward"]), mean(measured["step"])
    result = {
        "generate_s": round(gen, 4),
        "reward_s": round(rew, 5),
        "optimize_s": round(step - gen - rew, 4),
        "step_s": round(step, 4),
        "steps_measured": len(measured["step"]),
        "rollouts_per_step": G * args.prompts_per_step,
        "max_completion_length": args.max_completion_length,
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
    }
    print(f"{'phase':<12}{'seconds/step':>14}")
    for k in ("generate_s", "reward_s", "optimize_s", "step_s"):
        print(f"{k:<12}{result[k]:>14.4f}")
    print(f"({result['steps_measured']} steps after warm-up, {result['rollouts_per_step']} rollouts of <= "
          f"{args.max_completion_length} tokens per step)")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":
    main()

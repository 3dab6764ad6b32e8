"""Benchmark: vLLM generation throughput on CPU with the worker bound two ways, same model, same
prompts, one run: vLLM's ``auto`` binding (one core per NUMA node for the worker, one core kept
for the scheduler) and every usable core (what the project sets on small machines:
:func:`swe_srl.policy.vllm.cpu_threads_bind`).

Design: SmolLM2-135M-Instruct from the user cache (imported when missing); the first
``--prompts`` held-out SRL prompts of the dataset ``scripts/bench/rollout.py`` builds (or
``--dataset``); the project's ``VLLMPolicy.generate_batch`` (what ``swe-srl score`` and
validation use), every prompt in one engine call, greedy, ``--new-tokens`` new tokens each with
no stop strings (both ways write the same tokens). vLLM reads the binding when its engine
starts, so each way runs in a fresh process, alternately, ``--rounds`` times (the best round of
each way is reported: these machines are noisy). Engine start-up is reported apart.

    python scripts/bench/serve_bind.py [--prompts 12] [--new-tokens 256] [--rounds 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))


def measure_one(model: str, dataset: str, prompts: int, new_tokens: int) -> dict:
    """One way, in this process (the binding is in the environment already): serve_lora's measurement."""
    from serve_lora import measure

    from swe_srl.train.score import load_score_rows

    conversations = [list(r["prompt"]) for r in load_score_rows(Path(dataset), "validation", prompts)]
    return {"prompts": len(conversations), **measure(os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"), Path(model),
                                                     conversations, new_tokens)}


def run_way(bind: str, model: Path, dataset: Path, args: argparse.Namespace) -> dict:
    env = {**os.environ, "VLLM_CPU_OMP_THREADS_BIND": bind}
    proc = subprocess.run([sys.executable, __file__, "--one", "--model", str(model), "--dataset", str(dataset),
                           "--prompts", str(args.prompts), "--new-tokens", str(args.new_tokens)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bind={bind}: the measurement failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3600")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: SmolLM2-135M-Instruct in the user cache)")
    ap.add_argument("--dataset", help="an SRL dataset folder (default: built from the samples)")
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # one way, in this process
    args = ap.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.model, args.dataset, args.prompts, args.new_tokens)))
        return

    from rollout import build_dataset, resolve_model

    from swe_srl.io import write_json
    from swe_srl.policy.vllm import cpu_threads_bind

    os.environ.pop("VLLM_CPU_OMP_THREADS_BIND", None)
    cores = sorted(os.sched_getaffinity(0))
    every = ",".join(map(str, cores))
    ours = cpu_threads_bind() or "auto"
    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory(prefix="bench-serve-bind-") as tmp:
        dataset = Path(args.dataset) if args.dataset else build_dataset(model, Path(tmp))
        rounds: dict[str, list[dict]] = {"auto": [], every: []}
        for _ in range(max(1, args.rounds)):
            for bind in rounds:
                rounds[bind].append(run_way(bind, model, dataset, args))
    best = {bind: max(rs, key=lambda r: r["tokens_per_s"]) for bind, rs in rounds.items()}
    ratio = best[every]["tokens_per_s"] / best["auto"]["tokens_per_s"]
    print(f"\n{'binding':<22}{'tokens':>8}{'seconds':>10}{'tokens/s':>10}{'load s':>8}   (best of {args.rounds})")
    for bind, r in best.items():
        label = "auto (vLLM's)" if bind == "auto" else f"every core ({bind})"
        print(f"{label:<22}{r['tokens']:>8}{r['seconds']:>10.1f}{r['tokens_per_s']:>10.1f}{r['load_s']:>8.1f}")
    print(f"every core / auto: {ratio:.2f}x on {best['auto']['prompts']} prompts x {args.new_tokens} new tokens, "
          f"{len(cores)} cores; the project uses: {ours}")
    if args.json:
        write_json(args.json, {"rounds": rounds, "every_over_auto": round(ratio, 2), "cores": len(cores),
                               "project_binding": ours, "prompts": best["auto"]["prompts"], "new_tokens": args.new_tokens})


if __name__ == "__main__":  # vLLM starts worker processes that re-import this file
    main()

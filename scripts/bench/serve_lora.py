"""Benchmark: vLLM generation throughput of a LoRA-trained model served two ways, same prompts,
one run: the base model with the adapter as a LoRA request, and the adapter merged into the
weights (``swe-srl model merge``). The demo serves merged weights because of this figure.

Design: the model is SmolLM2-135M-Instruct from the user cache (imported when missing); the
adapter is ``--adapter`` or a rank ``--rank`` all-linear LoRA adapter with random B matrices
(throughput does not depend on the values); the prompts are the first ``--prompts`` held-out
SRL prompts of the dataset ``scripts/bench/rollout.py`` builds (or ``--dataset``). Each way
runs through the project's ``VLLMPolicy.generate_batch`` (what ``swe-srl score`` uses), every
prompt in one engine call, greedy, up to ``--new-tokens`` new tokens each with no stop strings
(the two ways compute the same function, so they write nearly the same tokens; the figure is
tokens per second either way). Engine start-up and merging are reported apart,
not timed in tokens/s; the base model without any adapter is measured too, as the ceiling.

    python scripts/bench/serve_lora.py [--prompts 12] [--new-tokens 256] [--rank 16] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts" / "bench"))


def measure(label: str, model: Path, conversations, new_tokens: int, adapter: Path | None = None) -> dict:
    from swe_srl.policy.base import SamplingConfig
    from swe_srl.policy.vllm import VLLMPolicy

    sampling = SamplingConfig(temperature=0.0, max_tokens=new_tokens, stop=())
    t = time.perf_counter()
    policy = VLLMPolicy(model, adapter=adapter, sampling=sampling, max_model_len=4096)
    load_s = time.perf_counter() - t
    try:
        policy.generate_batch(conversations[:1], max_tokens=8)  # warm-up
        t = time.perf_counter()
        completions = policy.generate_batch(conversations)
        seconds = time.perf_counter() - t
    finally:
        policy.close()
        del policy
        gc.collect()
    tokens = sum(c.completion_tokens for c in completions)
    return {"way": label, "tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 2),
            "load_s": round(load_s, 1)}


def main() -> None:
    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3600")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: SmolLM2-135M-Instruct in the user cache)")
    ap.add_argument("--adapter", help="a LoRA adapter of that model (default: a random one of --rank)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--dataset", help="an SRL dataset folder (default: built from the samples)")
    ap.add_argument("--prompts", type=int, default=12)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    from rollout import build_dataset, resolve_model

    from swe_srl.io import write_json
    from swe_srl.models.tiny import random_lora_adapter
    from swe_srl.train.merge import merge_adapter
    from swe_srl.train.score import load_score_rows

    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory(prefix="bench-serve-lora-") as tmp:
        work = Path(tmp)
        dataset = Path(args.dataset) if args.dataset else build_dataset(model, work)
        rows = load_score_rows(dataset, "validation", args.prompts)
        if len(rows) < args.prompts:
            sys.exit(f"{dataset}: only {len(rows)} validation rows")
        conversations = [list(r["prompt"]) for r in rows]
        adapter = Path(args.adapter) if args.adapter else work / "adapter"
        if not args.adapter:
            random_lora_adapter(model, adapter, rank=args.rank, scale=0.01, seed=0)
        t = time.perf_counter()
        merged = merge_adapter(adapter, work / "merged").out
        merge_s = time.perf_counter() - t
        results = [measure("base (no adapter)", model, conversations, args.new_tokens),
                   measure("base + LoRA request", model, conversations, args.new_tokens, adapter=adapter),
                   measure("merged weights", merged, conversations, args.new_tokens)]
    by = {r["way"]: r for r in results}
    ratio = by["merged weights"]["tokens_per_s"] / by["base + LoRA request"]["tokens_per_s"]
    print(f"\n{'way':<22}{'tokens':>8}{'seconds':>10}{'tokens/s':>10}{'load s':>8}")
    for r in results:
        print(f"{r['way']:<22}{r['tokens']:>8}{r['seconds']:>10.1f}{r['tokens_per_s']:>10.1f}{r['load_s']:>8.1f}")
    print(f"merged / LoRA: {ratio:.2f}x on {len(conversations)} prompts x {args.new_tokens} new tokens "
          f"(merging took {merge_s:.1f} s)")
    if args.json:
        write_json(args.json, {"results": results, "merged_over_lora": round(ratio, 2), "merge_s": round(merge_s, 1),
                               "prompts": len(conversations), "new_tokens": args.new_tokens, "cpus": os.cpu_count()})


if __name__ == "__main__":  # vLLM starts worker processes that re-import this file
    main()

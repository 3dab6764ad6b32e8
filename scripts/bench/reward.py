"""Benchmark: SRL reward throughput against the standard library's difflib.

Design: real expert actions (the SWE-smith XML sample and the mini-swe-agent
runs in ../shared/trajectory-samples, canonicalised with the project's own
parsing: swe_srl.trajectories.render.find_function_calls + the reward's
canonical action mapping); if the samples are absent, random action-shaped
strings. Pairs are laid out like a GRPO batch (G rollouts per expert action;
each rollout is another real action, half of them a small edit of the
expert), so the exact backend's per-expert matcher reuse is measured as
used in training. The baseline (difflib.SequenceMatcher(..., autojunk=False)
.ratio()) runs on the same pairs in the same process; `exact` is true only
when every value (of the default backend and of cydifflib) is bit-identical
to difflib's.

    python scripts/bench/reward.py [--pairs 2000] [--json PATH]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def real_actions(samples: Path) -> list[str]:
    from swe_srl.rewards.format import _canonical_action
    from swe_srl.trajectories.render import find_function_calls, render_action

    out: list[str] = []
    xml = samples / "chat-messages" / "swe-smith-ft-xml__ft_xml_example.jsonl"
    if xml.exists():
        for line in xml.read_text().splitlines():
            for m in json.loads(line)["messages"]:
                if m["role"] == "assistant":
                    out += [_canonical_action(n, p, "").render() for n, p, _ in find_function_calls(m["content"])]
    for path in sorted((samples / "mini-swe-agent").glob("*.traj.json")):
        data = json.loads(path.read_text())
        for m in (data.get("messages", []) if isinstance(data, dict) else []):
            if m.get("role") == "assistant":
                out += [render_action("bash", {"command": c}) for c in re.findall(r"```bash\n(.*?)```", m["content"], re.S)]
    return out


def random_actions(n: int, rng: random.Random) -> list[str]:
    from swe_srl.trajectories.render import render_action

    words = ["ls", "-la", "/testbed", "grep", "-rn", "def", "python", "pytest", "-q", "cat", "sed", "-n", "'1,40p'", "|", "head"]
    return [render_action("bash", {"command": " ".join(rng.choice(words) for _ in range(rng.randint(2, 40)))}) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--group", type=int, default=8, help="rollouts per expert action")
    ap.add_argument("--samples", default=os.environ.get("SWE_SRL_SHARED", str(ROOT.parent / "shared")) + "/trajectory-samples")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    from swe_srl.rewards import similarity as sim
    from swe_srl.rewards.reward import srl_reward

    rng = random.Random(0)
    actions = real_actions(Path(args.samples)) if Path(args.samples).is_dir() else []
    source = "real" if len(actions) >= 50 else "random"
    if source == "random":
        actions = random_actions(300, rng)
    experts, preds = [], []
    while len(preds) < args.pairs:
        e = rng.choice(actions)
        for _ in range(args.group):
            if rng.random() < 0.5:
                k = rng.randint(0, len(e))
                p = e[:k] + rng.choice(["x", "", " -q", "\n"]) + e[k + rng.randint(0, 5):]
            else:
                p = rng.choice(actions)
            experts.append(e)
            preds.append(p)
    experts, preds = experts[:args.pairs], preds[:args.pairs]
    completions = [f"<think>next</think>\n{p}" for p in preds]

    t = time.perf_counter()
    want = [difflib.SequenceMatcher(None, p, e, autojunk=False).ratio() for p, e in zip(preds, experts)]
    t_ref = time.perf_counter() - t
    t = time.perf_counter()
    got = sim.batch_similarity(preds, experts)
    t_fast = time.perf_counter() - t
    exact = got == want
    t = time.perf_counter()
    srl_reward(completions, experts)
    t_reward = time.perf_counter() - t
    t = time.perf_counter()
    sim.batch_similarity(preds, experts, "indel")
    t_indel = time.perf_counter() - t
    t_cy = None
    if sim.backend() != "cydifflib":
        try:
            previous = sim.use_backend("cydifflib")
        except ImportError:
            previous = None
        if previous is not None:
            t = time.perf_counter()
            exact_cy = sim.batch_similarity(preds, experts) == want
            t_cy = time.perf_counter() - t
            sim.use_backend(previous)
            exact = exact and exact_cy

    n = len(preds)
    result = {
        "pairs_per_s": round(n / t_fast, 1),
        "difflib_pairs_per_s": round(n / t_ref, 1),
        "speedup": round(t_ref / t_fast, 2),
        "exact": exact,
        "reward_pairs_per_s": round(n / t_reward, 1),  # parse + canonicalise + similarity
        "indel_pairs_per_s": round(n / t_indel, 1),
        "cydifflib_pairs_per_s": round(n / t_cy, 1) if t_cy else None,
        "backend": sim.backend(),
        "pairs": n,
        "source": source,
        "mean_chars": round(sum(map(len, experts)) / n, 1),
    }
    print(f"{n} pairs ({source} expert actions, {result['mean_chars']} chars on average, backend {result['backend']})")
    print(f"{'what':<28}{'pairs/s':>12}")
    print(f"{'difflib (stdlib)':<28}{result['difflib_pairs_per_s']:>12.0f}")
    print(f"{'action_similarity (exact)':<28}{result['pairs_per_s']:>12.0f}   x{result['speedup']:.1f}, exact={exact}")
    if t_cy:
        print(f"{'cydifflib (exact)':<28}{result['cydifflib_pairs_per_s']:>12.0f}")
    print(f"{'srl_reward (parse + exact)':<28}{result['reward_pairs_per_s']:>12.0f}")
    print(f"{'indel (not identical)':<28}{result['indel_pairs_per_s']:>12.0f}")
    if args.json:
        from swe_srl.io import write_json

        write_json(args.json, result)
    if not exact:
        sys.exit(1)


if __name__ == "__main__":
    main()

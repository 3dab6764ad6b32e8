#!/usr/bin/env python
"""Record the project's own expert trajectories on tasks it synthesized.

Design choices:
- Tasks come from real PyPI projects (pinned sdists) through the task
  synthesizer, so the recordings are made against real code and real tests.
- The "expert" is a scripted demonstrator that knows the task's fix (its gold
  patch) and works the way the expert logs do: it reproduces the failure with
  the repository's tests, views the code around the bug, repairs it with
  ``str_replace_editor``, reruns the tests and submits. It runs through the
  real agent loop in real Docker sandboxes, so every observation is what the
  environment actually answered, and the output is canonical trajectories
  that `swe-srl convert` and `swe-srl dataset` take as they are.
- Every recording is graded by the harness before it is kept: only resolved
  ones are written (outcome "resolved").

Usage:
    .venv/bin/python scripts/record_examples.py --out trajectories/examples/pypi.jsonl \
        --pypi boltons==24.0.0 --pypi more-itertools==10.5.0 --max-tasks 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any


def _hunk_edits(patch: str) -> list[tuple[str, str, str, int, int]]:
    """(path, old_text, new_text, first_line, last_line) per hunk of a unified diff."""
    from unidiff import PatchSet

    edits = []
    for pf in PatchSet(patch):
        for hunk in pf:
            old = "".join(line.value for line in hunk if not line.is_added)
            new = "".join(line.value for line in hunk if not line.is_removed)
            edits.append((pf.path, old, new, hunk.source_start, hunk.source_start + max(hunk.source_length - 1, 0)))
    return edits


class PatchExpert:
    """A scripted demonstrator: reproduce, inspect, fix (from the gold patch), verify, submit."""

    def for_task(self, task: dict[str, Any]) -> "_Episode":
        return _Episode(task)

    def propose(self, messages: list[dict[str, Any]], n: int = 1) -> list[str]:  # pragma: no cover
        raise RuntimeError("PatchExpert is task-aware: use for_task(task)")


class _Episode:
    def __init__(self, task: dict[str, Any]):
        from swe_srl.trajectories.render import render_action

        fail = list(task.get("FAIL_TO_PASS") or [])
        tests = " ".join(f"'{t}'" for t in fail[:3])
        run_tests = f"cd /testbed && python -m pytest -q -p no:cacheprovider {tests} 2>&1 | tail -n 25"
        steps: list[tuple[str, str, dict[str, Any]]] = [
            ("Let me first reproduce the failure the issue describes by running the failing tests.", "bash",
             {"command": run_tests}),
        ]
        for path, old, new, first, last in _hunk_edits(task["patch"]):
            abspath = f"/testbed/{path}"
            steps.append((f"The traceback points into {path}. Let me read the code around line {first}.",
                          "str_replace_editor", {"command": "view", "path": abspath,
                                                 "view_range": [max(1, first - 5), last + 5]}))
            steps.append(("This is where the behaviour goes wrong; I'll correct the logic here.",
                          "str_replace_editor", {"command": "str_replace", "path": abspath,
                                                 "old_str": old, "new_str": new}))
        steps.append(("Now let me rerun the failing tests to confirm the fix.", "bash", {"command": run_tests}))
        steps.append(("The tests pass now, so I'll submit the change.", "submit", {}))
        self.responses = [f"<think>{thought}</think>\n{render_action(tool, args)}" for thought, tool, args in steps]
        self.calls = 0

    def propose(self, messages: list[dict[str, Any]], n: int = 1) -> list[str]:
        text = self.responses[min(self.calls, len(self.responses) - 1)]
        self.calls += 1
        return [text] * n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="canonical trajectories JSONL to write")
    ap.add_argument("--tasks-out", type=Path, help="also write the tasks used (JSONL)")
    ap.add_argument("--pypi", action="append", default=[], help="NAME==VERSION (repeatable)")
    ap.add_argument("--max-tasks", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from swe_srl.agent.runner import RunConfig, run_tasks
    from swe_srl.io import iter_jsonl, write_jsonl
    from swe_srl.tasks.synthesize import synthesize_pypi_cached

    reqs = args.pypi or ["boltons==24.0.0", "more-itertools==10.5.0"]
    print(f"[record] synthesizing up to {args.max_tasks} tasks from each of {', '.join(reqs)}", flush=True)
    tasks = synthesize_pypi_cached(reqs, max_tasks=args.max_tasks, seed=args.seed,
                                   log=lambda m: print(f"  {m}", flush=True))
    print(f"[record] {len(tasks)} tasks; recording the scripted expert in Docker sandboxes", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        summary = run_tasks(tasks, PatchExpert(), run_dir, config=RunConfig(workers=args.workers),
                            policy_spec="scripted:patch-expert")
        trajs = {r["instance_id"]: r for _, r in iter_jsonl(run_dir / "trajectories.jsonl")}
        preds = [r for _, r in iter_jsonl(run_dir / "predictions.jsonl")]
        verdicts = grade(tasks, preds, Path(tmp) / "eval")
    kept = []
    for task in tasks:
        iid = task["instance_id"]
        traj = trajs.get(iid)
        if traj is None or not verdicts.get(iid):
            print(f"[record] {iid}: not resolved, not kept", flush=True)
            continue
        traj["outcome"] = "resolved"
        traj["meta"] = {k: v for k, v in traj.get("meta", {}).items() if k not in ("run_name",)}
        traj["meta"]["recorded_by"] = "scripts/record_examples.py (PatchExpert)"
        kept.append(traj)
    write_jsonl(args.out, kept)
    if args.tasks_out:
        write_jsonl(args.tasks_out, tasks)
    print(f"[record] submitted {summary['submitted']}/{len(tasks)}, resolved and kept {len(kept)} -> {args.out}")
    return 0 if kept else 1


def grade(tasks: list[dict[str, Any]], preds: list[dict[str, Any]], out: Path) -> dict[str, bool]:
    """Grade the recordings' patches with the harness (the same code as `swe-srl eval`)."""
    import subprocess

    from swe_srl.io import read_json, write_jsonl

    tasks_file, preds_file = out.parent / "tasks.jsonl", out.parent / "preds.jsonl"
    write_jsonl(tasks_file, tasks)
    write_jsonl(preds_file, preds)
    subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tasks_file), "--predictions",
                    str(preds_file), "--run-id", "record-examples", "--out", str(out), "--workers", "2"],
                   check=False)
    report = read_json(out / "report.json")
    return {iid: True for iid in report.get("resolved_ids", [])}


if __name__ == "__main__":
    sys.exit(main())

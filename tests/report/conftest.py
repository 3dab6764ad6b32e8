"""A fake-but-realistic run directory: the files each stage writes, in their
schemas (input data for the renderer). Values are generated, not recorded."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

EVIL = "<script>alert('x')</script>&"

SRL_IDS = ["acme__widgets-1", "acme__widgets-2", "acme__widgets-3", "acme__widgets-4"]


def _png(color: str = "#d62728") -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 2), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1, 2, 3], [0.1, 0.4, 0.35, 0.6], color=color, linewidth=3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _json(path: Path, obj) -> None:
    _write(path, json.dumps(obj, indent=2))


def _jsonl(path: Path, rows, extra: str = "") -> None:
    _write(path, "".join(json.dumps(r) + "\n" for r in rows) + extra)


def _patch(iid: str, n: int) -> str:
    lines = "".join(f"+    x{i} = {i}\n" for i in range(n))
    return (
        f"diff --git a/src/{iid}.py b/src/{iid}.py\n--- a/src/{iid}.py\n+++ b/src/{iid}.py\n"
        f"@@ -1,2 +1,{2 + n} @@\n def f():\n-    return 0\n{lines}+    return 1\n"
    )


def _eval_run(root: Path, run: str, *, resolved: list[str], unresolved: list[str], empty: list[str],
              error: list[str], extra: dict) -> None:
    ids = resolved + unresolved + empty + error
    _json(root / "report.json", {
        "total_instances": len(ids),
        "submitted_instances": len(ids),
        "completed_instances": len(resolved) + len(unresolved),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "empty_patch_instances": len(empty),
        "error_instances": len(error),
        "completed_ids": sorted(resolved + unresolved),
        "incomplete_ids": [],
        "empty_patch_ids": empty,
        "submitted_ids": ids,
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "error_ids": error,
        "run_id": run,
        "schema_version": 2,
        "failure_reasons": {iid: "infra_error" for iid in error},
        "format": "swe-srl/eval-run/1",
        **extra,
    })
    for iid in ids:
        d = root / iid
        ok = iid in resolved
        verdict = {
            "patch_is_None": False,
            "patch_exists": iid not in empty,
            "patch_successfully_applied": iid not in empty and iid not in error,
            "resolved": ok,
            "resolution": "RESOLVED_FULL" if ok else "RESOLVED_NO",
            "status": "infra_error" if iid in error else ("resolved" if ok else "unresolved"),
        }
        if iid in error:
            verdict["error"] = f"image build failed {EVIL}"
        if iid not in empty and iid not in error:
            verdict["tests_status"] = {
                "FAIL_TO_PASS": {"success": ["tests/test_a.py::test_fix"] if ok else [],
                                 "failure": [] if ok else ["tests/test_a.py::test_fix"]},
                "PASS_TO_PASS": {"success": ["tests/test_a.py::test_old", "tests/test_b.py::test_keep"], "failure": []},
            }
        _json(d / "report.json", {iid: verdict})
        if iid not in empty:
            _write(d / "patch.diff", _patch(iid, 2))
        if iid not in error:
            _write(d / "test_output.txt", f"+ pytest tests/test_a.py\n{'1 passed' if ok else '1 failed'} {EVIL}\n")
        _write(d / "eval.sh", "#!/bin/bash\npytest tests/test_a.py\n")


def build_run_dir(root: Path, *, with_training: bool = True) -> Path:
    """Write a run directory as the demo would lay it out (the layout is only one
    possibility; the renderer discovers it)."""
    # swe-srl convert
    _json(root / "traj" / "report.json", {
        "format": "swe-srl.convert-report/v1",
        "version": "0.1.0",
        "command": {"argv": ["swe-srl", "convert", "trajectories/", "--out", "traj"], "format": "auto"},
        "files": {"total": 9, "parsed": 8, "skipped": 1},
        "bytes": 1_234_567,
        "trajectories": 12,
        "steps": 187,
        "records_skipped": 2,
        "formats": {"swe-agent": {"files": 4, "trajectories": 6, "steps": 101},
                    "openhands": {"files": 4, "trajectories": 6, "steps": 86}},
        "actions_by_tool": {"bash": 90, "str_replace_editor": 85, "submit": 12},
        "skipped": [f"samples/broken.json:3: not an agent log {EVIL}"],
        "skipped_total": 1,
    })
    _write(root / "traj" / "trajectories.jsonl", "{}\n")
    # swe-srl dataset (srl)
    ds = root / "data" / "srl"
    _json(ds / "stats.json", {
        "format": "swe-srl.dataset/v1",
        "version": "0.1.0",
        "command": {"argv": ["swe-srl", "dataset", "traj/trajectories.jsonl", "--out", "data/srl"]},
        "config": {"kind": "srl", "context_steps": 2, "max_observation_chars": 4000, "val_fraction": 0.1, "seed": 0},
        "source": "traj/trajectories.jsonl",
        "kind": "srl",
        "rows": {"total": 177, "train": 160, "validation": 17},
        "trajectories": {"total": 12, "train": 11, "validation": 1},
        "prompt_chars": {"min": 900.0, "p50": 3100.0, "p90": 6400.0, "p95": 7000.0, "p99": 7900.0, "max": 8100.0, "mean": 3500.2},
        "prompt_tokens": None,
        "actions_by_tool": {"str_replace_editor": 86, "bash": 80, "submit": 11},
        "filters": {"lines_read": 12, "bad_lines": 0, "trajectories_read": 12, "not_resolved": 0, "steps_read": 187,
                    "format_error_steps": 3, "over_token_budget": 4, "duplicates": 3, "bad_line_reasons": []},
    })
    _json(ds / "dataset_dict.json", {"splits": ["train", "validation"]})
    for split in ("train", "validation"):
        _json(ds / split / "dataset_info.json", {"features": {}})
        _json(ds / split / "state.json", {"_data_files": []})
    if with_training:
        # swe-srl train (srl): TRL GRPO keys plus ours
        tr = root / "train" / "srl"
        rows = []
        for step in range(1, 31):
            r = 0.15 + 0.5 * (1 - math.exp(-step / 10))
            rows.append({
                "step": step, "epoch": step / 30, "loss": 0.02 * math.sin(step), "grad_norm": 0.5 + 0.01 * step,
                "learning_rate": 5e-7 * (1 - step / 31), "reward": r, "reward_std": 0.2 - 0.003 * step,
                "rewards/srl_reward/mean": r, "rewards/srl_reward/std": 0.2,
                "dynamic_sampling/drop_fraction": 0.5 * math.exp(-step / 15),
                "dynamic_sampling/dropped_groups": float(round(8 * math.exp(-step / 15))),
                "dynamic_sampling/refill_rounds": 1.0,
                "srl/format_failure_rate": max(0.0, 0.6 - 0.02 * step),
                "completions/mean_length": 120 + step, "kl": 0.0, "frac_reward_zero_std": 0.1,
                "rewards/<b>odd</b>/mean": 0.5,
            })
            if step % 10 == 0:
                rows.append({"step": step, "epoch": step / 30, "validation/similarity": 0.2 + 0.01 * step,
                             "validation/reward": 0.1 + 0.01 * step, "validation/format_failure_rate": 0.2,
                             "validation/samples": 17.0})
        rows.append({"step": 30, "train_runtime": 412.5, "train_loss": 0.01})
        _jsonl(tr / "metrics.jsonl", rows, extra="{not json\n")
        (tr / "plots").mkdir(parents=True)
        (tr / "plots" / "reward.png").write_bytes(_png())
        (tr / "plots" / "broken.png").write_bytes(b"not a png")
        _write(tr / "config.yaml", "method: srl\nmodel: out/tiny\nlearning_rate: 5.0e-07\nsrl:\n  epsilon: 1.0e-4\n")
        _json(tr / "summary.json", {
            "format": "swe-srl.train/v1", "method": "srl", "global_step": 30, "train_rows": 160, "validation_rows": 17,
            "train_loss": 0.01, "wall_s": 412.5, "final_dir": str(tr / "adapter"), "plots": [str(tr / "plots" / "reward.png")],
            "last_logged": {"reward": 0.62}, "validation": [{"step": 10, "validation/similarity": 0.3}],
            "dynamic_sampling": {"generation_batches": 30, "groups_dropped_first": 61, "groups_dropped_total": 80},
        })
        # A checkpoint's copy of the trainer state must not count as another run.
        _json(tr / "checkpoints" / "checkpoint-10" / "trainer_state.json", {"log_history": [{"step": 10, "loss": 1}]})
        # swe-srl train (sft): a plain TRL SFT log
        sft = root / "train" / "sft"
        rows = [{"step": s, "loss": 2.0 / s, "learning_rate": 1e-5, "mean_token_accuracy": 0.3 + 0.02 * s} for s in range(1, 21)]
        rows += [{"step": 10, "validation_similarity": 0.25}, {"step": 20, "validation_similarity": 0.31}]
        _jsonl(sft / "metrics.jsonl", rows)
    # swe-srl run (agent)
    ag = root / "agent" / "srl"
    preds = [{"instance_id": iid, "model_name_or_path": "tiny-srl", "model_patch": _patch(iid, i) if i else ""}
             for i, iid in enumerate(SRL_IDS)]
    _jsonl(ag / "predictions.jsonl", preds)
    _json(ag / "summary.json", {
        "format": "swe-srl.run-summary/v1", "swe_srl_version": "0.1.0", "total_tasks": 4, "completed": 4,
        "resumed_from_previous_runs": 0, "submitted": 3, "limits_hit": {"max_steps": 1},
        "exit_reasons": {"submitted": 3, "max_steps": 1}, "format_errors": 5, "mean_steps": 7.5,
        "nonempty_patches": 3, "errors": [{"instance_id": "acme__widgets-9", "error": f"sandbox failed {EVIL}"}],
        "duration_s": 88.1,
        "config": {"policy": "hf:out/train/srl", "model_name_or_path": "tiny-srl", "mode": "agent", "workers": 2},
    })
    _write(ag / "trajectories.jsonl", "{}\n")
    # swe-srl eval: the agent's predictions and gold on the same task set
    _eval_run(root / "eval" / "srl", "demo-srl", resolved=[SRL_IDS[1]], unresolved=[SRL_IDS[2], SRL_IDS[3]],
              empty=[SRL_IDS[0]], error=[],
              extra={"predictions": "agent/srl/predictions.jsonl", "tasks": "tasks/synth.jsonl"})
    _eval_run(root / "eval" / "gold", "demo-gold", resolved=SRL_IDS[:3], unresolved=[], empty=[],
              error=[SRL_IDS[3]], extra={"predictions": "gold", "model_name_or_path": "gold", "tasks": "tasks/synth.jsonl"})
    # swe-srl score: the base model and the trained one on the same held-out steps
    for label, valid, sim, exact in (("base", 0.0, 0.0, 0.0), ("srl", 0.5, 0.3125, 0.125)):
        _json(root / "scores" / f"{label}.json", {
            "format": "swe-srl.score/v1", "label": label, "split": "validation", "samples": 8,
            "format_valid_rate": valid, "mean_similarity": sim, "mean_reward": sim - (1 - valid),
            "exact_match_rate": exact, "by_tool": {"bash": {"samples": 8, "mean_similarity": sim}},
            "backend": "vllm", "max_new_tokens": 512, "records": [],
        })
    return root


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return build_run_dir(tmp_path / "run")


@pytest.fixture(scope="session")
def written(tmp_path_factory):
    """The full fake run directory rendered once (charts cost seconds); read only:
    ``(run_dir, page path, page text, contents found)``."""
    from swe_srl.report import write_report

    root = build_run_dir(tmp_path_factory.mktemp("report") / "run")
    page, found = write_report(root)
    return root, page, page.read_text(encoding="utf-8"), found


@pytest.fixture
def make_run_dir():
    """The builder itself, for tests that want a partial run directory."""
    return build_run_dir

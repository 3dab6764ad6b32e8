"""`make demo` in its reduced size (DEMO_SIZE=small), run for real, and its outputs checked."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.model, pytest.mark.vllm]


@pytest.mark.timeout(2700)  # SmolLM2 trained three ways, four scores, two vLLM servers, ten evals
def test_demo_small_runs_every_stage_and_its_outputs_hold_up(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, DEMO_SIZE="small", DEMO_OUT=str(out), OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=2600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "swe-srl demo (" in proc.stdout  # the summary table
    assert f"report: {out / 'report.html'}" in proc.stdout.splitlines()

    # 1. conversion: the project's own examples (and the shared samples when present)
    conv = json.loads((out / "traj" / "report.json").read_text())
    assert conv["trajectories"] >= 6 and conv["steps"] > 0
    # 2-3. datasets non-empty, both kinds
    for kind in ("srl", "sft"):
        stats = json.loads((out / "data" / kind / "stats.json").read_text())
        rows = stats["rows"]["total"] if isinstance(stats["rows"], dict) else stats["rows"]
        assert rows > 0
    # 4. training wrote metrics, plots and an adapter for each run (SFT, SRL, SFT then SRL)
    for method in ("srl", "sft", "sft-srl"):
        run = out / "train" / method
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
        assert metrics and any("loss" in m for m in metrics)
        assert (run / "adapter" / "adapter_config.json").is_file()
        assert list((run / "plots").glob("*.png"))
    srl_metrics = (out / "train" / "srl" / "metrics.jsonl").read_text()
    assert "dynamic_sampling/drop_fraction" in srl_metrics and "reward" in srl_metrics
    for method in ("srl", "sft-srl"):  # rollouts came from the vLLM engine serving the adapter
        summary = json.loads((out / "train" / method / "summary.json").read_text())
        assert summary["rollout"]["backend"] == "vllm" and summary["rollout"]["calls"] >= 1
    # SFT then SRL started from the SFT adapter merged into the base
    assert (out / "train" / "sft-srl" / "start_model" / "config.json").is_file()
    # held-out scores of the four models, and the comparison table built from them
    for name in ("base", "sft", "srl", "sft-srl"):
        score = json.loads((out / "scores" / f"{name}.json").read_text())
        assert score["samples"] == 4 and 0.0 <= score["format_valid_rate"] <= 1.0
        assert 0.0 <= score["mean_similarity"] <= 1.0
    # each trained model was served as its adapter merged into the weights it was trained on
    for name in ("sft", "srl", "sft-srl"):
        record = json.loads((out / "merged" / name / "swe_srl_merge.json").read_text())
        assert record["adapter"] == str((out / "train" / name / "adapter").resolve())
        if name == "sft-srl":
            assert record["base"] == str((out / "train" / "sft-srl" / "start_model").resolve())
        score = json.loads((out / "scores" / f"{name}.json").read_text())
        assert score["inputs"]["fingerprints"]["served"].endswith(f"merged/{name}"), score["inputs"]
    comparison = json.loads((out / "comparison.json").read_text())
    assert [r["model"] for r in comparison["rows"]] == ["base", "sft", "srl", "sft-srl"]
    assert "| SFT then SRL |" in (out / "comparison.md").read_text()
    # 5-6. every policy's predictions were graded; gold and the expert replay resolve everything
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines() if line.strip()]
    assert len(tasks) >= 2
    graded = ["gold", "expert-replay"] + [f"{p}{m}" for p in ("", "oracle-") for m in ("base", "sft", "srl", "sft-srl")]
    for name in graded:
        report = json.loads((out / "eval" / name / "report.json").read_text())
        assert report["total_instances"] == len(tasks)
        assert report["completed_instances"] + len(report.get("error_ids", [])) == len(tasks)
    for name in ("gold", "expert-replay"):
        report = json.loads((out / "eval" / name / "report.json").read_text())
        assert report["resolved_instances"] == len(tasks), name
    # the report renders: one page with the training plots and the evaluation table
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    for section in ("Dataset statistics", "Training", "Agent runs", "Evaluation"):
        assert f"<h2>{section}</h2>" in html
    for policy in ("smollm2-srl", "smollm2-sft", "smollm2-sft-srl", "expert-replay", "gold"):
        assert policy in html

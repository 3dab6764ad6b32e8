"""`swe-srl eval` on bad predictions: one line naming the file and field, no traceback;
unknown instance ids counted and listed, duplicate ids warned about. No containers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _eval(tmp_path: Path, rows: list, *extra: str) -> subprocess.CompletedProcess:
    tasks = tmp_path / "tasks.jsonl"
    task = {"instance_id": "o__r-1", "repo": "o/r", "base_commit": "0" * 40, "patch": "", "test_patch": "",
            "problem_statement": "p", "FAIL_TO_PASS": ["t.py::a"], "PASS_TO_PASS": [], "repo_path": str(tmp_path),
            "spec": {"python": "3.11"}}
    tasks.write_text(json.dumps(task) + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return subprocess.run([sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tasks), "--predictions", str(preds),
                           "--run-id", "x", "--out", str(tmp_path / "out"), "--rewrite-reports", *extra],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)


def test_model_patch_of_the_wrong_type_is_one_line(tmp_path):
    for bad in (3, ["diff"]):
        res = _eval(tmp_path, [{"instance_id": "o__r-1", "model_patch": bad}])
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
        line = res.stderr.strip()
        assert "preds.jsonl" in line and "o__r-1" in line and "model_patch" in line and len(line.splitlines()) <= 2


def test_unknown_ids_are_listed_and_duplicates_warned(tmp_path):
    rows = [{"instance_id": "o__r-1", "model_patch": ""}, {"instance_id": "o__r-1", "model_patch": "x"},
            {"instance_id": "nope-1", "model_patch": ""}, {"instance_id": "nope-2", "model_patch": ""}]
    res = _eval(tmp_path, rows)
    assert res.returncode == 0, res.stderr
    assert "1 instance id(s) given more than once" in res.stderr and "o__r-1" in res.stderr
    assert "predictions not in the tasks" in res.stdout and "2: nope-1, nope-2" in res.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["unknown_prediction_ids"] == ["nope-1", "nope-2"] and report["duplicate_prediction_ids"] == ["o__r-1"]

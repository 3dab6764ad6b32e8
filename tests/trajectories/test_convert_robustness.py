"""`swe-srl convert` on hostile inputs: symbolic-link loops end with each real folder read
once, invalid UTF-8 is counted per file, escape sequences in names are shown escaped."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from swe_srl.io import write_jsonl
from swe_srl.trajectories import Action, Step, Trajectory
from swe_srl.trajectories.convert import convert


def _canonical(path: Path, i: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    steps = [Step(Action("bash", {"command": f"echo {i}"}), thought="t", observation="o"), Step(Action("submit", {}))]
    write_jsonl(path, [Trajectory(id=f"run-{i}", source_format="swe-agent", instance_id=f"o__r-{i}",
                                  problem_statement="p", steps=steps).to_dict()])
    return path


def test_symlink_loops_visit_each_real_folder_once(tmp_path):
    root = tmp_path / "in"
    _canonical(root / "a.jsonl", 1)
    _canonical(root / "sub" / "b.jsonl", 2)
    os.symlink(".", root / "self")            # ln -s . a: 41 duplicates before
    os.symlink("..", root / "sub" / "up")     # two links forming a loop: hung before
    os.symlink(str(root / "sub"), root / "again")
    result: dict = {}
    th = threading.Thread(target=lambda: result.update(r=convert([root], tmp_path / "out")), daemon=True)
    th.start()
    th.join(timeout=60)
    assert not th.is_alive(), "convert did not finish"
    report = result["r"]
    assert report["trajectories"] == 2 and report["renamed_duplicate_ids"] == 0
    assert report["files"]["total"] == 2


def test_invalid_utf8_is_counted_per_file(tmp_path, samples_dir):
    sample = samples_dir / "codex-cli" / "synthetic-modern-tools__rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"
    good = tmp_path / "in" / "good.jsonl"
    good.parent.mkdir(parents=True)
    good.write_bytes(sample.read_bytes())
    lines = sample.read_bytes().splitlines(True)
    hit = [i for i, line in enumerate(lines) if b'"text":"' in line or b'"output":"' in line][:2]
    assert len(hit) == 2
    for i in hit:  # invalid UTF-8 inside a string value of two records
        key = b'"text":"' if b'"text":"' in lines[i] else b'"output":"'
        lines[i] = lines[i].replace(key, key + b"\xff\xfe", 1)
    bad = tmp_path / "in" / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    report = convert([good, bad], tmp_path / "out")
    assert report["trajectories"] == 2, report["skipped"]
    assert report["invalid_utf8"] == {"files": 1, "records": 2, "by_file": {str(bad): 2}}


def test_escape_sequences_in_names_are_shown_escaped(tmp_path):
    evil = tmp_path / "in" / "x\x1b]0;pwned\x07\x1b[2J.jsonl"
    evil.parent.mkdir(parents=True)
    evil.write_text("not json\n")
    _canonical(tmp_path / "in" / "ok.jsonl", 1)
    res = subprocess.run([sys.executable, "-m", "swe_srl", "convert", str(tmp_path / "in"), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout + res.stderr
    assert "\\x1b]0;pwned\\x07" in res.stdout + res.stderr

"""Integration: every shared agent-log sample converts through the real CLI.

``swe-srl convert ../shared/trajectory-samples`` must turn every sample into
trajectories with steps, except the files that hold no agent run at all
(SOURCES.md, and a Codex fixture without a single tool call), which must be
clean, reported skips. Every format must appear with steps, and the converted
samples must build a step-wise dataset.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.trajectories.models import CANONICAL_TOOLS, Trajectory

FORMAT_OF_DIR = {
    "swe-agent-traj": "swe-agent",
    "mini-swe-agent": "mini-swe-agent",
    "openhands": "openhands",
    "chat-messages": "chat-messages",
    "claude-code": "claude-code",
    "codex-cli": "codex",
}
# Files that hold no agent run with an action: a clean, reported skip is expected.
NO_RUN = {
    "SOURCES.md",
    "codex-cli/synthetic-legacy-direct-format__rollout-44444444-4444-4444-8444-444444444444.jsonl",
}


@pytest.fixture(scope="module")
def converted(samples_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("samples-out")
    p = subprocess.run([sys.executable, "-m", "swe_srl", "convert", str(samples_dir), "--out", str(out)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    report = json.loads((out / "report.json").read_text())
    trajs = [Trajectory.from_dict(json.loads(line)) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    return out, report, trajs


def _sample_files(samples_dir: Path) -> list[str]:
    return sorted(p.relative_to(samples_dir).as_posix() for p in samples_dir.rglob("*")
                  if p.is_file() and not p.name.startswith("."))


def test_every_sample_converts_or_is_a_reported_skip(samples_dir, converted):
    out, report, trajs = converted
    files = _sample_files(samples_dir)
    with_trajs = {Path(t.meta["source_file"]).relative_to(samples_dir).as_posix() for t in trajs}
    skipped_files = {}
    for reason in report["skipped"]:
        path, _, why = reason.partition(": ")
        rel = Path(path.split(":")[0]).relative_to(samples_dir).as_posix()
        skipped_files.setdefault(rel, []).append(why)
    assert set(files) - set(NO_RUN) == with_trajs, "files without trajectories: " + str(set(files) - with_trajs - NO_RUN)
    for rel in NO_RUN:
        assert rel in skipped_files and all(skipped_files[rel]), rel
    assert report["files"]["total"] == len(files)
    assert report["files"]["parsed"] == len(with_trajs)
    assert all("\n" not in r for r in report["skipped"])


def test_every_format_appears_with_steps(samples_dir, converted):
    _, report, trajs = converted
    for fmt in FORMAT_OF_DIR.values():
        assert report["formats"].get(fmt, {}).get("steps", 0) > 0, fmt
    assert sum(c["steps"] for c in report["formats"].values()) == report["steps"] == sum(len(t.steps) for t in trajs)
    assert sum(report["actions_by_tool"].values()) == report["steps"]
    for t in trajs:
        rel = Path(t.meta["source_file"]).relative_to(samples_dir)
        assert t.source_format == FORMAT_OF_DIR[rel.parts[0]], rel
        assert t.steps, rel
        assert len({t.id for t in trajs}) == len(trajs)
    # agent-harness formats act mostly through the canonical tools (SWE-agent 0.x line-range
    # `edit N:M` commands keep their own tool name: they cannot become str_replace without the file)
    for fmt in ("swe-agent", "mini-swe-agent", "openhands"):
        steps = [s for t in trajs if t.source_format == fmt for s in t.steps]
        canonical = sum(s.action.tool in CANONICAL_TOOLS for s in steps)
        assert canonical / len(steps) > 0.6, fmt


def test_conversion_is_deterministic(samples_dir, converted, tmp_path):
    out, _, _ = converted
    from swe_srl.trajectories.convert import convert

    convert([samples_dir], tmp_path / "again")
    assert (tmp_path / "again" / "trajectories.jsonl").read_bytes() == (out / "trajectories.jsonl").read_bytes()


def test_samples_build_a_stepwise_dataset(converted, tmp_path):
    out, report, trajs = converted
    from swe_srl.data.build import DatasetConfig, build_dataset

    stats = build_dataset(out / "trajectories.jsonl", tmp_path / "ds", DatasetConfig(kind="srl"))
    f = stats["filters"]
    assert f["trajectories_read"] == report["trajectories"] and f["bad_lines"] == 0
    assert stats["rows"]["total"] == report["steps"] - f["format_error_steps"] - f["duplicates"]
    assert stats["rows"]["validation"] > 0 and stats["trajectories"]["validation"] >= 1

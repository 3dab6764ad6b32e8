"""`swe-srl dataset` over its documented flag combinations, through the real CLI:
each one builds a dataset or ends with one line naming the flag (never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.io import write_jsonl
from swe_srl.trajectories import Action, Step, Trajectory


def _trajectories(path: Path) -> Path:
    trajs = []
    for i in range(6):
        steps = [Step(Action("bash", {"command": f"cat f{i}_{j}.py"}), thought=f"t{j}", observation="x" * 300)
                 for j in range(3)]
        steps.append(Step(Action("submit", {}), thought="done"))
        trajs.append(Trajectory(id=f"t{i}", source_format="swe-agent", instance_id=f"o__r-{i}",
                                problem_statement=f"Issue {i}", steps=steps,
                                outcome="resolved" if i % 2 else "unresolved"))  # type: ignore[arg-type]
    write_jsonl(path, [t.to_dict() for t in trajs])
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ds-flags")
    res = _cli("model", "init-tiny", "--out", str(root / "tiny"))
    assert res.returncode == 0, res.stderr
    return _trajectories(root / "t.jsonl"), root / "tiny"


OK = [
    ["--tokenizer", "{tok}"],  # a tokenizer without a budget (was a TypeError in _percentiles)
    ["--kind", "sft", "--max-prompt-tokens", "4096", "--tokenizer", "{tok}", "--context-steps", "0"],
    ["--only-resolved", "--only-submitted", "--only-canonical-tools", "--keep-format-errors", "--no-dedupe",
     "--val-fraction", "0", "--seed", "3", "--max-observation-chars", "100"],
]
BAD = [
    (["--max-prompt-tokens", "100"], "--max-prompt-tokens"),
    (["--tokenizer", "{missing}"], "tokenizer"),
    (["--kind", "rl"], "--kind"),
    (["--context-steps", "-1"], "context"),
    (["--max-prompt-tokens", "0", "--tokenizer", "{tok}"], "--max-prompt-tokens"),
]


@pytest.mark.parametrize("flags", OK, ids=lambda f: " ".join(f) or "defaults")
def test_supported_flag_combinations_build_a_dataset(inputs, tmp_path, flags):
    src, tok = inputs
    args = [a.format(tok=tok) for a in flags]
    res = _cli("dataset", str(src), "--out", str(tmp_path / "ds"), *args)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["rows"]["total"] > 0
    if "--max-prompt-tokens" in flags:
        assert 0 < stats["prompt_tokens"]["max"] <= int(args[args.index("--max-prompt-tokens") + 1])
    assert stats["rows"]["validation"] == (0 if "--val-fraction" in flags else stats["rows"]["validation"])


@pytest.mark.parametrize("flags,names", BAD, ids=lambda f: " ".join(f) if isinstance(f, list) else f)
def test_unsupported_combinations_end_in_one_line(inputs, tmp_path, flags, names):
    src, tok = inputs
    args = [a.format(tok=tok, missing=tmp_path / "nope") for a in flags]
    res = _cli("dataset", str(src), "--out", str(tmp_path / "ds"), *args)
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert names in res.stderr and len(res.stderr.strip().splitlines()) <= 3, res.stderr

"""`swe-srl convert`: canonical files, directories, bad input, determinism, the report, the schema file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.io import write_jsonl
from swe_srl.trajectories import Action, Step, Trajectory
from swe_srl.trajectories.convert import convert, iter_input_files

ROOT = Path(__file__).resolve().parents[2]


def _traj(i: int, n: int = 2) -> Trajectory:
    steps = [Step(Action("bash", {"command": f"echo {i}.{j}"}), thought="t", observation=f"{i}.{j}") for j in range(n)]
    steps.append(Step(Action("str_replace_editor", {"command": "view", "path": f"/testbed/f{i}.py"})))
    steps.append(Step(Action("submit", {})))
    return Trajectory(id=f"run-{i}", source_format="swe-agent", instance_id=f"o__r-{i}", problem_statement="p",
                      steps=steps, patch="diff --git a/x b/x\n")


def _canonical(path: Path, ids: range, n: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(path, [_traj(i, n).to_dict() for i in ids])
    return path


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", "convert", *args], capture_output=True, text=True)


def test_canonical_files_roundtrip_with_report(tmp_path):
    src = _canonical(tmp_path / "in" / "a.jsonl", range(3))
    report = convert([src], tmp_path / "out")
    lines = _lines(tmp_path / "out")
    assert [line["id"] for line in lines] == ["run-0", "run-1", "run-2"]
    back = Trajectory.from_dict(lines[1])
    assert back.steps[0].action.args == {"command": "echo 1.0"} and back.patch == "diff --git a/x b/x\n"
    assert back.meta["source_file"] == str(src)
    assert report["files"] == {"total": 1, "parsed": 1, "skipped": 0}
    assert report["trajectories"] == 3 and report["steps"] == 12
    assert report["formats"] == {"canonical": {"files": 1, "trajectories": 3, "steps": 12}}
    assert report["actions_by_tool"] == {"bash": 6, "str_replace_editor": 3, "submit": 3}
    assert report["format"] == "swe-srl.convert-report/v1" and report["version"] and report["command"]["inputs"] == [str(src)]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["steps"] == 12


def test_directories_walked_sorted_hidden_skipped_and_rerun_identical(tmp_path):
    root = tmp_path / "logs"
    _canonical(root / "b.jsonl", range(10, 12))
    _canonical(root / "a.jsonl", range(0, 1))
    _canonical(root / "sub" / "deeper" / "c.jsonl", range(20, 21))
    _canonical(root / "a_sub" / "z.jsonl", range(30, 31))
    _canonical(root / ".hidden.jsonl", range(40, 41))
    _canonical(root / ".git" / "x.jsonl", range(50, 51))
    listing = [p for p, _ in iter_input_files([root])]
    assert [p.relative_to(root).as_posix() for p in listing] == ["a.jsonl", "b.jsonl", "a_sub/z.jsonl", "sub/deeper/c.jsonl"]
    r1 = convert([root], tmp_path / "out")
    assert [t["id"] for t in _lines(tmp_path / "out")] == ["run-0", "run-10", "run-11", "run-30", "run-20"]
    assert r1["files"]["total"] == 4
    first = (tmp_path / "out" / "trajectories.jsonl").read_bytes()
    convert([root], tmp_path / "out")
    assert (tmp_path / "out" / "trajectories.jsonl").read_bytes() == first
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "trajectories.jsonl"]


def test_same_run_twice_gets_unique_ids(tmp_path):
    src = _canonical(tmp_path / "a.jsonl", range(2))
    report = convert([src, src], tmp_path / "out")
    assert [t["id"] for t in _lines(tmp_path / "out")] == ["run-0", "run-1", "run-0#2", "run-1#2"]
    assert report["renamed_duplicate_ids"] == 2


def _bad_inputs(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    good = json.dumps(_traj(0).to_dict())
    files = {
        "malformed": d / "malformed.json",
        "truncated": d / "truncated.jsonl",
        "unknown": d / "unknown.json",
        "empty": d / "empty.json",
        "binary": d / "binary.json",
        "notes": d / "notes.txt",
        "empty_traj": d / "empty_traj.jsonl",
        "wrong_types": d / "wrong_types.jsonl",
    }
    files["malformed"].write_text('{"messages": [{"role": "user", "content": "x"},,]}')
    # a canonical JSONL whose last line was cut mid-write
    files["truncated"].write_text(good + "\n" + good.replace('"run-0"', '"run-1"')[: len(good) // 2])
    files["unknown"].write_text(json.dumps({"hello": "world", "numbers": [1, 2, 3]}))
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(b"\xff\xfe\x00garbage\x80\x81{\"id\": 1}")
    files["notes"].write_text("just some notes\n")
    no_steps = _traj(5).to_dict()
    no_steps["steps"] = []
    files["empty_traj"].write_text(json.dumps(no_steps) + "\n")
    wrong = _traj(6).to_dict()
    wrong["steps"] = "not a list of steps"
    files["wrong_types"].write_text(good.replace('"run-0"', '"run-7"') + "\n" + json.dumps(wrong) + "\n")
    return files


def test_bad_inputs_are_reported_skips_with_reasons(tmp_path):
    files = _bad_inputs(tmp_path / "bad")
    report = convert([tmp_path / "bad", tmp_path / "missing.json"], tmp_path / "out")
    ids = [t["id"] for t in _lines(tmp_path / "out")]
    assert ids == ["run-0", "run-7"]  # the good line of truncated.jsonl and of wrong_types.jsonl
    reasons = report["skipped"]
    assert report["skipped_total"] == len(reasons)

    def reason_for(key: str) -> str:
        hits = [r for r in reasons if r.startswith(str(files[key]))]
        assert len(hits) == 1, (key, reasons)
        return hits[0]

    assert reason_for("truncated") == f"{files['truncated']}:2: invalid JSON"
    assert reason_for("wrong_types").startswith(f"{files['wrong_types']}:2: ")
    assert reason_for("empty").endswith("empty file")
    assert reason_for("notes").endswith("not JSON or JSONL")
    assert "no steps" in reason_for("empty_traj")
    for key in ("malformed", "unknown", "binary"):
        assert reason_for(key).split(": ", 1)[1]  # a reason is given
    assert f"{tmp_path / 'missing.json'}: no such file or directory" in reasons
    assert all("\n" not in r for r in reasons)
    assert report["files"] == {"total": 9, "parsed": 2, "skipped": 7}
    assert report["empty_trajectories"] == 1


def test_cli_mixed_input_exits_zero_without_traceback(tmp_path):
    _bad_inputs(tmp_path / "bad")
    good = _canonical(tmp_path / "good.jsonl", range(2))
    p = _cli(str(tmp_path / "bad"), str(good), "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr + p.stdout
    assert "trajectories" in p.stdout and "skipped" in p.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["trajectories"] == 4 and report["command"]["argv"][:2] == ["swe-srl", "convert"]


def test_cli_nothing_converted_exits_nonzero_one_line(tmp_path):
    _bad_inputs(tmp_path / "bad")
    for f in ("truncated.jsonl", "wrong_types.jsonl"):
        (tmp_path / "bad" / f).unlink()
    p = _cli(str(tmp_path / "bad"), "--out", str(tmp_path / "out"))
    assert p.returncode == 1
    assert "Traceback" not in p.stderr + p.stdout
    assert "nothing could be converted" in p.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["trajectories"] == 0
    p = _cli(str(tmp_path / "bad"), "--out", str(tmp_path / "out2"), "--format", "no-such-format")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert "valid formats" in p.stderr and len(p.stderr.strip().splitlines()) <= 2


def test_forced_format_and_unknown_format_error(tmp_path):
    src = _canonical(tmp_path / "a.jsonl", range(1))
    report = convert([src], tmp_path / "out", fmt="canonical")
    assert report["formats"]["canonical"]["trajectories"] == 1
    with pytest.raises(SweSrlError, match="valid formats"):
        convert([src], tmp_path / "out", fmt="nope")


def test_llm_call_logs_keep_only_the_longest(tmp_path, samples_dir):
    """Consecutive LLM-call logs repeat the growing prefix: only the last is kept."""
    pytest.importorskip("swe_srl.trajectories.parsers.chat_messages")
    src = samples_dir / "chat-messages" / "openhands-sdk-llm-log-fncall__claude-sonnet-4-1757015046.707.json"
    log = json.loads(src.read_text())
    earlier = dict(log)
    # the call made after two rounds: its response is the third assistant turn
    assistant_idx = [i for i, m in enumerate(log["messages"]) if m["role"] == "assistant"]
    cut = assistant_idx[2]
    earlier["messages"] = log["messages"][:cut]
    earlier["response"] = {**log["response"], "choices": [{**log["response"]["choices"][0], "message": log["messages"][cut]}]}
    d = tmp_path / "logs"
    d.mkdir()
    (d / "call-1.json").write_text(json.dumps(earlier))
    shutil.copy(src, d / "call-2.json")
    report = convert([d], tmp_path / "out")
    lines = _lines(tmp_path / "out")
    assert len(lines) == 1 and lines[0]["meta"]["source_file"].endswith("call-2.json")
    assert report["prefix_duplicates_dropped"] == 1


def test_schema_file_is_up_to_date():
    from swe_srl.trajectories.models import json_schema

    on_disk = json.loads((ROOT / "trajectories" / "schema.json").read_text())
    assert on_disk == json.loads(json.dumps(json_schema())), (
        "trajectories/schema.json is stale: regenerate it with the command in trajectories/README.md"
    )
    assert {"id", "steps", "problem_statement", "patch", "outcome"} <= set(on_disk["properties"])


def test_non_utf8_bytes_inside_a_known_format_skip_only_that_record(tmp_path):
    good = json.dumps(_traj(0).to_dict()).encode()
    bad = json.dumps(_traj(1).to_dict()).encode().replace(b'"thought": "t"', b'"thought": "t\xff\xfe"', 1)
    assert bad != json.dumps(_traj(1).to_dict()).encode()
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(good + b"\n" + bad + b"\n" + good.replace(b'"run-0"', b'"run-2"') + b"\n")
    report = convert([src], tmp_path / "out")
    assert [t["id"] for t in _lines(tmp_path / "out")] == ["run-0", "run-2"]
    assert report["skipped"] == [f"{src}:2: invalid JSON"] and report["records_skipped"] == 1


def test_output_directory_inside_an_input_is_not_read_back(tmp_path):
    _canonical(tmp_path / "logs" / "a.jsonl", range(2))
    out = tmp_path / "logs" / "converted"
    r1 = convert([tmp_path / "logs"], out)
    first = (out / "trajectories.jsonl").read_bytes()
    r2 = convert([tmp_path / "logs"], out)
    assert (out / "trajectories.jsonl").read_bytes() == first
    assert r1["files"] == r2["files"] == {"total": 1, "parsed": 1, "skipped": 0}

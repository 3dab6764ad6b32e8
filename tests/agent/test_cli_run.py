"""``swe-srl run`` through the real CLI: a trajectory recorded on a synthesized
task, replayed, resolves it through ``swe-srl eval``; re-runs resume and repair
torn outputs; bad input is a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swe_srl.agent.runner import run_tasks
from swe_srl.io import iter_jsonl, write_jsonl


def swe_srl(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _records(path):
    return [r for _, r in iter_jsonl(path)]


@pytest.mark.docker
@pytest.mark.slow
def test_replayed_recording_resolves_a_synthesized_task_through_eval(calc, tmp_path):
    from swe_srl.tasks.synthesize import synthesize_pypi_cached

    # the harness tests' synthesized tasks (cached under ~/.cache/swe-srl; shared, not rebuilt)
    task = synthesize_pypi_cached(["boltons==24.0.0", "more-itertools==10.5.0"], max_tasks=2)[0]
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, [task])
    # record: an agent applies the fix with shell commands, checks the failing test, submits
    fail = task["FAIL_TO_PASS"][0]
    script = calc.Scripted([
        calc.call("bash", command=f"cat > /tmp/fix.patch <<'SWE_SRL_EOF'\n{task['patch']}SWE_SRL_EOF"),
        calc.call("bash", command="git apply /tmp/fix.patch && git status --short"),
        calc.call("bash", command=f"python -m pytest -q -p no:cacheprovider '{fail}' 2>&1 | tail -1"),
        calc.call("submit"),
    ])
    recorded = run_tasks([task], script, tmp_path / "recorded", policy_spec="scripted")
    assert recorded["submitted"] == 1
    [rec] = _records(tmp_path / "recorded" / "trajectories.jsonl")
    assert "1 passed" in rec["steps"][2]["observation"]

    run = swe_srl("run", "--tasks", tasks, "--policy", f"replay:{tmp_path}/recorded/trajectories.jsonl",
                  "--out", tmp_path / "replay", "--sandbox-opt", "memory=1g", "--sandbox-opt", "cpus=1")
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads((tmp_path / "replay" / "summary.json").read_text())
    assert summary["submitted"] == 1 and summary["replay"]["matched"] == 1 and summary["mean_steps"] == 3
    assert summary["config"]["sandbox"] == {"memory": "1g", "cpus": 1}
    [pred] = _records(tmp_path / "replay" / "predictions.jsonl")
    assert set(pred) == {"instance_id", "model_name_or_path", "model_patch"}
    [traj] = _records(tmp_path / "replay" / "trajectories.jsonl")
    assert traj["format"] == "swe-srl.trajectory/v1" and traj["source_format"] == "swe-srl-agent"

    ev = swe_srl("eval", "--tasks", tasks, "--predictions", tmp_path / "replay" / "predictions.jsonl",
                 "--run-id", "replay-check", "--out", tmp_path / "eval")
    assert ev.returncode == 0, ev.stderr[-2000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["resolved_ids"] == [task["instance_id"]]

    # the canonical trajectories convert back into training data
    conv = swe_srl("convert", tmp_path / "replay" / "trajectories.jsonl", "--out", tmp_path / "conv")
    assert conv.returncode == 0, conv.stderr[-2000:]
    [back] = _records(tmp_path / "conv" / "trajectories.jsonl")
    assert [s["action"]["tool"] for s in back["steps"]] == ["bash", "bash", "bash", "submit"]


@pytest.mark.docker
def test_rerun_resumes_and_repairs_torn_outputs(calc, calc_task, calc_image, tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, [calc_task, dict(calc_task, instance_id="local__calc-2")])
    run_tasks([calc_task], calc.Scripted(calc.FIX_SCRIPT), tmp_path / "rec", policy_spec="scripted")
    args = ("run", "--tasks", tasks, "--policy", f"replay:{tmp_path}/rec/trajectories.jsonl", "--out", tmp_path / "out")
    first = swe_srl(*args)
    # calc-2 has no recording: reported and skipped, not written, and retried by the next run
    assert first.returncode == 0 and "no recorded trajectory for instance 'local__calc-2'" in first.stderr
    out = tmp_path / "out"
    assert [p["instance_id"] for p in _records(out / "predictions.jsonl")] == ["local__calc-1"]
    # an interrupted second run: a trajectory written without its prediction, and a torn line
    with open(out / "trajectories.jsonl", "a") as fh:
        fh.write(json.dumps({"format": "swe-srl.trajectory/v1", "id": "x", "instance_id": "local__calc-2", "steps": []}) + "\n")
        fh.write('{"format": "swe-srl.traj')
    second = swe_srl(*args)
    # the only task left cannot run: a non-zero exit, after the summary of what is done
    assert second.returncode == 1 and "every task failed to run" in second.stderr, second.stderr[-2000:]
    assert "1 (1 from earlier runs)" in second.stdout
    assert [t["instance_id"] for t in _records(out / "trajectories.jsonl")] == ["local__calc-1"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] == 1 and summary["resumed_from_previous_runs"] == 1
    assert summary["errors"][0]["instance_id"] == "local__calc-2"
    assert summary["format"] == "swe-srl.run-summary/v1" and summary["config"]["policy"].startswith("replay:")


def test_bad_input_is_a_one_line_error(tmp_path):
    r = swe_srl("run", "--tasks", tmp_path / "none.jsonl", "--policy", "hf:x", "--out", tmp_path / "o")
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr
    write_jsonl(tmp_path / "t.jsonl", [{"instance_id": "a", "repo": "o/n", "base_commit": "abc", "problem_statement": "p"}])
    r = swe_srl("run", "--tasks", tmp_path / "t.jsonl", "--policy", "gpt:x", "--out", tmp_path / "o")
    assert r.returncode == 1 and "valid forms: hf:PATH" in r.stderr
    r = swe_srl("run", "--tasks", tmp_path / "t.jsonl", "--policy", "hf:x", "--out", tmp_path / "o", "--mode", "chat")
    assert r.returncode == 1 and "--mode: expected one of agent, oracle-edit, got 'chat'" in r.stderr
    r = swe_srl("run", "--tasks", tmp_path / "t.jsonl", "--policy", "hf:x", "--out", tmp_path / "o", "--sandbox-opt", "gpus=1")
    assert r.returncode == 1 and "--sandbox-opt: unknown key(s) gpus" in r.stderr


@pytest.mark.docker
def test_interrupted_run_keeps_finished_tasks_and_resumes(calc_task, calc_image, tmp_path):
    import signal
    import time

    from swe_srl.trajectories.models import Action, Step, Trajectory

    quick = dict(calc_task, instance_id="local__calc-quick")
    slow = dict(calc_task, instance_id="local__calc-slow")
    tasks = tmp_path / "tasks.jsonl"
    write_jsonl(tasks, [quick, slow])
    fix = Step(Action("bash", {"command": "sed -i '2s/a - b/a + b/' calc/__init__.py"}), "fix", "")
    rec = tmp_path / "rec.jsonl"
    write_jsonl(rec, [
        Trajectory(id="q", source_format="x", instance_id="local__calc-quick", steps=[fix], patch=calc_task["patch"]).to_dict(),
        Trajectory(id="s", source_format="x", instance_id="local__calc-slow", patch=calc_task["patch"],
                   steps=[Step(Action("bash", {"command": "sleep 60"}), "wait", ""), fix]).to_dict(),
    ])
    out = tmp_path / "out"
    args = [sys.executable, "-m", "swe_srl", "run", "--tasks", str(tasks), "--policy", f"replay:{rec}", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "predictions.jsonl").is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # the slow task is in its sleep now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "Traceback" not in err, err[-2000:]
    assert [p["instance_id"] for p in _records(out / "predictions.jsonl")] == ["local__calc-quick"]
    # the re-run does only what is left (the recording's sleep is real: 60 s would show)
    write_jsonl(rec, [_records(rec)[0], dict(_records(rec)[1], steps=[fix.to_dict()])])
    t0 = time.monotonic()
    again = swe_srl("run", "--tasks", tasks, "--policy", f"replay:{rec}", "--out", out)
    assert again.returncode == 0, again.stderr[-2000:]
    assert time.monotonic() - t0 < 50
    preds = {p["instance_id"]: p["model_patch"] for p in _records(out / "predictions.jsonl")}
    assert preds == {"local__calc-quick": calc_task["patch"], "local__calc-slow": calc_task["patch"]}

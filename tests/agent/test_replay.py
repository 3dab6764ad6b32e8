"""Replay validation: recorded trajectories (our own agent's, a bash-only
mini-swe-agent log, a tool-call log) replayed in the Docker sandbox reproduce
their recorded patches; a recording that cannot be reproduced is reported with
where and why it diverged."""

from __future__ import annotations

import json

import pytest

from swe_srl.agent.replay_check import compare_patches, normalize_patch
from swe_srl.agent.runner import run_tasks
from swe_srl.io import iter_jsonl, write_jsonl
from swe_srl.policy import load_policy
from swe_srl.trajectories.models import Action, Step, Trajectory


def test_compare_patches_ignores_line_endings_whitespace_and_context(calc_task):
    gold = calc_task["patch"]
    crlf = gold.replace("\n", "\r\n").replace("+    return a + b", "+    return a + b   ")
    no_index = "\n".join(line for line in gold.split("\n") if not line.startswith("index "))
    assert compare_patches(gold, crlf).match and compare_patches(gold, no_index).match
    other = gold.replace("+    return a + b", "+    return b + a")
    cmp = compare_patches(gold, other)
    assert not cmp.match
    assert cmp.first_difference == {"file": "calc/__init__.py", "index": 1, "recorded": "+    return a + b",
                                     "replayed": "+    return b + a"}
    assert compare_patches(gold, "").files_only_recorded == ["calc/__init__.py"]
    assert normalize_patch("") == {}


def _replay(tasks, trajectories_path, out):
    return run_tasks(tasks, load_policy(f"replay:{trajectories_path}"), out, policy_spec="replay")


@pytest.mark.docker
def test_replay_of_a_recorded_agent_run_reproduces_its_patch(calc, calc_task, calc_image, tmp_path):
    recorded = run_tasks([calc_task], calc.Scripted(calc.FIX_SCRIPT), tmp_path / "rec", policy_spec="scripted")
    assert recorded["submitted"] == 1
    summary = _replay([calc_task], tmp_path / "rec" / "trajectories.jsonl", tmp_path / "replay")
    assert summary["replay"] == {"validated": 1, "matched": 1, "diverged": []}
    [pred] = [p for _, p in iter_jsonl(tmp_path / "replay" / "predictions.jsonl")]
    assert pred["model_patch"] == calc_task["patch"]
    report = json.loads((tmp_path / "replay" / "replay_report.json").read_text())["trajectories"][0]
    assert report["match"] and report["steps_recorded"] == report["steps_replayed"] == 4


def _mini_swe_agent_log(task, patch):
    """A bash-only mini-swe-agent log of fixing the calc task, as that agent writes it."""
    def say(thought, command):
        return {"role": "assistant", "content": f"THOUGHT: {thought}\n\n```bash\n{command}\n```"}

    def obs(output, code=0):
        return {"role": "user", "content": f"<returncode>{code}</returncode>\n<output>\n{output}</output>"}

    return {
        "trajectory_format": "mini-swe-agent-1",
        "instance_id": task["instance_id"],
        "info": {"exit_status": "Submitted", "submission": patch, "mini_version": "1.15.0"},
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that can interact with a computer shell."},
            {"role": "user", "content": f"<pr_description>\n{task['problem_statement']}\n</pr_description>"},
            say("Look at the code.", "cat calc/__init__.py"),
            obs("def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"),
            say("Fix add.", "sed -i '2s/a - b/a + b/' calc/__init__.py && python -c 'from calc import add; print(add(1, 2))'"),
            obs("3\n"),
            say("Submit.", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"),
            {"role": "user", "content": patch},
        ],
    }


@pytest.mark.docker
def test_replay_of_a_bash_only_mini_swe_agent_log(calc_task, calc_image, tmp_path):
    # The recorded submission has CRLF line endings (as some agents save them): still a match.
    log = tmp_path / "calc.traj.json"
    log.write_text(json.dumps(_mini_swe_agent_log(calc_task, calc_task["patch"].replace("\n", "\r\n"))))
    summary = _replay([calc_task], log, tmp_path / "replay")
    assert summary["replay"]["matched"] == 1, json.loads((tmp_path / "replay" / "replay_report.json").read_text())
    [traj] = [t for _, t in iter_jsonl(tmp_path / "replay" / "trajectories.jsonl")]
    assert [s["action"]["tool"] for s in traj["steps"]] == ["bash", "bash", "submit"]
    assert traj["steps"][1]["observation"].strip() == "3"


@pytest.mark.docker
def test_divergent_recordings_say_where_and_why(calc_task, calc_image, tmp_path):
    """Two recordings our sandbox cannot reproduce: a tool it does not have, and an
    environment that answers differently from the recorded one."""
    other = dict(calc_task, instance_id="local__calc-2")
    codex = Trajectory(
        id="codex-run", source_format="codex", instance_id=calc_task["instance_id"], patch=calc_task["patch"],
        steps=[Step(Action("apply_patch", {"input": "*** Begin Patch ..."}), "patch it", "Done!"),
               Step(Action("submit", {}), "", "")])
    drifted = Trajectory(
        id="drifted-run", source_format="swe-agent", instance_id="local__calc-2", patch=calc_task["patch"],
        steps=[Step(Action("bash", {"command": "cat VERSION"}), "which version?", "4.2.1\n"),
               Step(Action("bash", {"command": "test \"$(cat VERSION)\" = 4.2.1 && sed -i '2s/a - b/a + b/' calc/__init__.py"}),
                    "fix on 4.2.1", ""),
               Step(Action("submit", {}), "", "")])
    path = tmp_path / "recorded.jsonl"
    write_jsonl(path, [codex.to_dict(), drifted.to_dict()])
    summary = _replay([calc_task, other], path, tmp_path / "replay")
    assert summary["replay"]["matched"] == 0
    assert summary["replay"]["diverged"] == ["local__calc-1", "local__calc-2"]
    reports = {r["instance_id"]: r for r in json.loads((tmp_path / "replay" / "replay_report.json").read_text())["trajectories"]}
    d1 = reports["local__calc-1"]["divergence"]
    assert d1["step"] == 0 and d1["tool"] == "apply_patch" and "no equivalent in the sandbox" in d1["why"]
    d2 = reports["local__calc-2"]["divergence"]
    assert d2["step"] == 0 and "observation differs" in d2["why"] and "exit code 1" in d2["why"]
    assert "No such file" in d2["replayed_observation"] and d2["recorded_observation"] == "4.2.1\n"
    assert reports["local__calc-2"]["patch"]["files_only_recorded"] == ["calc/__init__.py"]


def test_replay_policy_errors_name_the_problem(tmp_path):
    from swe_srl.errors import SweSrlError

    with pytest.raises(SweSrlError, match="no such trajectories file"):
        load_policy(f"replay:{tmp_path}/missing.jsonl")
    path = tmp_path / "t.jsonl"
    write_jsonl(path, [Trajectory(id="a", source_format="x", instance_id="i1", steps=[]).to_dict()])
    policy = load_policy(f"replay:{path}")
    with pytest.raises(SweSrlError, match="no recorded trajectory for instance 'i2'"):
        policy.for_task({"instance_id": "i2"})
    with pytest.raises(SweSrlError, match="for_task"):
        policy.propose([{"role": "user", "content": "x"}])
    # an empty recording submits at once
    episode = policy.for_task({"instance_id": "i1"})
    [c] = episode.generate([{"role": "user", "content": "x"}])
    assert c.action.tool == "submit" and c.meta["replay_exhausted"] and episode.exhausted


@pytest.mark.parametrize("sample", [
    "mini-swe-agent/v1.15-gemini3pro__django__django-16255.traj.json",  # bash-only
    "swe-agent-traj/v1-function-calling-replace-demo__marshmallow-1867.traj",  # tool calls
])
def test_replay_policy_answers_real_logs_step_by_step(samples_dir, sample):
    """Real agent logs (their repositories cannot be built here): the replay policy
    answers each recorded action in turn, in the response format, then submits."""
    from swe_srl.rewards.format import parse_response
    from swe_srl.trajectories.parsers import parse_file

    [traj] = [t for t in parse_file(samples_dir / sample) if isinstance(t, Trajectory)]
    policy = load_policy(f"replay:{samples_dir / sample}")
    episode = policy.for_task({"instance_id": traj.instance_id})
    answered = []
    for i in range(len(traj.steps) + 1):
        [c] = episode.generate([{"role": "user", "content": "next"}])
        answered.append(c.action)
        assert c.meta["replay_step"] == i
        if c.action.tool in ("bash", "str_replace_editor", "submit") and "</parameter>" not in str(c.action.args):
            parsed = parse_response(c.text).action  # the text is a well-formed response too
            assert (parsed.tool, parsed.args) == (c.action.tool, c.action.args)
    assert answered[: len(traj.steps)] == [s.action for s in traj.steps]
    assert answered[-1].tool == "submit"


# -- recorded format-error turns replay as format errors ----------------------------------------

FORMAT_ERROR_SAMPLES = [  # mini-swe-agent runs with "EXACTLY ONE action ... found 2 actions" turns
    "mini-swe-agent/v1.15-gemini3pro__django__django-13670.traj.json",
    "mini-swe-agent/v1.15-gemini3pro__matplotlib__matplotlib-25287.traj.json",
]


class _RecordedSandbox:
    """Answers every executed action with the next recorded observation (of the steps the
    recorded agent executed) and remembers what it was asked to run."""

    class config:
        command_timeout = 60.0

    def __init__(self, steps):
        self.observations = [s.observation for s in steps if not s.meta.get("format_error")]
        self.executed = []

    def _answer(self, what):
        from swe_srl.sandbox import CommandResult

        self.executed.append(what)
        i = len(self.executed) - 1
        return CommandResult(output=self.observations[i] if i < len(self.observations) else "", exit_code=0)

    def run(self, command, timeout=None):
        return self._answer(command)

    def execute(self, action):
        return self._answer(action.render())

    def diff(self):
        return ""


@pytest.mark.parametrize("sample", FORMAT_ERROR_SAMPLES)
def test_recorded_format_error_turns_replay_as_format_errors(samples_dir, sample):
    """The parser keeps a rejected turn's first block as its action (marked format_error);
    the replay answers it as a format error, so the agent executes every command the
    recorded agent executed, in order, and none it rejected."""
    from swe_srl.agent.loop import Agent, AgentConfig
    from swe_srl.trajectories.parsers import parse_file

    [traj] = [t for t in parse_file(samples_dir / sample) if isinstance(t, Trajectory)]
    rejected = [s for s in traj.steps if s.meta.get("format_error")]
    assert len(rejected) == 1 and rejected[0].meta["actions_found"] == 2
    episode = load_policy(f"replay:{samples_dir / sample}").for_task({"instance_id": traj.instance_id})
    sandbox = _RecordedSandbox(traj.steps)
    task = {"instance_id": traj.instance_id, "problem_statement": traj.problem_statement}
    result = Agent(episode, sandbox, task, AgentConfig(max_steps=len(traj.steps) + 1)).run()
    assert result.exit_reason == "submitted"
    executed = [s for s in traj.steps if not s.meta.get("format_error") and s.action.tool != "submit"]
    assert sandbox.executed == [s.action.args["command"] if s.action.tool == "bash" else s.action.render()
                                for s in executed]
    assert rejected[0].action.args["command"] not in sandbox.executed
    [error] = result.trajectory.meta["format_errors"]
    assert error["after_step"] == traj.steps.index(rejected[0])
    assert error["reason"].startswith("recorded format error: 2 actions in one response")
    assert "EXACTLY ONE action" in error["reason"]
    assert [s.action for s in result.trajectory.steps] == [s.action for s in traj.steps if not s.meta.get("format_error")]


def _mini_swe_agent_log_with_a_rejected_turn(task, patch):
    """mini-swe-agent fixing the calc task, with a turn it rejected for holding two actions:
    the first would leave a scratch file in the submission if it ran."""
    log = _mini_swe_agent_log(task, patch)
    two_blocks = {"role": "assistant", "content": (
        "THOUGHT: Let me write a scratch script, then run it.\n\n```bash\ncat > scratch.py <<'EOF'\nprint('scratch')\nEOF\n```"
        "\n\n```bash\npython scratch.py\n```")}
    rejected = {"role": "user", "content": (
        "Please always provide EXACTLY ONE action in triple backticks, found 2 actions.\n\n"
        "Please format your action in triple backticks as shown in <response_example>.")}
    log["messages"][4:4] = [two_blocks, rejected]
    return log


@pytest.mark.docker
def test_replay_of_a_run_with_a_rejected_turn_reproduces_its_submission_byte_for_byte(calc_task, calc_image, tmp_path):
    log = tmp_path / "calc.traj.json"
    log.write_text(json.dumps(_mini_swe_agent_log_with_a_rejected_turn(calc_task, calc_task["patch"])))
    summary = _replay([calc_task], log, tmp_path / "replay")
    [pred] = [p for _, p in iter_jsonl(tmp_path / "replay" / "predictions.jsonl")]
    assert pred["model_patch"] == calc_task["patch"]  # no scratch.py: the rejected turn never ran
    assert summary["replay"]["matched"] == 1 and summary["format_errors"] == 1
    [traj] = [t for _, t in iter_jsonl(tmp_path / "replay" / "trajectories.jsonl")]
    assert traj["steps"][-1]["observation"] == calc_task["patch"]
    report = json.loads((tmp_path / "replay" / "replay_report.json").read_text())["trajectories"][0]
    assert report["format_errors_recorded"] == report["format_errors_replayed"] == 1
    assert report["steps_recorded"] == report["steps_replayed"] == 3

"""mini-swe-agent parser: every shared sample, detection, golden steps,
format-error / truncated / timeout turns, and malformed or mutated inputs."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import agent_log_parser
from swe_srl.trajectories.parsers.mini_swe_agent import parse_observation

FAMILY = "mini-swe-agent"
OTHER_DIRS = ("swe-agent-traj", "chat-messages", "openhands", "claude-code", "codex-cli")


def _parse(path: Path) -> list:
    return list(agent_log_parser(FAMILY).parse(path))


def test_every_sample_parses(samples_dir):
    files = sorted((samples_dir / FAMILY).iterdir())
    assert len(files) == 4
    for f in files:
        out = _parse(f)
        assert len(out) == 1 and isinstance(out[0], Trajectory), (f.name, out)
        assert out[0].steps and out[0].source_format == FAMILY
        assert out[0].steps[-1].action.tool == "submit", f.name


def test_detection(samples_dir, check_detection):
    check_detection(samples_dir, FAMILY, FAMILY, OTHER_DIRS)


def test_golden_dict_form(samples_dir, only_trajectory):
    t = only_trajectory(FAMILY, samples_dir / FAMILY / "v1.15-gemini3pro__django__django-16255.traj.json")
    assert len(t.steps) == 17
    assert t.instance_id == "django__django-16255" and t.repo == "django/django"
    assert t.meta["exit_status"] == "Submitted" and t.meta["mini_version"] == "1.15.0"
    assert t.problem_statement.startswith("Sitemaps without items raise ValueError on callable lastmod.")
    assert "<pr_description>" not in t.problem_statement
    first = t.steps[0]
    assert first.action.render() == "<function=bash>\n<parameter=command>ls -R django/contrib/sitemaps</parameter>\n</function>"
    assert first.meta["exit_code"] == 0
    assert first.observation.startswith("django/contrib/sitemaps:\n__init__.py\n")
    assert "<returncode>" not in first.observation and "<output>" not in first.observation
    assert first.thought.startswith("I need to locate the file")  # "THOUGHT:" label dropped
    last = t.steps[-1]
    assert last.action.tool == "submit"
    assert last.action.raw == "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"
    assert t.patch.startswith("diff --git a/django/contrib/sitemaps/__init__.py b/django/contrib/sitemaps/__init__.py\n")
    assert last.observation == t.patch  # the submission is the final output


def test_format_error_and_truncated_output(samples_dir, only_trajectory):
    t = only_trajectory(FAMILY, samples_dir / FAMILY / "v1.15-gemini3pro__django__django-13670.traj.json")
    assert len(t.steps) == 22
    flagged = {i: s.meta for i, s in enumerate(t.steps) if s.meta.get("format_error") or s.meta.get("truncated")}
    assert set(flagged) == {3, 10}
    trunc = t.steps[3]
    assert trunc.meta["truncated"] is True and trunc.meta["exit_code"] == 0
    assert trunc.action.args == {"command": "cat django/utils/dateformat.py"}
    assert trunc.observation.startswith("<output_head>\n")
    assert "<elided_chars>" in trunc.observation and trunc.observation.rstrip().endswith("</output_tail>")
    err = t.steps[10]
    assert err.meta["format_error"] is True and err.meta["actions_found"] == 2
    assert err.observation.startswith("Please always provide EXACTLY ONE action in triple backticks, found 2 actions.")
    assert sum(1 for s in t.steps if s.meta.get("format_error")) == 1


def test_timeout_turn(samples_dir, only_trajectory):
    t = only_trajectory(FAMILY, samples_dir / FAMILY / "v1.15-gemini3pro__matplotlib__matplotlib-25287.traj.json")
    assert len(t.steps) == 32
    timed_out = [s for s in t.steps if s.meta.get("timed_out")]
    assert len(timed_out) == 1
    assert timed_out[0].action.args == {"command": "pytest lib/matplotlib/tests/test_axes.py"}
    assert timed_out[0].meta["exit_code"] is None
    assert timed_out[0].observation.startswith("============================= test session starts")
    assert sum(1 for s in t.steps if s.meta.get("format_error")) == 1


def test_bare_list_form_and_new_fence(samples_dir, only_trajectory):
    t = only_trajectory(FAMILY, samples_dir / FAMILY / "official-test-fixture__local.traj.json")
    assert [s.action.to_dict() for s in t.steps] == [
        {"tool": "bash", "args": {"command": "echo 'hello world'"}, "raw": "echo 'hello world'"},
        {"tool": "submit", "args": {}, "raw": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"},
    ]
    assert t.steps[0].observation == "hello world\n" and t.steps[0].meta["exit_code"] == 0
    assert t.problem_statement == "Blah blah blah"
    assert t.instance_id == "official-test-fixture__local" and t.patch is None


def test_parse_observation():
    assert parse_observation("<returncode>2</returncode>\n<output>\nboom\n</output>") == ("boom\n", {"exit_code": 2})
    text, meta = parse_observation("<returncode>0</returncode>\n<warning>\nlong\n</warning><output_head>\na\n"
                                   "</output_head>\n<elided_chars>\n5 characters elided\n</elided_chars>\n"
                                   "<output_tail>\nb\n</output_tail>")
    assert meta == {"exit_code": 0, "truncated": True} and text.startswith("<output_head>") and "long" not in text


def test_zero_actions_is_a_format_error_step(tmp_path):
    msgs = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Please solve this issue: fix it\n\nYou can execute bash commands and edit files."},
        {"role": "assistant", "content": "I think I should look around."},
        {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks, found 0 actions."},
        {"role": "assistant", "content": "THOUGHT: ok\n\n```bash\nls\n```"},
        {"role": "user", "content": "<returncode>0</returncode>\n<output>\na.py\n</output>"},
    ]
    p = tmp_path / "x__y-1.traj.json"
    p.write_text(json.dumps({"info": {}, "messages": msgs, "trajectory_format": "mini-swe-agent-1"}))
    (t,) = _parse(p)
    assert t.steps[0].action.tool == "none" and t.steps[0].meta["format_error"] is True
    assert t.steps[0].meta["actions_found"] == 0
    assert t.steps[1].action.args == {"command": "ls"} and t.steps[1].observation == "a.py\n"
    assert t.problem_statement == "fix it" and t.instance_id == "x__y-1" and t.repo == "x/y"


# --------------------------------------------------------------------------- bad input


def test_malformed_inputs(samples_dir, tmp_path, only_parse_errors):
    good = (samples_dir / FAMILY / "v1.15-gemini3pro__django__django-16255.traj.json").read_bytes()
    data = json.loads(good)
    cases = {
        "truncated": good[: len(good) // 3],
        "empty": b"",
        "empty_list": b"[]",
        "nonutf8": good[:300] + b"\xc3\x28" + good[300:],
        "messages_type": json.dumps({**data, "messages": "hello"}).encode(),
        "message_item": json.dumps({**data, "messages": [1, 2]}).encode(),
        "role_type": json.dumps({**data, "messages": [{"role": 3, "content": "x"}]}).encode(),
        "content_type": json.dumps({**data, "messages": [{"role": "assistant", "content": 42}]}).encode(),
        "info_type": json.dumps({**data, "info": [1]}).encode(),
        "no_assistant": json.dumps({**data, "messages": data["messages"][:2]}).encode(),
        "scalar": b"17",
    }
    reasons = {}
    for name, payload in cases.items():
        p = tmp_path / f"{name}.traj.json"
        p.write_bytes(payload)
        reasons[name] = only_parse_errors(FAMILY, p)[0].reason
    assert "invalid JSON" in reasons["truncated"] and "invalid JSON" in reasons["nonutf8"]
    assert reasons["empty_list"] == "no steps" and reasons["no_assistant"] == "no steps"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_samples_give_trajectories_or_parse_errors(samples_dir, check_drawn_mutation, data):
    name = data.draw(st.sampled_from(sorted(p.name for p in (samples_dir / FAMILY).iterdir())))
    doc = json.loads((samples_dir / FAMILY / name).read_bytes())
    check_drawn_mutation(data, FAMILY, name, doc, 6)

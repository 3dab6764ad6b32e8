"""SWE-agent ``.traj`` parser: every shared sample, detection, golden steps,
ACI command mapping, and malformed inputs (only ParseError may come out)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swe_srl.errors import ParseError
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import detect_format, agent_log_parser, parse_file
from swe_srl.trajectories.parsers.aci import AciState, last_fenced_block, normalize_patch, parse_command

FAMILY = "swe-agent-traj"
OTHER_DIRS = ("mini-swe-agent", "chat-messages", "openhands", "claude-code", "codex-cli")


def _parse(path: Path) -> list:
    return list(agent_log_parser("swe-agent").parse(path))


def test_every_sample_parses(samples_dir):
    files = sorted((samples_dir / FAMILY).iterdir())
    assert len(files) == 5
    for f in files:
        out = _parse(f)
        errors = [o for o in out if isinstance(o, ParseError)]
        assert not errors, (f.name, errors)
        assert len(out) == 1 and out[0].steps, f.name
        assert out[0].source_format == "swe-agent"
        for step in out[0].steps:
            step.action.render()  # every action renders


def test_detection(samples_dir, check_detection):
    check_detection(samples_dir, FAMILY, "swe-agent", OTHER_DIRS)


def test_golden_v0_pydicom(samples_dir, only_trajectory):
    t = only_trajectory("swe-agent", samples_dir / FAMILY / "v0-gpt4__pydicom__pydicom-1458.traj")
    assert len(t.steps) == 12  # the is_demo demonstration is not part of the run
    assert t.instance_id == "pydicom__pydicom-1458" and t.repo == "pydicom/pydicom"
    assert t.meta["layout"] == "0.x" and t.meta["exit_status"] == "submitted"
    assert t.outcome == "unknown"
    assert t.problem_statement.startswith("Pixel Representation attribute should be optional for pixel data handler")
    assert "INSTRUCTIONS" not in t.problem_statement
    first = t.steps[0].action
    assert first.render() == (
        "<function=str_replace_editor>\n<parameter=command>create</parameter>\n"
        "<parameter=path>/pydicom__pydicom/reproduce_bug.py</parameter>\n<parameter=file_text></parameter>\n</function>"
    )
    assert first.raw == "create reproduce_bug.py\n"
    # `edit 1:1` on the file `create` just made (the viewer showed one empty line): it writes the content
    edit = t.steps[1].action
    assert edit.tool == "str_replace_editor" and edit.args["command"] == "insert" and edit.args["insert_line"] == 0
    assert edit.args["path"] == "/pydicom__pydicom/reproduce_bug.py"  # the open file from the step state
    assert edit.args["new_str"].startswith("import numpy as np\nfrom pydicom.dataset import Dataset")
    assert edit.args["new_str"].endswith('print("Script completed successfully, no errors. Result:", result)')
    assert "end_of_edit" not in edit.args["new_str"] and edit.raw.startswith("edit 1:1\n")
    # `edit 287:295` after a view of lines 243..343 (and rejected attempts that showed the file unchanged)
    fix = t.steps[8].action
    assert fix.args["command"] == "str_replace" and fix.raw.startswith("edit 287:296\n")
    assert fix.args["old_str"].startswith("    required_elements = [\n        'BitsAllocated', 'Rows', 'Columns',")
    assert fix.args["old_str"].count("\n") == 9  # lines 287..296
    assert t.steps[3].action.to_dict()["args"] == {"file_name": "numpy_handler.py"}
    view = t.steps[4].action
    assert view.args == {"command": "view", "path": "/pydicom__pydicom/pydicom/pixel_data_handlers/numpy_handler.py",
                         "view_range": [243, 343]}
    assert t.steps[5].action.args["path"] == "/pydicom__pydicom/pydicom/pixel_data_handlers/numpy_handler.py"
    assert t.steps[10].action.args == {"command": "rm reproduce_bug.py"}
    assert t.steps[-1].action.tool == "submit" and t.steps[-1].action.render() == "<function=submit>\n</function>"
    assert t.steps[0].thought.startswith("First, I'll create a new Python script")
    assert t.steps[2].observation.startswith("Traceback (most recent call last):")
    assert t.patch.startswith("diff --git a/pydicom/pixel_data_handlers/numpy_handler.py b/pydicom/pixel_data_handlers/")


def test_golden_v0_human_demo(samples_dir, only_trajectory):
    t = only_trajectory("swe-agent", samples_dir / FAMILY / "v0-human-thought-demo__humanevalfix-python-0.traj")
    assert [s.action.tool for s in t.steps] == ["bash", "str_replace_editor", "str_replace_editor", "bash", "submit"]
    assert t.steps[1].action.args == {"command": "view", "path": "/swe-bench__humanevalfix-python/main.py"}
    # `edit 15:15`: line 15 as the `open` showed it is the text replaced
    assert t.steps[2].action.args == {"command": "str_replace", "path": "/swe-bench__humanevalfix-python/main.py",
                                      "old_str": "                distance = elem - elem2",
                                      "new_str": "                distance = abs(elem - elem2)"}
    assert t.repo == "swe-bench/humanevalfix-python"  # from SWE-agent 0.x's /<owner>__<name> working dir
    assert t.patch.startswith("diff --git a/main.py b/main.py\n")


def test_golden_v1_function_calling(samples_dir, only_trajectory):
    t = only_trajectory("swe-agent", samples_dir / FAMILY / "v1-function-calling-replace-demo__marshmallow-1867.traj")
    assert len(t.steps) == 11
    assert t.meta["layout"] == "1.x"
    assert t.instance_id == "marshmallow-code__marshmallow-1867" and t.repo == "marshmallow-code/marshmallow"
    assert t.base_commit == "bfd2593d4b416122e30cdefe0c72d322ef471611"
    assert t.steps[0].action.args == {"command": "create", "path": "/testbed/reproduce.py", "file_text": ""}
    assert t.steps[0].meta["tool_call_id"] == "call_cyI71DYnRdoLHWwtZgIaW2wr"
    assert isinstance(t.steps[0].meta["execution_time"], float)
    # structured tool-call arguments win over the flattened "edit 'old' 'new'" string
    edit = t.steps[7].action
    assert edit.tool == "str_replace_editor"
    assert edit.args == {
        "command": "str_replace", "path": "/testbed/src/marshmallow/fields.py",
        "old_str": "return int(value.total_seconds() / base_unit.total_seconds())",
        "new_str": "# round to nearest int\n        return int(round(value.total_seconds() / base_unit.total_seconds()))",
    }
    assert edit.raw.startswith("edit 'return int(value.total_seconds()")
    assert t.steps[5].action.args["view_range"] == [1424, 1524]
    assert t.steps[-1].action.tool == "submit"
    assert "\r" not in t.patch and t.patch.startswith("diff --git a/src/marshmallow/fields.py b/src/marshmallow/fields.py\n")
    assert "\r" not in t.steps[3].observation  # pty CRLF normalised


def test_golden_history_only(samples_dir, only_trajectory):
    t = only_trajectory("swe-agent", samples_dir / FAMILY / "v1-history-only-demo__function_calling_simple.traj")
    assert t.meta["layout"] == "history-only"
    assert [s.action.tool for s in t.steps] == ["find_file", "str_replace_editor", "str_replace_editor", "bash", "submit"]
    assert t.steps[0].action.args == {"file_name": "missing_colon.py"}
    assert t.steps[1].action.args == {"command": "view", "path": "/SWE-agent__test-repo/tests/missing_colon.py"}
    assert t.steps[2].action.args["old_str"] == "def division(a: float, b: float) -> float"
    assert t.steps[3].observation == "8.2"  # footer "(Open file: ..)(Current directory: ..)bash-$" stripped
    assert all("(Current directory:" not in s.observation for s in t.steps)
    assert t.repo == "SWE-agent/test-repo"
    assert t.patch.startswith("diff --git a/tests/missing_colon.py b/tests/missing_colon.py\n")  # from submit's output


def test_golden_v1_crlf_submission(samples_dir, only_trajectory):
    t = only_trajectory("swe-agent", samples_dir / FAMILY / "v1-test__6e44b9__sweagenttestrepo-1c2844.traj")
    assert len(t.steps) == 5
    assert t.instance_id == "v1-test__6e44b9__sweagenttestrepo-1c2844"  # the file name: not a SWE-bench id
    assert t.repo == "SWE-agent/test-repo"  # from replay_config.env.repo.github_url
    assert "\r" not in t.patch
    assert t.patch.startswith("diff --git a/tests/missing_colon.py b/tests/missing_colon.py\nindex 20edef5..5857437 100755\n")
    assert t.steps[2].action.args["new_str"] == "def division(a: float, b: float) -> float:"
    assert t.steps[-1].action.tool == "submit"


# --------------------------------------------------------------------------- ACI mapping


@pytest.mark.parametrize(
    "command, tool, args",
    [
        ("goto 583\n", "goto", {"line_number": 583}),
        ("scroll_down\n", "scroll_down", {}),
        ("scroll_up", "scroll_up", {}),
        ('search_file "def foo" src/a.py', "search_file", {"search_term": "def foo", "file": "src/a.py"}),
        ('search_dir "needle"', "search_dir", {"search_term": "needle"}),
        ("search_dir needle lib", "search_dir", {"search_term": "needle", "dir": "lib"}),
        ("find_file setup.py /repo", "find_file", {"file_name": "setup.py", "dir": "/repo"}),
        ("open src/x.py", "str_replace_editor", {"command": "view", "path": "/repo/src/x.py"}),
        ("open /abs/x.py 10", "str_replace_editor", {"command": "view", "path": "/abs/x.py", "view_range": [1, 60]}),
        ("create new.py", "str_replace_editor", {"command": "create", "path": "/repo/new.py", "file_text": ""}),
        ("submit", "submit", {}),
        ("ls -la | grep foo\n", "bash", {"command": "ls -la | grep foo"}),
        ("python -c 'open(1)'", "bash", {"command": "python -c 'open(1)'"}),
        ("edit 3:4\nnew line\n\nend_of_edit", "edit",
         {"path": "/repo/a.py", "start_line": 3, "end_line": 4, "replacement": "new line\n"}),
        ("edit 7:7\nend_of_edit", "edit", {"path": "/repo/a.py", "start_line": 7, "end_line": 7, "replacement": ""}),
        ("edit 'a = 1' 'a = 2'", "str_replace_editor",
         {"command": "str_replace", "path": "/repo/a.py", "old_str": "a = 1", "new_str": "a = 2"}),
        ("insert 'x = 1' 5", "str_replace_editor",
         {"command": "insert", "path": "/repo/a.py", "insert_line": 5, "new_str": "x = 1"}),
        ("str_replace_editor view /testbed/a.py --view_range 1 20", "str_replace_editor",
         {"command": "view", "path": "/testbed/a.py", "view_range": [1, 20]}),
        ("str_replace_editor str_replace /testbed/a.py --old_str 'x y' --new_str z", "str_replace_editor",
         {"command": "str_replace", "path": "/testbed/a.py", "old_str": "x y", "new_str": "z"}),
    ],
)
def test_aci_commands(command, tool, args):
    state = AciState(open_file="/repo/a.py", cwd="/repo")
    action = parse_command(command, state)
    assert (action.tool, action.args) == (tool, args)
    assert action.raw == command


def test_open_view_range_clipped_to_file_length():
    action = parse_command("open a.py 5", AciState(cwd="/r"), observation="[File: /r/a.py (23 lines total)]\n1:x")
    assert action.args["view_range"] == [1, 23]


def test_last_fenced_block_keeps_fences_inside_an_edit():
    text = "Fix the README.\n```\nedit 1:3\n# Title\n```\ncode\n```\nend_of_edit\n```\n"
    thought, command = last_fenced_block(text)
    assert thought == "Fix the README."
    action = parse_command(command, AciState(open_file="/r/README.md"))
    assert action.args["replacement"] == "# Title\n```\ncode\n```"
    assert last_fenced_block("no block here") is None


def test_normalize_patch_keeps_genuine_crlf_content():
    crlf_pty = "\r\ndiff --git a/x b/x\r\n--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n"
    assert normalize_patch(crlf_pty) == "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"
    crlf_file = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\r\n+b\r\n"
    assert normalize_patch(crlf_file) == crlf_file
    assert normalize_patch("") is None and normalize_patch(None) is None


# --------------------------------------------------------------------------- bad input


def _write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def test_malformed_inputs(samples_dir, tmp_path, only_parse_errors):
    good = (samples_dir / FAMILY / "v0-gpt4__pydicom__pydicom-1458.traj").read_bytes()
    data = json.loads(good)
    cases = {
        "truncated.traj": good[: len(good) // 2],
        "empty.traj": b"",
        "list.traj": b"[]",
        "nonutf8.traj": good[:200] + b"\xff\xfe" + good[200:],
        "no_steps.traj": json.dumps({"environment": "x", "trajectory": [], "history": [], "info": {}}),
        "traj_type.traj": json.dumps({**data, "trajectory": 5}),
        "action_type.traj": json.dumps({**data, "trajectory": [{**data["trajectory"][0], "action": 7}]}),
        "step_type.traj": json.dumps({**data, "trajectory": ["oops"]}),
        "history_type.traj": json.dumps({**data, "history": {"a": 1}}),
        "history_item.traj": json.dumps({"history": [3, 4]}),
        "info_type.traj": json.dumps({**data, "info": "submitted"}),
        "content_type.traj": json.dumps({"history": [{"role": "assistant", "content": 5, "action": "ls"}]}),
    }
    reasons = {}
    for name, payload in cases.items():
        path = _write(tmp_path, name, payload)
        errors = only_parse_errors("swe-agent", path)
        assert all(o.where and str(path) in o.where for o in errors)
        reasons[name] = errors[0].reason
    assert "invalid JSON" in reasons["truncated.traj"] and "invalid JSON" in reasons["nonutf8.traj"]
    assert "no steps" in reasons["no_steps.traj"]
    assert "trajectory[0].action" in reasons["action_type.traj"]
    # through the registry as well: no exception escapes
    for name in cases:
        out = list(parse_file(tmp_path / name, "swe-agent"))
        assert all(isinstance(o, ParseError) for o in out)


def test_swe_smith_style_traj_with_str_replace_editor(tmp_path):
    """SWE-agent 1.x with the edit_anthropic tools (the SWE-smith data the SRL
    paper trains on): tool_calls win; without them the flattened string is read."""
    create_args = {"command": "create", "path": "/testbed/r.py", "file_text": "print(1)\n"}
    traj = {
        "environment": "main",
        "trajectory": [
            {"action": "str_replace_editor create /testbed/r.py --file_text 'print(1)\n'", "observation": "ok",
             "response": "", "thought": "make a script", "state": {"working_dir": "/testbed"}, "execution_time": 0.1},
            {"action": "str_replace_editor view /testbed/r.py --view_range 1 5", "observation": "1 print(1)",
             "response": "", "thought": "look", "state": {"working_dir": "/testbed"}},
            {"action": "submit", "observation": "diff --git a/r.py b/r.py\n", "response": "", "thought": "done",
             "state": {}},
        ],
        "history": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "<pr_description>\nDEMO TASK\n</pr_description>", "is_demo": True},
            {"role": "assistant", "content": "demo", "is_demo": True, "action": "ls",
             "tool_calls": [{"id": "d", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]},
            {"role": "user", "content": "<uploaded_files>\n/testbed\n</uploaded_files>\n<pr_description>\nReal task\n"
                                        "</pr_description>"},
            {"role": "assistant", "content": "make a script",
             "action": "str_replace_editor create /testbed/r.py --file_text 'print(1)\n'",
             "tool_calls": [{"id": "c1", "type": "function",
                             "function": {"name": "str_replace_editor", "arguments": json.dumps(create_args)}}]},
            {"role": "tool", "content": "ok", "tool_call_ids": ["c1"]},
            {"role": "assistant", "content": "look", "action": "str_replace_editor view /testbed/r.py --view_range 1 5"},
            {"role": "user", "content": "1 print(1)"},
            {"role": "assistant", "content": "done", "action": "submit"},
        ],
        "info": {"submission": "diff --git a/r.py b/r.py\n", "exit_status": "submitted"},
    }
    p = tmp_path / "owner__repo.abcdef12.func_pm__x.traj"
    p.write_text(json.dumps(traj))
    assert detect_format(p) == "swe-agent"
    (t,) = _parse(p)
    assert [s.action.args for s in t.steps] == [
        create_args,
        {"command": "view", "path": "/testbed/r.py", "view_range": [1, 5]},
        {},
    ]
    assert t.steps[0].meta["tool_call_id"] == "c1" and t.steps[0].thought == "make a script"
    assert t.problem_statement == "Real task"  # the demonstration's task is skipped
    assert t.instance_id == "owner__repo.abcdef12.func_pm__x" and t.repo == "owner/repo"
    assert t.patch == "diff --git a/r.py b/r.py\n"


def test_retry_agent_attempts(samples_dir, tmp_path):
    one = json.loads((samples_dir / FAMILY / "v1-test__6e44b9__sweagenttestrepo-1c2844.traj").read_bytes())
    broken = {**one, "trajectory": "oops"}
    p = tmp_path / "SWE-agent__test-repo-1.traj"
    p.write_text(json.dumps({"attempts": [one, broken, one], "info": {"exit_status": "submitted"}}))
    out = _parse(p)
    assert [type(o).__name__ for o in out] == ["Trajectory", "ParseError", "Trajectory"]
    assert [o.id for o in out if isinstance(o, Trajectory)] == ["SWE-agent__test-repo-1:attempt0",
                                                               "SWE-agent__test-repo-1:attempt2"]
    assert out[2].meta["attempt"] == 2 and len(out[2].steps) == 5


def test_history_only_0x_tracks_the_open_file(tmp_path):
    footer = "\n(Open file: {f})\n(Current directory: /owner__proj)\nbash-$"
    history = [
        {"role": "system", "content": "SETTING: ...", "agent": "primary"},
        {"role": "user", "content": "ISSUE:\nIt breaks\n\nINSTRUCTIONS:\n..." + footer.format(f="n/a"), "agent": "primary"},
        {"role": "assistant", "content": "Look.\n```\nopen a.py\n```", "agent": "primary"},  # no 'action' field
        {"role": "user", "content": "[File: /owner__proj/a.py (3 lines total)]\n1:x" + footer.format(f="/owner__proj/a.py")},
        {"role": "assistant", "content": "Fix.", "thought": "Fix.", "action": "edit 1:1\ny\nend_of_edit\n"},
        {"role": "user", "content": "File updated." + footer.format(f="/owner__proj/a.py")},
        {"role": "assistant", "content": "More.", "thought": "More.", "action": "edit 3:3\nz\nend_of_edit\n"},
        {"role": "user", "content": "File updated." + footer.format(f="/owner__proj/a.py")},
        {"role": "assistant", "content": "Done.\n<function=submit>\n</function>"},
    ]
    p = tmp_path / "owner__proj-7.traj"
    p.write_text(json.dumps({"history": history}))
    (t,) = _parse(p)
    assert [s.action.tool for s in t.steps] == ["str_replace_editor", "str_replace_editor", "edit", "submit"]
    assert t.steps[0].action.args == {"command": "view", "path": "/owner__proj/a.py"}
    assert t.steps[0].thought == "Look."
    # line 1 was shown: a str_replace; line 3 never was: the line-range edit stays as written
    assert t.steps[1].action.args == {"command": "str_replace", "path": "/owner__proj/a.py", "old_str": "x",
                                      "new_str": "y"}
    assert t.steps[2].action.args == {"path": "/owner__proj/a.py", "start_line": 3, "end_line": 3, "replacement": "z"}
    assert t.steps[1].observation == "File updated."
    assert t.problem_statement == "It breaks" and t.repo == "owner/proj" and t.instance_id == "owner__proj-7"


def test_exit_steps_written_by_swe_agent_are_not_actions(samples_dir, tmp_path):
    data = json.loads((samples_dir / FAMILY / "v0-human-thought-demo__humanevalfix-python-0.traj").read_bytes())
    steps = data["trajectory"][:2] + [{"action": "exit_cost", "observation": "Exited (autosubmitted)", "thought": "",
                                       "response": "", "state": data["trajectory"][1]["state"]}]
    steps[1] = {**steps[1], "thought": "", "response": "Open it.\n```\nopen main.py\n```"}
    p = tmp_path / "cost.traj"
    p.write_text(json.dumps({**data, "trajectory": steps}))
    (t,) = _parse(p)
    assert [s.action.tool for s in t.steps] == ["bash", "str_replace_editor"]
    assert t.steps[1].thought == "Open it."  # from the response when the thought is empty

"""Claude Code parser: every shared sample, detection, golden sessions, tree rules, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.errors import ParseError
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import detect_format
from swe_srl.trajectories.parsers.claude_code import claude_actions

NAME = "claude-code"
FAMILY_DIR = "claude-code"
SAMPLES = [
    "real-v2.1.38__short.jsonl",
    "real-v2.1.38__tool_heavy.jsonl",
    "real-v2.1.39-main-session-with-edits__ae4a77f8.jsonl",
    "real-v2.1.39-subagent-sidechain__agent-a2898e3.jsonl",
    "synthetic-v1.0__representative_messages.jsonl",
    "synthetic-web-export-loglines__sample_session.json",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses_with_steps(samples_dir, name, parse_clean):
    trajs = parse_clean(NAME, samples_dir / FAMILY_DIR / name)
    assert trajs
    for t in trajs:
        assert t.steps and t.source_format == NAME and t.patch is None
        for s in t.steps:
            s.action.render()
        json.dumps(t.to_dict())


def test_all_family_samples_are_listed(samples_dir):
    assert sorted(p.name for p in (samples_dir / FAMILY_DIR).iterdir()) == sorted(SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_detect_picks_claude_code(samples_dir, name):
    assert detect_format(samples_dir / FAMILY_DIR / name) == NAME


def test_detect_says_no_to_other_formats(samples_dir, check_not_detected):
    assert check_not_detected(samples_dir, NAME, FAMILY_DIR)


# -- golden expectations (checked against the files by hand) ------------------------------------


def test_golden_main_session_with_compaction(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "real-v2.1.39-main-session-with-edits__ae4a77f8.jsonl")
    assert t.id == "ae4a77f8-aedd-4bc1-888f-c94edc91af04"
    assert len(t.steps) == 242  # every tool_use id in the file: all lie on the main chain
    assert t.problem_statement.startswith("Work on bead spotter-4te. Run bd show spotter-4te")
    assert (t.steps[0].action.tool, t.steps[0].action.args) == ("bash", {"command": "bd show spotter-4te"})
    assert t.steps[0].thought == "Let me check the issue details and find available subtasks."
    assert t.steps[0].observation.startswith("○ spotter-4te [EPIC]")
    assert (t.steps[-1].action.tool, t.steps[-1].action.args) == ("bash", {"command": "git log --oneline -10"})
    assert t.meta["compactions"] == 1  # the chain crosses the compact_boundary via logicalParentUuid
    assert t.meta["final_message"].startswith("All done. The entire **spotter-4te** epic")
    commands = [s.action.args.get("command") for s in t.steps if s.action.tool == "str_replace_editor"]
    assert commands.count("create") == 6 and commands.count("str_replace") == 67 and commands.count("view") == 37
    # the prompt after the compaction is a user message, the /compact wrapper and the summary are not
    user = [s.meta["user_message"] for s in t.steps if "user_message" in s.meta]
    assert user == ["continue implementation"]
    # replace_all kept only when true
    flags = [s.action.args.get("replace_all") for s in t.steps if s.action.args.get("command") == "str_replace"]
    assert set(flags) == {None, True}


def test_golden_parallel_tool_uses_split_over_lines(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "real-v2.1.38__tool_heavy.jsonl")
    # the Glob call hangs off the WebSearch line and is not an ancestor of the last line;
    # it is kept because it belongs to the same API response (message.id)
    assert [s.action.tool for s in t.steps] == ["bash", "bash", "WebSearch", "Glob", "str_replace_editor", "WebFetch"]
    assert t.steps[0].action.args == {"command": "mix phx.server"}
    assert t.steps[3].action.args == {"pattern": "assets/js/**/*.js"}
    assert t.steps[3].observation == "/home/marco/projects/spotter/assets/js/app.js"
    assert t.steps[2].meta["user_message"].startswith("scrolling back in xterm.js still does not work")
    assert t.steps[2].thought.startswith("The user wants me to research why scrolling in xterm.js")
    assert t.steps[4].action.args == {"command": "view", "path": "/home/marco/projects/spotter/assets/js/app.js"}
    assert t.problem_statement == "start phoenix in background"


def test_golden_short_session(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "real-v2.1.38__short.jsonl")
    assert t.problem_statement == "mix phx.server doesnt seem to start"
    assert [(s.action.tool, s.action.args) for s in t.steps] == [
        ("bash", {"command": "mix phx.server 2>&1 | head -80"}),
        ("Glob", {"pattern": "mix.exs", "path": "/home/marco/projects/spotter"}),
    ]
    assert all(s.meta["error"] is True for s in t.steps)  # the user rejected both calls
    assert t.steps[0].thought.startswith("The user is having trouble starting their Phoenix server.")
    assert t.steps[0].thought.endswith("Let me check the project structure and try running the server to see the error.")


def test_golden_subagent_sidechain(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "real-v2.1.39-subagent-sidechain__agent-a2898e3.jsonl")
    assert t.id == "4d5611e5-241a-462a-8d15-5122611a9569:agent-a2898e3"
    assert t.meta["sidechain"] is True and t.meta["agent_id"] == "a2898e3"
    assert t.problem_statement.startswith("Very thorough exploration. I need to understand:")
    assert len(t.steps) == 33
    assert t.steps[0].action.args == {
        "command": "view", "path": "/home/USER/projects/spotter-worktrees/spotter-dov/lib/spotter_web/live/session_live.ex"}
    ranged = [s.action.args for s in t.steps if "view_range" in s.action.args]
    assert ranged == [{"command": "view", "view_range": [1, 200],
                       "path": "/home/USER/projects/spotter-worktrees/spotter-dov/priv/static/assets/spotter.css"}]


def test_golden_v1_synthetic(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "synthetic-v1.0__representative_messages.jsonl")
    assert t.problem_statement == "Hello Claude! Can you help me understand how Python decorators work?"
    first, last = t.steps
    # an Edit with an empty old_string creates the file
    assert first.action.args["command"] == "create" and first.action.args["path"] == "/tmp/decorator_example.py"
    assert first.action.args["file_text"].startswith("def repeat(times):")
    assert first.meta["user_message"] == "Great! Can you also show me how to create a decorator that takes parameters?"
    # the previous turn's answer was a reply to the user, not this step's thought
    assert first.thought == ""
    assert last.action.args == {"command": "python /tmp/decorator_example.py"}
    assert last.observation == "Hello, Alice!\nHello, Alice!\nHello, Alice!"


def test_golden_web_export(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "synthetic-web-export-loglines__sample_session.json")
    assert len(t.steps) == 12 and t.meta["compactions"] == 1
    assert [s.action.tool for s in t.steps].count("TodoWrite") == 1
    first, last = t.steps[0], t.steps[-1]
    assert first.action.args["command"] == "create" and first.action.args["path"] == "/project/math_utils.py"
    assert first.thought.startswith("The user wants a simple addition function.")
    assert last.action.args["command"] == "str_replace" and last.action.args["path"] == "/project/math_utils.py"
    assert last.meta["user_message"] == "Add a multiply function too"
    failing = [s for s in t.steps if s.meta.get("error")]
    assert [s.action.args for s in failing] == [{"command": "python -m pytest tests/ -v"}]
    assert t.meta["final_message"] == "Added multiply function!"


# -- tree rules and tool mapping on small constructed sessions ------------------------------------


def _line(uuid, parent, role, content, msg_id=None, **extra):
    msg = {"role": role, "content": content}
    if msg_id:
        msg["id"] = msg_id
    return {"type": role, "uuid": uuid, "parentUuid": parent, "sessionId": "s1", "isSidechain": False,
            "message": msg, **extra}


def _use(tid, name, inp):
    return [{"type": "tool_use", "id": tid, "name": name, "input": inp}]


def _result(tid, text):
    return [{"type": "tool_result", "tool_use_id": tid, "content": text}]


def test_abandoned_branch_is_left_out_and_sidechains_split(tmp_path, parse_clean, write_jsonl):
    records = [
        _line("u1", None, "user", "fix the bug"),
        _line("a1", "u1", "assistant", _use("t1", "Bash", {"command": "ls"}), "m1"),
        _line("r1", "a1", "user", _result("t1", "a.py")),
        _line("a2x", "r1", "assistant", _use("t2x", "Bash", {"command": "rm -rf /"}), "m2x"),  # abandoned retry
        _line("r2x", "a2x", "user", _result("t2x", "no")),
        _line("a2", "r1", "assistant", _use("t2", "Read", {"file_path": "/a.py", "offset": 10, "limit": 5}), "m2"),
        {"type": "progress", "uuid": "p1", "parentUuid": "a2", "data": {}},
        _line("r2", "a2", "user", _result("t2", "code")),
        _line("s1", None, "user", "subtask prompt", isSidechain=True, agentId="abc"),
        _line("s2", "s1", "assistant", _use("t9", "Grep", {"pattern": "x"}), "m9", isSidechain=True, agentId="abc"),
        _line("s3", "s2", "user", _result("t9", "hit"), isSidechain=True, agentId="abc"),
        _line("a3", "r2", "assistant", [{"type": "text", "text": "Done."}], "m3"),
    ]
    main, side = parse_clean(NAME, write_jsonl(tmp_path / "s.jsonl", records))
    assert [s.action.render() for s in main.steps] == [
        '<function=bash>\n<parameter=command>ls</parameter>\n</function>',
        '<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/a.py</parameter>\n'
        '<parameter=view_range>[10, 14]</parameter>\n</function>',
    ]
    assert [s.observation for s in main.steps] == ["a.py", "code"]
    assert main.meta["final_message"] == "Done."
    assert side.id == "s1:agent-abc" and side.problem_statement == "subtask prompt"
    assert [(s.action.tool, s.observation) for s in side.steps] == [("Grep", "hit")]


def test_tool_mapping():
    [a] = claude_actions("Edit", {"file_path": "/f", "old_string": "a", "new_string": "b", "replace_all": False})
    assert a.args == {"command": "str_replace", "path": "/f", "old_str": "a", "new_str": "b"}
    [a] = claude_actions("Write", {"file_path": "/f", "content": "x\n"})
    assert a.args == {"command": "create", "path": "/f", "file_text": "x\n"}
    [a] = claude_actions("Read", {"file_path": "/f", "limit": 20})
    assert a.args == {"command": "view", "path": "/f", "view_range": [1, 20]}
    [a] = claude_actions("Read", {"file_path": "/f", "offset": 30})
    assert a.args["view_range"] == [30, -1]
    many = claude_actions("MultiEdit", {"file_path": "/f", "edits": [
        {"old_string": "a", "new_string": "b"}, {"old_string": "c", "new_string": "d", "replace_all": True}]})
    assert [m.args for m in many] == [
        {"command": "str_replace", "path": "/f", "old_str": "a", "new_str": "b"},
        {"command": "str_replace", "path": "/f", "old_str": "c", "new_str": "d", "replace_all": True}]
    [a] = claude_actions("mcp__github__get_issue", {"number": 3})
    assert (a.tool, a.args) == ("mcp__github__get_issue", {"number": 3})


def test_multiedit_becomes_several_steps(tmp_path, parse_clean, write_jsonl):
    records = [
        _line("u1", None, "user", "rename"),
        _line("a1", "u1", "assistant", _use("t1", "MultiEdit", {"file_path": "/f", "edits": [
            {"old_string": "a", "new_string": "b"}, {"old_string": "c", "new_string": "d"}]}), "m1"),
        _line("r1", "a1", "user", _result("t1", "Applied 2 edits")),
    ]
    [t] = parse_clean(NAME, write_jsonl(tmp_path / "m.jsonl", records))
    assert [(s.action.args["old_str"], s.observation, s.meta["multi_edit"]) for s in t.steps] == [
        ("a", "", [1, 2]), ("c", "Applied 2 edits", [2, 2])]


# -- bad input ---------------------------------------------------------------------------------


def test_empty_file_and_no_steps(tmp_path, parse_all, write_jsonl):
    for content in (b"", b"\n \n"):
        (tmp_path / "e.jsonl").write_bytes(content)
        out = parse_all(NAME, tmp_path / "e.jsonl")
        assert out and all(isinstance(x, ParseError) for x in out)
    path = write_jsonl(tmp_path / "chat.jsonl", [_line("u1", None, "user", "hi"),
                                                 _line("a1", "u1", "assistant", [{"type": "text", "text": "hello"}])])
    [err] = parse_all(NAME, path)
    assert isinstance(err, ParseError) and err.reason == "no steps"


def test_truncated_and_wrong_type_lines_are_skipped(samples_dir, tmp_path, parse_all):
    lines = (samples_dir / FAMILY_DIR / "real-v2.1.38__tool_heavy.jsonl").read_bytes().splitlines()
    lines[5] = lines[5][: len(lines[5]) // 2]  # a progress line, cut
    bad = json.loads(lines[28])  # the WebSearch tool_use line
    bad["message"]["content"][0]["input"] = "not an object"
    lines[28] = json.dumps(bad).encode()
    lines.insert(1, b'{"type": "user", "message": {"role": "user", "content": 42}}')
    lines.insert(1, b"[1, 2, 3]")
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = parse_all(NAME, path)
    errors = [x for x in out if isinstance(x, ParseError)]
    assert sorted(e.where for e in errors) == sorted(f"{path}:{n}" for n in (2, 3, 8, 31))
    [t] = [x for x in out if isinstance(x, Trajectory)]
    assert "WebSearch" not in [s.action.tool for s in t.steps] and len(t.steps) == 5


def test_non_utf8_bytes(samples_dir, tmp_path, parse_all, parse_clean):
    data = (samples_dir / FAMILY_DIR / "real-v2.1.38__short.jsonl").read_bytes()
    path = tmp_path / "s.jsonl"
    path.write_bytes(data.replace(b"doesnt seem", b"doesnt \xc3\x28 seem"))
    [t] = parse_clean(NAME, path)
    assert "\ufffd" in t.problem_statement
    path.write_bytes(b"\x80\x81\xfe\xff" * 100)
    out = parse_all(NAME, path)
    assert out and all(isinstance(x, ParseError) for x in out)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_samples_give_only_parse_errors(samples_dir, tmp_path_factory, mutate_json, parse_all, rnd):
    tmp = tmp_path_factory.mktemp("cc")
    lines = (samples_dir / FAMILY_DIR / "real-v2.1.38__tool_heavy.jsonl").read_text().splitlines()
    for _ in range(3):
        i = rnd.randrange(len(lines))
        lines[i] = json.dumps(mutate_json(json.loads(lines[i]), rnd))
    (tmp / "s.jsonl").write_text("\n".join(lines))
    export = json.loads((samples_dir / FAMILY_DIR / "synthetic-web-export-loglines__sample_session.json").read_text())
    (tmp / "e.json").write_text(json.dumps(mutate_json(export, rnd)))
    parse_all(NAME, tmp / "s.jsonl")
    parse_all(NAME, tmp / "e.json")


def test_api_error_lines_are_not_thoughts(tmp_path, parse_clean, write_jsonl):
    records = [
        _line("u1", None, "user", "go"),
        _line("a0", "u1", "assistant", [{"type": "text", "text": "API Error: 529 overloaded"}], "m0",
              isApiErrorMessage=True),
        _line("a1", "a0", "assistant", _use("t1", "Bash", {"command": "ls"}), "m1"),
        _line("r1", "a1", "user", _result("t1", "ok")),
    ]
    [t] = parse_clean(NAME, write_jsonl(tmp_path / "s.jsonl", records))
    assert [(s.thought, s.observation) for s in t.steps] == [("", "ok")]
    assert t.meta["skipped_lines"] == {"api_error": 1}


def test_inline_sidechains_without_agent_id_split_by_root(tmp_path, parse_clean, write_jsonl):
    side = {"isSidechain": True}
    records = [
        _line("u1", None, "user", "main task"),
        _line("a1", "u1", "assistant", _use("t1", "Task", {"prompt": "look"}), "m1"),
        _line("x1", None, "user", "first subtask", **side),
        _line("x2", "x1", "assistant", _use("tx", "Glob", {"pattern": "*.py"}), "mx", **side),
        _line("x3", "x2", "user", _result("tx", "a.py"), **side),
        _line("y1", None, "user", "second subtask", **side),
        _line("y2", "y1", "assistant", _use("ty", "Bash", {"command": "pwd"}), "my", **side),
        _line("y3", "y2", "user", _result("ty", "/"), **side),
        _line("r1", "a1", "user", _result("t1", "report")),
    ]
    main, first, second = parse_clean(NAME, write_jsonl(tmp_path / "s.jsonl", records))
    assert [s.action.tool for s in main.steps] == ["Task"] and main.steps[0].observation == "report"
    assert (first.id, first.problem_statement, first.steps[0].observation) == ("s1:sidechain-x1", "first subtask", "a.py")
    assert (second.id, second.problem_statement, second.steps[0].action.args) == (
        "s1:sidechain-y1", "second subtask", {"command": "pwd"})

"""chat-messages parser: every shared sample, detection, golden steps for each
variant (OpenAI tool_calls, SWE-smith XML, nebius ACI rows, LLM-call logs),
prefix deduplication, and malformed or mutated inputs."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.errors import ParseError
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import agent_log_parser
from swe_srl.trajectories.parsers.chat_messages import dedupe_prefix_trajectories

FAMILY = "chat-messages"
OTHER_DIRS = ("swe-agent-traj", "mini-swe-agent", "openhands", "claude-code", "codex-cli")
SWE_GYM = "swe-gym-openhands-sampled-trajectories__sample_raw.json"
NEBIUS = "nebius-swe-agent-trajectories__sample_raw.json"
SMITH = "swe-smith-ft-xml__ft_xml_example.jsonl"
FNCALL = "openhands-sdk-llm-log-fncall__claude-sonnet-4-1757015046.707.json"
NONFNCALL = "openhands-sdk-llm-log-nonfncall__deepseek-chat-1757015076.651.json"


def _parse(path: Path) -> list:
    return list(agent_log_parser(FAMILY).parse(path))


def _trajs(path: Path) -> list[Trajectory]:
    out = _parse(path)
    assert out and all(isinstance(o, Trajectory) for o in out), out
    return out


def test_every_sample_parses(samples_dir):
    counts = {}
    for f in sorted((samples_dir / FAMILY).iterdir()):
        trajs = _trajs(f)
        assert all(t.steps and t.source_format == FAMILY for t in trajs), f.name
        assert len({t.id for t in trajs}) == len(trajs)
        for t in trajs:
            for s in t.steps:
                s.action.render()
                assert not s.observation.startswith(("OBSERVATION:", "Observation:", "EXECUTION RESULT of"))
        counts[f.name] = len(trajs)
    assert counts == {NEBIUS: 5, FNCALL: 1, NONFNCALL: 1, SWE_GYM: 5, SMITH: 3}


def test_detection(samples_dir, check_detection):
    check_detection(samples_dir, FAMILY, FAMILY, OTHER_DIRS)


def test_golden_openai_tool_calls(samples_dir):
    trajs = _trajs(samples_dir / FAMILY / SWE_GYM)
    assert [len(t.steps) for t in trajs] == [21, 9, 11, 17, 29]
    t = trajs[0]
    assert t.id == "swe-gym-openhands-sampled-trajectories__sample_raw:0"
    assert t.instance_id == "python__mypy-15976" and t.meta["row_instance_id"] == "python__mypy-15976_0"
    assert t.repo == "python/mypy" and t.outcome == "resolved"
    assert t.problem_statement.startswith("attrs & dataclasses false positive error with slots=True")
    assert t.steps[0].action.args == {"command": "view", "path": "/workspace/python__mypy__1.6", "view_range": [0, -1]}
    assert t.steps[0].meta["tool_call_id"] == "call_wmUMCvkWsBrXZdFlTSwE3sy6"
    assert t.steps[0].observation == "ERROR:\nThe `view_range` parameter is not allowed when `path` points to a directory."
    assert t.steps[5].action.args == {"command": "python3 /workspace/python__mypy__1.6/reproduce_error.py"}
    assert t.steps[-1].action.tool == "submit"  # finish
    assert t.patch.startswith("diff --git a/mypy/plugins/attrs.py b/mypy/plugins/attrs.py\n")


def test_parallel_tool_calls_paired_by_id(samples_dir):
    raw = json.loads((samples_dir / FAMILY / SWE_GYM).read_bytes())
    trajs = _trajs(samples_dir / FAMILY / SWE_GYM)
    for row, t in zip(raw, trajs):
        results = {m["tool_call_id"]: m["content"] for m in row["messages"] if m["role"] == "tool"}
        calls = [c for m in row["messages"] if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
        assert [s.meta["tool_call_id"] for s in t.steps] == [c["id"] for c in calls]
        for s in t.steps:
            expected = results.get(s.meta["tool_call_id"])
            if expected is not None:
                assert s.observation == expected.removeprefix("OBSERVATION:\n").replace("\r\n", "\n")
    # the message with four calls became four steps, each with its own result
    row0 = raw[0]["messages"]
    four = next(m for m in row0 if len(m.get("tool_calls") or []) == 4)
    ids = [c["id"] for c in four["tool_calls"]]
    steps = [s for s in trajs[0].steps if s.meta["tool_call_id"] in ids]
    assert len(steps) == 4 and len({s.observation for s in steps}) == 4
    assert steps[0].thought == (four["content"] or "").strip() and all(s.thought == "" for s in steps[1:])


def test_golden_swe_smith_xml(samples_dir):
    trajs = _trajs(samples_dir / FAMILY / SMITH)
    assert [len(t.steps) for t in trajs] == [37, 44, 22]
    t = trajs[0]
    assert t.instance_id == "pandas-dev__pandas.95280573.pr_53652" and t.repo == "pandas-dev/pandas"
    assert t.meta["actions"] == "xml" and t.patch is None and t.outcome == "unknown"
    first = t.steps[0]
    assert first.action.render() == (
        "<function=bash>\n<parameter=command>find /testbed -type f -name \"*.py\" | grep -v \"__pycache__\" "
        "| grep -v \"test_\" | head -20</parameter>\n</function>"
    )
    assert first.action.raw.startswith("<function=bash>\n<parameter=command>find /testbed")
    assert first.thought.startswith("I'll help you implement the necessary changes")
    assert first.observation.startswith("/testbed/scripts/pandas_errors_documented.py\n")  # "OBSERVATION:\n" gone
    assert t.steps[-1].action.tool == "submit"
    assert t.problem_statement.startswith("BUG: [pyarrow] AttributeError: 'Index' object has no attribute 'freq'")
    # the second row labels results "Observation: "
    assert trajs[1].steps[0].observation.startswith("/testbed/docs/conf.py\n")
    creates = [s for s in trajs[2].steps if s.action.args.get("command") == "create"]
    assert creates and creates[0].action.args["file_text"].startswith("from pydantic.alias_generators import")


def test_golden_nebius_aci(samples_dir):
    trajs = _trajs(samples_dir / FAMILY / NEBIUS)
    assert [len(t.steps) for t in trajs] == [6, 14, 5, 8, 16]
    t = trajs[0]
    assert t.instance_id == "tomerfiliba__plumbum-366" and t.repo == "tomerfiliba/plumbum"
    assert t.outcome == "resolved" and t.meta["actions"] == "aci" and t.meta["model_name"] == "swe-agent-llama-70b"
    assert [s.action.to_dict() for s in t.steps] == [
        {"tool": "bash", "args": {"command": "ls -F"}, "raw": "ls -F"},
        {"tool": "find_file", "args": {"file_name": "image.py", "dir": "plumbum"}, "raw": 'find_file "image.py" plumbum'},
        {"tool": "str_replace_editor", "args": {"command": "view", "path": "/plumbum/plumbum/cli/image.py"},
         "raw": "open plumbum/cli/image.py"},
        # `edit 5:5` names no text; line 5 was shown by the `open` above, so it becomes a str_replace
        {"tool": "str_replace_editor", "args": {"command": "str_replace", "path": "/plumbum/plumbum/cli/image.py",
                                                "old_str": "import . as cli", "new_str": "import plumbum.cli as cli"},
         "raw": "edit 5:5\nimport plumbum.cli as cli\nend_of_edit"},
        {"tool": "bash", "args": {"command": 'python -c "import plumbum.cli.image"'},
         "raw": 'python -c "import plumbum.cli.image"'},
        {"tool": "submit", "args": {}, "raw": "submit"},
    ]
    assert t.steps[0].observation.endswith("translations.py*")  # SWE-agent footer stripped
    assert all("(Open file:" not in s.observation for tr in trajs for s in tr.steps)
    assert t.steps[0].meta["mask"] is True
    assert t.patch.startswith("diff --git a/plumbum/cli/image.py b/plumbum/cli/image.py\n")
    assert t.problem_statement.startswith("SyntaxError in plumbum/cli/image.py")


def test_golden_llm_call_log_fncall(samples_dir):
    (t,) = _trajs(samples_dir / FAMILY / FNCALL)
    assert t.id == "openhands-sdk-llm-log-fncall__claude-sonnet-4-1757015046.707"
    assert t.meta["kind"] == "llm-call-log"
    assert t.problem_statement == "Hello! Can you create a new Python file named hello.py that prints 'Hello, World!'?"
    assert [s.action.tool for s in t.steps] == ["str_replace_editor", "bash", "str_replace_editor",
                                                "str_replace_editor", "bash", "submit"]
    assert t.steps[0].action.args == {"command": "create", "path": "/workspace/hello.py",
                                      "file_text": "print('Hello, World!')"}  # security_risk dropped
    assert t.steps[1].action.args == {"command": "pwd && ls -la"}  # "terminal" -> bash
    assert t.steps[-1].meta["tool_call_id"] == "toolu_01Pb8xPvaUVpxYwNxRHKrhKB"  # the response's action
    assert t.steps[-1].thought.startswith("Great! The `hello.py` file already exists")
    assert t.steps[4].observation.startswith("Hello, World!\n[The command completed with exit code 0.]")


def test_llm_call_log_nonfncall_reads_one_representation(samples_dir, tmp_path):
    (t,) = _trajs(samples_dir / FAMILY / NONFNCALL)
    assert t.meta["representation"] == "raw_messages"
    assert [s.action.render() for s in t.steps] == [
        "<function=bash>\n<parameter=command>pwd && ls -la</parameter>\n</function>",
        "<function=str_replace_editor>\n<parameter=command>view</parameter>\n<parameter=path>/Users/xingyaow/Projects/"
        "OpenHands/openhands-v1-dev/agent-sdk.worktree/telemetry/hello.py</parameter>\n</function>",
        "<function=bash>\n<parameter=command>python hello.py</parameter>\n</function>",
        "<function=submit>\n</function>",
    ]
    assert t.problem_statement.startswith("Hello! Can you create")  # not the in-context example
    # the text form alone (XML calls, "EXECUTION RESULT of [tool]:" results) gives the same actions
    data = json.loads((samples_dir / FAMILY / NONFNCALL).read_bytes())
    data.pop("raw_messages")
    text_only = tmp_path / "text_only.json"
    text_only.write_text(json.dumps(data))
    (u,) = _trajs(text_only)
    assert [s.action.render() for s in u.steps] == [s.action.render() for s in t.steps]
    assert [s.observation for s in u.steps[:3]] == [s.observation for s in t.steps[:3]]


def test_dedupe_prefix_logs(samples_dir, tmp_path):
    full = json.loads((samples_dir / FAMILY / FNCALL).read_bytes())
    # an earlier call of the same conversation: 8 messages, its response is message 8
    early = {**full, "messages": full["messages"][:8],
             "response": {"choices": [{"message": full["messages"][8], "finish_reason": "tool_calls"}]}}
    other = {**full, "messages": [full["messages"][0], {"role": "user", "content": "Something else"}],
             "response": {"choices": [{"message": full["messages"][2]}]}}
    paths = []
    for name, rec in (("call-1.json", early), ("call-2.json", full), ("call-3.json", other), ("call-4.json", full)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(rec))
    trajs = [t for p in paths for t in _trajs(p)]
    assert [len(t.steps) for t in trajs] == [4, 6, 1, 6]
    kept = dedupe_prefix_trajectories(trajs)
    assert [t.id for t in kept] == ["call-2", "call-3"]
    # different tasks are never merged; a lone trajectory survives
    assert dedupe_prefix_trajectories(trajs[:1]) == trajs[:1]
    # JSONL of logs: one trajectory per line, ids by row
    jl = tmp_path / "logs.jsonl"
    jl.write_text(json.dumps(early) + "\n" + json.dumps(full) + "\n")
    rows = _trajs(jl)
    assert [t.id for t in rows] == ["logs:0", "logs:1"]
    assert [t.id for t in dedupe_prefix_trajectories(rows)] == ["logs:1"]


def test_bare_message_list_and_sharegpt(tmp_path):
    msgs = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "<pr_description>\nFix the bug\n</pr_description>"},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "a", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}},
                        {"id": "b", "type": "function", "function": {"name": "bash", "arguments": "{\"command\": \"pwd\"}"}}]},
        {"role": "tool", "tool_call_id": "b", "content": "/repo"},
        {"role": "tool", "tool_call_id": "a", "content": "a.py"},
    ]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(msgs))
    (t,) = _trajs(bare)
    assert t.id == "bare" and t.problem_statement == "Fix the bug"
    assert [(s.action.args["command"], s.observation) for s in t.steps] == [("ls", "a.py"), ("pwd", "/repo")]
    share = tmp_path / "share.jsonl"
    share.write_text(json.dumps({"conversations": [
        {"from": "human", "value": "Fix it"},
        {"from": "gpt", "value": "Look.\n<function=bash>\n<parameter=command>ls</parameter>\n</function>"},
        {"from": "human", "value": "OBSERVATION:\nx.py"},
    ]}) + "\n")
    (u,) = _trajs(share)
    assert u.steps[0].action.args == {"command": "ls"} and u.steps[0].observation == "x.py"
    assert u.steps[0].thought == "Look."


# --------------------------------------------------------------------------- bad input


def test_malformed_inputs(samples_dir, tmp_path):
    gym = (samples_dir / FAMILY / SWE_GYM).read_bytes()
    rows = json.loads(gym)
    row = rows[1]
    cases = {
        "truncated.json": gym[: len(gym) // 2],
        "empty.json": b"",
        "empty_list.json": b"[]",
        "nonutf8.json": gym[:500] + b"\xff" + gym[500:],
        "scalar.json": b"3",
        "no_conversation.json": json.dumps({"instance_id": "a__b-1"}).encode(),
        "messages_type.json": json.dumps([{**row, "messages": "hi"}]).encode(),
        "message_item.json": json.dumps([{**row, "messages": [1, "x"]}]).encode(),
        "tool_calls_type.json": json.dumps([{**row, "messages": row["messages"][:2] + [
            {"role": "assistant", "content": "", "tool_calls": "bash ls"}]}]).encode(),
        "content_type.json": json.dumps([{**row, "messages": [{"role": "user", "content": 5}]}]).encode(),
        "row_type.json": json.dumps([1, "two"]).encode(),
        "no_steps.json": json.dumps([{**row, "messages": row["messages"][:2]}]).encode(),
    }
    reasons = {}
    for name, payload in cases.items():
        p = tmp_path / name
        p.write_bytes(payload)
        out = _parse(p)
        assert out and all(isinstance(o, ParseError) for o in out), (name, out)
        assert all(str(p) in (o.where or "") for o in out)
        reasons[name] = out[0].reason
    assert "invalid JSON" in reasons["truncated.json"] and "invalid JSON" in reasons["nonutf8.json"]
    assert reasons["no_steps.json"] == "no steps"
    assert "empty" in reasons["empty_list.json"] and reasons["empty.json"] == "empty file"


def test_jsonl_bad_line_is_skipped_and_the_rest_converted(samples_dir, tmp_path):
    lines = (samples_dir / FAMILY / SMITH).read_bytes().splitlines()
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(lines[0] + b"\n" + lines[1][:1000] + b"\n" + b'{"messages": 7}\n' + lines[2] + b"\n")
    out = _parse(p)
    assert [type(o).__name__ for o in out] == ["Trajectory", "ParseError", "ParseError", "Trajectory"]
    assert out[1].where == f"{p}:2" and out[2].where == f"{p}:3"
    assert [o.id for o in out if isinstance(o, Trajectory)] == ["mixed:0", "mixed:3"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_samples_give_trajectories_or_parse_errors(samples_dir, check_drawn_mutation, data):
    name = data.draw(st.sampled_from(sorted(p.name for p in (samples_dir / FAMILY).iterdir())))
    raw = (samples_dir / FAMILY / name).read_bytes()
    if name.endswith(".jsonl"):
        doc = json.loads(raw.splitlines()[0])
    else:
        doc = json.loads(raw)
        if isinstance(doc, list):
            doc = doc[:1]
    check_drawn_mutation(data, FAMILY, name, doc, 8)


def test_mini_style_rows(tmp_path):
    row = {"instance_id": "a__b-3", "resolved": False, "messages": [
        {"role": "system", "content": "Run one command. Finish with echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"},
        {"role": "user", "content": "<pr_description>\nTask\n</pr_description>"},
        {"role": "assistant", "content": "THOUGHT: list\n\n```bash\nls\n```"},
        {"role": "user", "content": "<returncode>1</returncode>\n<output>\nnope\n</output>"},
        {"role": "assistant", "content": "```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff\n```"},
        {"role": "user", "content": "diff --git a/x b/x\n"},
    ]}
    p = tmp_path / "rows.jsonl"
    p.write_text(json.dumps(row) + "\n")
    (t,) = _trajs(p)
    assert t.meta["actions"] == "mini" and t.outcome == "unresolved" and t.repo == "a/b"
    assert t.steps[0].action.args == {"command": "ls"} and t.steps[0].observation == "nope\n"
    assert t.steps[0].meta["exit_code"] == 1 and t.steps[0].thought == "list"
    assert t.steps[1].action.tool == "submit"

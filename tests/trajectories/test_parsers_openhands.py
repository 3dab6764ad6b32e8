"""OpenHands parser: every shared sample, detection, golden runs, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.errors import ParseError
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import detect_format
from swe_srl.trajectories.parsers.openhands import ipython_action, split_think

NAME = "openhands"
FAMILY_DIR = "openhands"
SAMPLES = [
    "eval-output-2025__multi-swe-bench-ponyc.jsonl",
    "resolver-output-legacy-2024__output.jsonl",
    "runtime-replay__basic.json",
    "runtime-replay__basic_gui_mode.json",
    "sdk-v1-events__goal-fixture.jsonl",
]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_parses_with_steps(samples_dir, name, parse_clean):
    path = samples_dir / FAMILY_DIR / name
    trajs = parse_clean(NAME, path)
    assert trajs
    for t in trajs:
        assert t.steps and t.source_format == NAME
        for s in t.steps:
            assert s.action.tool and isinstance(s.action.args, dict)
            s.action.render()
        json.dumps(t.to_dict())


def test_all_family_samples_are_listed(samples_dir):
    assert sorted(p.name for p in (samples_dir / FAMILY_DIR).iterdir()) == sorted(SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_detect_picks_openhands(samples_dir, name):
    assert detect_format(samples_dir / FAMILY_DIR / name) == NAME


def test_detect_says_no_to_other_formats(samples_dir, check_not_detected):
    check_not_detected(samples_dir, NAME, FAMILY_DIR)


# -- golden expectations (checked against the files by hand) ------------------------------------


def test_golden_eval_output(samples_dir, parse_clean):
    runs = parse_clean(NAME, samples_dir / FAMILY_DIR / "eval-output-2025__multi-swe-bench-ponyc.jsonl")
    assert [len(t.steps) for t in runs] == [22, 33, 48]  # run+read+edit actions (+ finish) per line
    first = runs[0]
    assert first.instance_id == "ponylang__ponyc-4595"
    assert first.repo == "ponylang/ponyc"
    assert first.base_commit == "f8a2feebba3aea298bde89d445ad35ca48602ca7"
    assert first.problem_statement.startswith("ponyc segfaults when trying to match using a single element tuple")
    s0 = first.steps[0]
    assert (s0.action.tool, s0.action.args) == ("bash", {"command": "ls -l /workspace/ponylang__ponyc__0.1"})
    assert s0.meta["exit_code"] == 0 and s0.observation.startswith("total 300")
    assert s0.thought.startswith("The task involves fixing an issue")
    assert first.steps[-1].action.tool == "submit" and first.steps[-1].meta["task_completed"] == "partial"
    assert first.patch.startswith("diff --git a/src/libponyc/ast/parser.c b/src/libponyc/ast/parser.c")
    assert "+  SET_FLAG(AST_FLAG_IN_PARENS);" in first.patch
    # read with a view_range, and a str_replace edit (None-valued args dropped)
    views = [s.action.args for s in first.steps if s.action.args.get("command") == "view"]
    assert {"command": "view", "path": "/workspace/ponylang__ponyc__0.1/src/libponyc/ast/parser.c",
            "view_range": [650, 700]} in views
    edit = next(s.action.args for s in first.steps if s.action.args.get("command") == "str_replace")
    assert set(edit) == {"command", "path", "old_str", "new_str"}
    # the think action is kept as thought of the next step (the finish), not as a step
    assert "Re-read the problem description" not in "".join(s.action.render() for s in first.steps)
    assert first.steps[-1].thought.startswith("It seems that the `ponyc` compiler is not available")
    # line 3 ran out of iterations: no submit, the error is kept
    last = runs[2]
    assert last.meta["exit_reason"] == "max_iterations" and "maximum iteration" in last.meta["error"]
    assert all(s.action.tool != "submit" for s in last.steps)
    assert last.steps[-1].action.args == {"command": "apt-get install -y libgtest-dev"}
    assert last.steps[-1].meta["exit_code"] == 100


def test_golden_resolver_2024(samples_dir, parse_clean):
    runs = parse_clean(NAME, samples_dir / FAMILY_DIR / "resolver-output-legacy-2024__output.jsonl")
    assert [len(t.steps) for t in runs] == [4, 22]
    lic = runs[0]
    assert lic.instance_id == "neubig__pr-viewer-5" and lic.repo == "neubig/pr-viewer"
    assert lic.problem_statement == "Add MIT license\n\nWe can license this repo under the MIT license."
    assert lic.outcome == "resolved" and lic.base_commit is None
    assert [s.action.tool for s in lic.steps] == ["bash", "execute_ipython_cell", "bash", "submit"]
    assert lic.steps[0].action.args == {"command": "touch LICENSE"}
    assert lic.steps[0].meta["exit_code"] == 0  # positional pairing of the flat observation
    assert lic.steps[1].observation.startswith("MIT License has been added to the LICENSE file.")
    assert lic.steps[2].observation.startswith("MIT License")
    assert lic.patch.startswith("diff --git a/LICENSE b/LICENSE")
    dark = runs[1]
    # agentskills calls in IPython cells become editor actions
    assert dark.steps[1].action.args == {"command": "view", "path": "/workspace/src/App.css"}
    assert dark.steps[2].action.args["command"] == "str_replace"
    assert dark.steps[2].action.args["path"] == "/workspace/src/App.css"
    assert dark.steps[2].action.args["old_str"].startswith("#root {")
    assert dark.steps[-1].action.tool == "submit"


def test_golden_gui_mode_create_takes_text_from_the_tool_call(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "runtime-replay__basic_gui_mode.json")
    assert t.problem_statement.startswith("I want to create a VueJS app")
    assert [s.action.tool for s in t.steps] == ["bash", "str_replace_editor", "str_replace_editor", "bash"]
    assert t.steps[0].action.args == {"command": "mkdir -p /workspace/todo-app"}
    create = t.steps[1].action.args
    assert create["command"] == "create" and create["path"] == "/workspace/todo-app/index.html"
    assert create["file_text"].startswith("<!DOCTYPE html>") and len(create["file_text"]) > 1000
    assert t.steps[1].observation.startswith("--- /workspace/todo-app/index.html")
    assert t.steps[-1].action.args == {"command": "cd /workspace/todo-app && python3 -m http.server 8000"}
    assert t.steps[-1].meta["exit_code"] == -1
    assert t.meta["final_message"].startswith("I've created a complete Vue.js todo application")


def test_golden_basic_replay(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "runtime-replay__basic.json")
    assert [s.action.tool for s in t.steps] == ["str_replace_editor", "submit"]
    args = t.steps[0].action.args
    assert (args["command"], args["path"]) == ("create", "/workspace/game_2048.py")
    assert args["file_text"].startswith("import random\nimport keyboard\n\nclass Game2048:")


def test_golden_sdk_v1(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / "sdk-v1-events__goal-fixture.jsonl")
    assert len(t.steps) == 2
    s0, s1 = t.steps
    assert s0.action.tool == "bash"
    assert s0.action.args == {"command": 'SESSION_URL="${AUTOMATION_SESSION_URL:-${AUTOMATION_API_URL:-'
                                         'https://app.all-hands.dev}}"\necho "SESSION_URL=${SESSION_URL}"'}
    assert "<think>" not in s0.thought and s0.thought.startswith("Let me analyze the task.")
    assert "I'll help you review PR #3745" in s0.thought
    assert s0.observation.startswith("Cannot execute multiple commands at once.") and s0.meta["error"] is True
    assert s1.action.args["command"].startswith('SESSION_URL="${AUTOMATION_SESSION_URL')
    assert s1.meta["exit_code"] == 1 and s1.observation.startswith("SESSION_URL=<secret-hidden>")
    assert t.meta["unpaired_observations"] == {"ObservationEvent": 1}  # its action is outside the slice


# -- units ------------------------------------------------------------------------------------


def test_split_think():
    assert split_think("<think>a</think>\n\nb") == ("a", "b")
    assert split_think("no tags") == ("", "no tags")
    assert split_think("<think>unclosed") == ("unclosed", "")


def test_ipython_agentskills_mapping():
    assert ipython_action("open_file('/a.py')").args == {"command": "view", "path": "/a.py"}
    a = ipython_action("insert_content_at_line('/a.py', 3, 'x = 1')")
    assert a.args == {"command": "insert", "path": "/a.py", "insert_line": 2, "new_str": "x = 1"}
    a = ipython_action("print(file_editor(**{'command': 'create', 'path': '/b', 'file_text': 'hi'}))")
    assert a.args == {"command": "create", "path": "/b", "file_text": "hi"}
    assert ipython_action("open_file(path)").tool == "execute_ipython_cell"  # not a literal
    assert ipython_action("import os; os.listdir('.')").args == {"code": "import os; os.listdir('.')"}
    assert ipython_action("def broken(:").tool == "execute_ipython_cell"


def test_python_repr_issue_and_pair_history(tmp_path, parse_clean):
    issue = repr({"owner": "o", "repo": "r", "number": 7, "title": "T", "body": "B"})
    rec = {"issue": issue, "git_patch": "", "success": False, "history": [
        [{"action": "run", "args": {"command": "ls"}, "id": 1, "source": "agent"},
         {"observation": "run", "content": "a.py", "extras": {"metadata": {"exit_code": 0}}, "cause": 1}],
        [{"action": "finish", "args": {}}, {"observation": "null", "content": ""}],
    ]}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    [t] = parse_clean(NAME, path)
    assert t.instance_id == "o__r-7" and t.problem_statement == "T\n\nB" and t.outcome == "unresolved"
    assert t.patch is None
    assert [(s.action.tool, s.observation) for s in t.steps] == [("bash", "a.py"), ("submit", "")]


# -- bad input ---------------------------------------------------------------------------------


def test_empty_and_blank_files(tmp_path, parse_all):
    for content in (b"", b"\n\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_bytes(content)
        out = parse_all(NAME, path)
        assert out and all(isinstance(x, ParseError) for x in out)


def test_truncated_line_is_skipped_and_the_rest_converted(samples_dir, tmp_path, parse_all):
    lines = (samples_dir / FAMILY_DIR / "eval-output-2025__multi-swe-bench-ponyc.jsonl").read_bytes().splitlines()
    path = tmp_path / "output.jsonl"
    path.write_bytes(b"\n".join([lines[0], lines[1][: len(lines[1]) // 2], lines[2]]) + b"\n")
    out = parse_all(NAME, path)
    errors = [x for x in out if isinstance(x, ParseError)]
    assert [e.where for e in errors] == [f"{path}:2"]
    assert [len(t.steps) for t in out if isinstance(t, Trajectory)] == [22, 48]


def test_truncated_document(samples_dir, tmp_path, parse_all):
    data = (samples_dir / FAMILY_DIR / "runtime-replay__basic_gui_mode.json").read_bytes()
    path = tmp_path / "events.json"
    path.write_bytes(data[: len(data) // 3])
    out = parse_all(NAME, path)
    assert len(out) == 1 and isinstance(out[0], ParseError) and "invalid JSON" in out[0].reason


def test_wrong_types_give_parse_errors(tmp_path, parse_all):
    good_event = {"action": "run", "args": {"command": "ls"}, "id": 1, "source": "agent"}
    records = [
        {"history": "not a list"},
        {"history": [{"action": "run", "args": ["x"], "id": 1}]},
        {"history": [{"action": "run", "args": {"command": {"nested": 1}}, "id": 1}]},
        {"history": [good_event], "instance": {"problem_statement": 5}, "test_result": "x"},
        [1, 2],
        {"history": []},
    ]
    path = tmp_path / "output.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = parse_all(NAME, path)
    trajs = [x for x in out if isinstance(x, Trajectory)]
    errors = [x for x in out if isinstance(x, ParseError)]
    assert len(trajs) == 1 and trajs[0].steps[0].action.args == {"command": "ls"}
    assert sorted(e.where for e in errors) == sorted(f"{path}:{i}" for i in (1, 2, 3, 5, 6))
    assert any(e.reason == "no steps" for e in errors)


def test_non_utf8_bytes(samples_dir, tmp_path, parse_all, parse_clean):
    data = (samples_dir / FAMILY_DIR / "sdk-v1-events__goal-fixture.jsonl").read_bytes()
    path = tmp_path / "events.jsonl"
    path.write_bytes(data.replace(b"Let me chain", b"Let me \xff\xfe chain"))
    [t] = parse_clean(NAME, path)
    assert "\ufffd" in t.steps[1].thought
    path.write_bytes(bytes(range(256)) * 4)
    out = parse_all(NAME, path)
    assert out and all(isinstance(x, ParseError) for x in out)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_samples_give_only_parse_errors(samples_dir, tmp_path_factory, mutate_json, parse_all, rnd):
    tmp = tmp_path_factory.mktemp("oh")
    stream = json.loads((samples_dir / FAMILY_DIR / "runtime-replay__basic_gui_mode.json").read_bytes())
    (tmp / "stream.json").write_text(json.dumps(mutate_json(stream, rnd)))
    lines = (samples_dir / FAMILY_DIR / "sdk-v1-events__goal-fixture.jsonl").read_text().splitlines()
    i = rnd.randrange(len(lines))
    lines[i] = json.dumps(mutate_json(json.loads(lines[i]), rnd))
    (tmp / "sdk.jsonl").write_text("\n".join(lines))
    flat = json.loads((samples_dir / FAMILY_DIR / "resolver-output-legacy-2024__output.jsonl").read_text()
                      .splitlines()[0])
    (tmp / "flat.jsonl").write_text(json.dumps(mutate_json(flat, rnd)))
    for name in ("stream.json", "sdk.jsonl", "flat.jsonl"):
        parse_all(NAME, tmp / name)


def test_eval_line_with_a_huge_instruction_is_still_detected(tmp_path, parse_clean):
    rec = {"instance_id": "o__r-1", "test_result": {"git_patch": "diff --git a/x b/x\n"}, "instruction": "y" * 100_000,
           "metadata": {}, "history": [{"id": 1, "source": "agent", "action": "run", "args": {"command": "ls"}},
                                       {"id": 2, "source": "agent", "observation": "run", "content": "x", "cause": 1,
                                        "extras": {"metadata": {"exit_code": 0}}}]}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    assert detect_format(path) == NAME
    [t] = parse_clean(NAME, path)
    assert t.patch == "diff --git a/x b/x\n" and t.steps[0].observation == "x"


def test_pretty_printed_run_record(samples_dir, tmp_path, parse_all, parse_clean):
    line = (samples_dir / FAMILY_DIR / "eval-output-2025__multi-swe-bench-ponyc.jsonl").read_text().splitlines()[0]
    text = json.dumps(json.loads(line), indent=2)
    path = tmp_path / "run.json"
    path.write_text(text)
    [t] = parse_clean(NAME, path)
    assert len(t.steps) == 22 and t.instance_id == "ponylang__ponyc-4595"
    path.write_text(text[: len(text) // 2])
    [err] = parse_all(NAME, path)
    assert isinstance(err, ParseError) and err.where == str(path)

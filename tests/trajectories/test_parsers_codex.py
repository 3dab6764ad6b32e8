"""Codex rollout parser and the apply_patch envelope mapping: samples, detection, goldens, bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swe_srl.errors import ParseError
from swe_srl.trajectories.apply_patch import extract_patch, parse_patch, patch_to_action
from swe_srl.trajectories.models import Trajectory
from swe_srl.trajectories.parsers import detect_format

NAME = "codex"
FAMILY_DIR = "codex-cli"
REAL = "real-v0.58__rollout-2025-11-17T15-30-28-019a93b9-f380-7600-98ff-940e6b99603c.jsonl"
MODERN = "synthetic-modern-tools__rollout-2026-01-02T03-04-05-11111111-1111-4111-8111-111111111111.jsonl"
LEGACY = "synthetic-legacy-direct-format__rollout-44444444-4444-4444-8444-444444444444.jsonl"
SAMPLES = [REAL, MODERN, LEGACY]


@pytest.mark.parametrize("name", [REAL, MODERN])
def test_real_and_modern_samples_parse_with_steps(samples_dir, name, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / name)
    assert t.steps and t.source_format == NAME and t.patch is None
    for s in t.steps:
        s.action.render()
    json.dumps(t.to_dict())


def test_legacy_sample_has_no_tool_calls_and_is_a_clean_skip(samples_dir, parse_all):
    # the fixture is a two-message chat (no tool call): an empty trajectory, reported as such
    path = samples_dir / FAMILY_DIR / LEGACY
    [err] = parse_all(NAME, path)
    assert isinstance(err, ParseError) and err.where == str(path) and err.reason.startswith("no steps")


def test_all_family_samples_are_listed(samples_dir):
    assert sorted(p.name for p in (samples_dir / FAMILY_DIR).iterdir()) == sorted(SAMPLES)


@pytest.mark.parametrize("name", SAMPLES)
def test_detect_picks_codex(samples_dir, name):
    assert detect_format(samples_dir / FAMILY_DIR / name) == NAME


def test_detect_says_no_to_other_formats(samples_dir, check_not_detected):
    assert check_not_detected(samples_dir, NAME, FAMILY_DIR)


# -- golden expectations (checked against the files by hand) ------------------------------------


def test_golden_real_rollout(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / REAL)
    assert t.id == "019a93b9-f380-7600-98ff-940e6b99603c"
    assert t.base_commit == "0f022a043b3f8ca67224e1c56d5b85e28a81b910"
    assert t.repo == "AcidicSoil/chatbot-ui"
    assert t.problem_statement.startswith("finish up the users work by rigging up the chatbot-ui to use lmstudio")
    assert len(t.steps) == 39  # 37 shell calls + 2 update_plan calls
    first = t.steps[0]
    assert (first.action.tool, first.action.args) == ("bash", {"command": "ls"})
    assert first.thought == "**Planning repository inspection**"
    assert first.observation.startswith("LM Studio configuration.md\nREADME.md\n")
    assert first.meta["exit_code"] == 0 and first.meta["tool_call_id"] == "call_GfHib9GW3d5m9EB1wMTper0j"
    assert [s.meta.get("exit_code") for s in t.steps if s.action.args.get("command") == "ls lib/ai"] == [2]
    plans = [s for s in t.steps if s.action.tool == "update_plan"]
    assert len(plans) == 2 and plans[0].observation == "Plan updated" and isinstance(plans[0].action.args["plan"], list)
    # heredoc apply_patch: two chunks -> kept as apply_patch; one chunk -> str_replace with an absolute path
    two_chunks = t.steps[-2].action
    assert two_chunks.tool == "apply_patch"
    assert two_chunks.args["input"].startswith("*** Begin Patch\n*** Update File: components/chat/chat-helpers/index.ts")
    assert two_chunks.raw.startswith('{"command":["bash","-lc","apply_patch <<\'PATCH\'')
    last = t.steps[-1]
    assert last.action.tool == "str_replace_editor"
    args = last.action.args
    assert args["command"] == "str_replace"
    assert args["path"] == "/home/user/projects/temp/chatbot-ui/components/chat/chat-helpers/index.ts"
    assert args["old_str"].startswith("export const fetchChatResponse = async (\n  url: string,")
    assert "    const errorData = await response.json()" in args["old_str"]
    assert "throw new Error(errorMessage)" in args["new_str"] and "errorData" not in args["new_str"]
    assert last.observation == "Success. Updated the following files:\nM components/chat/chat-helpers/index.ts\n"
    assert t.meta["model"] == "gpt-5.1-codex" and "final_message" not in t.meta  # ends mid-task


def test_golden_modern_tools(samples_dir, parse_clean):
    [t] = parse_clean(NAME, samples_dir / FAMILY_DIR / MODERN)
    assert t.problem_statement == "List the synthetic files."
    assert [(s.action.tool, s.action.args, s.observation) for s in t.steps] == [
        ("bash", {"command": "find . -maxdepth 1 -type f"}, "./alpha.txt\n./beta.txt"),
        ("str_replace_editor", {"command": "create", "path": "/workspace/synthetic-project/gamma.txt",
                                "file_text": "synthetic\n"}, "Done!"),
        ("mcp__synthetic__lookup", {"query": "fixture"}, '{"status":"ok"}'),
    ]
    assert t.steps[0].thought == "I will inspect the synthetic directory."
    assert "SYNTHETIC_ENCRYPTED" not in json.dumps(t.to_dict())
    assert t.meta["unknown_records"] == {"future_synthetic_record": 1}
    assert t.meta["final_message"] == "The synthetic files are alpha.txt and beta.txt."


def test_legacy_layout_with_calls(tmp_path, parse_clean, write_jsonl):
    records = [
        {"id": "sess-1", "timestamp": "2025-05-01T00:00:00Z", "git": {"commit_hash": "abc",
                                                                      "repository_url": "https://github.com/o/r.git"}},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>x"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"record_type": "state"},
        {"type": "function_call", "name": "shell", "arguments": json.dumps({"command": ["ls", "-a"]}), "call_id": "c1"},
        {"type": "function_call_output", "call_id": "c1", "output": json.dumps(
            {"output": ".\n..", "metadata": {"exit_code": 0, "duration_seconds": 0.1}})},
        {"type": "function_call", "name": "shell", "call_id": "c2", "arguments": json.dumps(
            {"command": ["apply_patch", "*** Begin Patch\n*** Delete File: a.py\n*** End Patch"]})},
        {"type": "function_call_output", "call_id": "c2", "output": "Done"},
    ]
    path = write_jsonl(tmp_path / "rollout-sess-1.jsonl", records)
    assert detect_format(path) == NAME
    [t] = parse_clean(NAME, path)
    assert (t.id, t.base_commit, t.repo, t.problem_statement) == ("sess-1", "abc", "o/r", "fix it")
    assert t.meta["layout"] == "legacy" and t.meta["unknown_records"] == {"state": 1}
    assert [(s.action.tool, s.action.args, s.observation) for s in t.steps] == [
        ("bash", {"command": "ls -a"}, ".\n.."),
        ("apply_patch", {"input": "*** Begin Patch\n*** Delete File: a.py\n*** End Patch"}, "Done"),
    ]


# -- apply_patch envelopes ---------------------------------------------------------------------

UPDATE = """*** Begin Patch
*** Update File: src/m.py
@@ def f():
 a = 1
-b = 2
+b = 3
+c = 4
 return a
*** End Patch"""


def test_patch_mapping():
    a = patch_to_action(UPDATE, cwd="/repo")
    assert a.args == {"command": "str_replace", "path": "/repo/src/m.py",
                      "old_str": "a = 1\nb = 2\nreturn a", "new_str": "a = 1\nb = 3\nc = 4\nreturn a"}
    a = patch_to_action("*** Begin Patch\n*** Add File: /x/n.txt\n+one\n+\n+two\n*** End Patch\n")
    assert a.args == {"command": "create", "path": "/x/n.txt", "file_text": "one\n\ntwo\n"}
    two_files = UPDATE.replace("*** End Patch", "*** Add File: b.py\n+x\n*** End Patch")
    assert patch_to_action(two_files).tool == "apply_patch"
    moved = UPDATE.replace("*** Update File: src/m.py\n", "*** Update File: src/m.py\n*** Move to: src/n.py\n")
    assert parse_patch(moved)[0].move_to == "src/n.py" and patch_to_action(moved).tool == "apply_patch"
    insertion = "*** Begin Patch\n*** Update File: f\n@@\n+new line\n*** End Patch"
    assert patch_to_action(insertion).tool == "apply_patch"  # no old text to anchor a str_replace
    broken = "*** Begin Patch\n*** Update File: f\n garbage\n?? what\n*** End Patch"
    assert patch_to_action(broken).args == {"input": broken}


def test_extract_patch_only_for_pure_apply_patch_commands():
    heredoc = f"apply_patch <<'EOF'\n{UPDATE}\nEOF\n"
    assert extract_patch(heredoc) == UPDATE
    assert extract_patch(f'apply_patch <<"PATCH"\n{UPDATE}\nPATCH') == UPDATE
    assert extract_patch(["apply_patch", UPDATE]) == UPDATE
    assert extract_patch(["bash", "-lc", heredoc]) == UPDATE
    assert extract_patch(f"apply_patch '{UPDATE}'") == UPDATE
    assert extract_patch(f"{heredoc}&& pytest") is None
    assert extract_patch("cat apply_patch.py") is None
    assert extract_patch("python -c 'print(1)'") is None


# -- bad input ---------------------------------------------------------------------------------


def test_empty_and_binary_files(tmp_path, parse_all):
    for content in (b"", b"\n\n", b"\x00\xff\xfe" * 50):
        (tmp_path / "r.jsonl").write_bytes(content)
        out = parse_all(NAME, tmp_path / "r.jsonl")
        assert out and all(isinstance(x, ParseError) for x in out)


def test_truncated_and_wrong_type_lines_are_skipped(samples_dir, tmp_path, parse_all):
    lines = (samples_dir / FAMILY_DIR / MODERN).read_bytes().splitlines()
    lines[3] = lines[3][:40]  # the user message, cut
    lines.insert(4, json.dumps({"timestamp": "t", "type": "response_item", "payload": ["x"]}).encode())
    lines.insert(4, json.dumps({"timestamp": "t", "type": "response_item",
                                "payload": {"type": "function_call", "name": "shell", "arguments": 7}}).encode())
    lines.insert(4, json.dumps({"timestamp": "t", "type": "response_item",
                                "payload": {"type": "function_call", "arguments": "{}"}}).encode())
    lines.insert(4, json.dumps({"timestamp": "t", "type": "response_item",
                                "payload": {"type": "message", "role": "user", "content": 5}}).encode())
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = parse_all(NAME, path)
    errors = [x for x in out if isinstance(x, ParseError)]
    assert sorted(e.where for e in errors) == sorted(f"{path}:{n}" for n in (4, 5, 6, 7, 8))
    [t] = [x for x in out if isinstance(x, Trajectory)]
    assert len(t.steps) == 3
    assert t.problem_statement == "List the synthetic files."  # from the event_msg, as the item was lost


def test_non_utf8_bytes(samples_dir, tmp_path, parse_clean):
    data = (samples_dir / FAMILY_DIR / MODERN).read_bytes()
    path = tmp_path / "r.jsonl"
    path.write_bytes(data.replace(b"./alpha.txt\\n./beta.txt", b"./alpha\xff.txt\\n./beta.txt"))
    [t] = parse_clean(NAME, path)
    assert t.steps[0].observation == "./alpha\ufffd.txt\n./beta.txt"


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(rnd=st.randoms(use_true_random=False))
def test_mutated_samples_give_only_parse_errors(samples_dir, tmp_path_factory, mutate_json, parse_all, rnd):
    tmp = tmp_path_factory.mktemp("codex")
    lines = (samples_dir / FAMILY_DIR / MODERN).read_text().splitlines()
    for _ in range(3):
        i = rnd.randrange(len(lines))
        value = json.loads(lines[i])
        payload = value.get("payload") if isinstance(value, dict) else None
        if isinstance(payload, dict) and isinstance(payload.get("arguments"), str) and rnd.random() < 0.5:
            # mutate inside the JSON-encoded arguments string too
            payload["arguments"] = json.dumps(mutate_json(json.loads(payload["arguments"]), rnd))
        else:
            value = mutate_json(value, rnd)
        lines[i] = json.dumps(value)
    (tmp / "r.jsonl").write_text("\n".join(lines))
    parse_all(NAME, tmp / "r.jsonl")

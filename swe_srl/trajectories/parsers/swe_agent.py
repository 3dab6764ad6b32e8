"""SWE-agent ``.traj`` files (one JSON object per run).

Three layouts are read:

* **0.x**: ``trajectory[]`` steps ``{action, observation, response, thought,
  state}`` where ``action`` is an ACI command string and ``state`` a JSON
  *string* holding the open file and working directory *before* the action.
* **1.x function calling**: the same ``trajectory[]`` (``state`` a dict, taken
  *after* the action, plus ``execution_time``); the ``history`` assistant turns
  carry OpenAI ``tool_calls`` whose structured arguments are preferred to the
  flattened ``action`` string (``edit 'old' 'new'``). Tool results are
  ``role: tool`` messages with a ``tool_call_ids`` list.
* **RetryAgent** files (``attempts[]``, each a run of the layouts above):
  one trajectory per attempt, ids ``<file>:attempt<i>``.
* **history only**: no ``trajectory``; steps are rebuilt from the assistant
  turns (tool calls, or the ``action`` field, or the last fenced block) and the
  tool/user messages that follow them, with SWE-agent's
  ``(Open file: ..)(Current directory: ..)`` footer stripped from observations.

Demonstrations (history messages with ``is_demo: true``) are not part of the
run and are skipped, and so are the ``exit_cost`` / ``exit_context`` / ...
steps SWE-agent itself appends when a limit ends the run. ``info.submission`` becomes the patch (CRLF diffs are
normalised), ``info.exit_status`` and the model statistics go to ``meta``.
Commands map onto canonical tools through :mod:`.aci`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from swe_srl.errors import ParseError
from swe_srl.io import loads
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers import aci
from swe_srl.trajectories.parsers._common import caught, read_json_document
from swe_srl.trajectories.render import find_function_calls

NAME = "swe-agent"

_TRAJ_KEY = re.compile(rb'"trajectory"\s*:\s*\[')
_ENV_KEY = re.compile(rb'\A\s*\{\s*"environment"\s*:')
_HISTORY_FIRST = re.compile(rb'\A\s*\{\s*"history"\s*:\s*\[')
_STEP_KEYS = re.compile(rb'"(?:thought|observation|response|state)"\s*:')
_SWEAGENT_MSG = re.compile(rb'"(?:agent|message_type|is_demo)"\s*:')


class SweAgentParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text.startswith(b"{"):
            return 0.0
        if b"mini-swe-agent" in head or b'"trajectory_format"' in head or b"swe-srl.trajectory/" in head[:4096]:
            return 0.0
        suffix_bonus = 0.04 if path.name.endswith(".traj") else 0.0
        if _ENV_KEY.match(text) and (_TRAJ_KEY.search(text) or b'"history"' in text):
            return 0.95 + suffix_bonus
        if _TRAJ_KEY.search(text) and _STEP_KEYS.search(text) and b'"action"' in text:
            return 0.9 + suffix_bonus
        if _HISTORY_FIRST.match(text) and _SWEAGENT_MSG.search(text):
            return 0.85 + suffix_bonus
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        data = caught(lambda: read_json_document(path), str(path))
        if isinstance(data, ParseError):
            yield data
            return
        attempts = data.get("attempts") if isinstance(data, dict) else None
        if isinstance(attempts, list) and attempts and not data.get("trajectory"):
            # RetryAgent runs: one trajectory per attempt
            for i, attempt in enumerate(attempts):
                yield from self._build(attempt, path, f"{aci.file_stem(path.name)}:attempt{i}", i)
            return
        yield from self._build(data, path, aci.file_stem(path.name), None)

    @staticmethod
    def _build(data: Any, path: Path, tid: str, attempt: int | None) -> Iterator[Trajectory | ParseError]:
        traj = caught(lambda: build_trajectory(data, path), str(path))
        if isinstance(traj, ParseError):
            yield traj
            return
        traj.id = tid
        if attempt is not None:
            traj.meta["attempt"] = attempt
        yield traj


def _fail(reason: str, path: Path) -> ParseError:
    return ParseError(reason, str(path))


def build_trajectory(data: Any, path: Path) -> Trajectory:
    if not isinstance(data, dict):
        raise _fail(f"expected a JSON object, got {type(data).__name__}", path)
    history = data.get("history", [])
    if history is None:
        history = []
    if not isinstance(history, list):
        raise _fail(f"'history' is a {type(history).__name__}, expected a list", path)
    for i, m in enumerate(history):
        if not isinstance(m, dict):
            raise _fail(f"history[{i}] is a {type(m).__name__}, expected an object", path)
    run = [m for m in history if not m.get("is_demo")]
    info = data.get("info") or {}
    if not isinstance(info, dict):
        raise _fail(f"'info' is a {type(info).__name__}, expected an object", path)
    replay = data.get("replay_config")
    if isinstance(replay, str):
        try:
            replay = loads(replay)
        except orjson.JSONDecodeError:
            replay = None
    if not isinstance(replay, dict):
        replay = {}

    traj = data.get("trajectory")
    if traj is not None and not isinstance(traj, list):
        raise _fail(f"'trajectory' is a {type(traj).__name__}, expected a list", path)
    user_msgs = [m for m in run if m.get("role") == "user"]
    task = aci.crlf_to_lf(aci.content_text(user_msgs[0].get("content"))) if user_msgs else ""
    start = aci.AciState()
    task = aci.strip_prompt_footer(task, start)
    if traj:
        if start.cwd is None:
            first = next((s["state"] for s in traj if isinstance(s, dict) and s.get("state")), None)
            probe = aci.AciState()
            probe.update_from_state(first)
            start.cwd = probe.cwd
    cwd0 = start.cwd
    if traj:
        steps = _steps_from_trajectory(traj, run, path, start)
        layout = "1.x" if any(isinstance(s.get("state"), dict) or "execution_time" in s for s in traj) else "0.x"
    elif run:
        steps = _steps_from_history(run, path, start)
        layout = "history-only"
    else:
        raise _fail("no steps (neither 'trajectory' nor 'history')", path)
    if not steps:
        raise _fail("no steps", path)

    problem = aci.extract_problem_statement(task)

    stem = aci.file_stem(path.name)
    agent_cfg = replay.get("agent") if isinstance(replay.get("agent"), dict) else {}
    env_cfg = replay.get("env") if isinstance(replay.get("env"), dict) else {}
    repo_cfg = env_cfg.get("repo") if isinstance(env_cfg.get("repo"), dict) else {}
    instance_id = None
    for cand in (data.get("instance_id"), info.get("instance_id"), agent_cfg.get("name")):
        if isinstance(cand, str) and cand and aci.repo_from_instance_id(cand):
            instance_id = cand
            break
    if instance_id is None:
        instance_id = aci.instance_id_from_stem(stem)
    repo = None
    url = repo_cfg.get("github_url")
    if isinstance(url, str):
        m = re.search(r"github\.com/([^/\s]+)/([^/\s]+?)(?:\.git)?/?$", url)
        if m:
            repo = f"{m.group(1)}/{m.group(2)}"
    if repo is None and cwd0:
        # SWE-agent 0.x works in /<owner>__<name>
        m = re.fullmatch(r"/([A-Za-z0-9][\w.-]*?)__([\w.-]+)", cwd0)
        if m:
            repo = f"{m.group(1)}/{m.group(2)}"
    repo = repo or aci.repo_from_instance_id(instance_id)
    base_commit = repo_cfg.get("base_commit")
    if not (isinstance(base_commit, str) and re.fullmatch(r"[0-9a-f]{7,40}", base_commit)):
        base_commit = None

    meta: dict[str, Any] = {"layout": layout}
    for key in ("exit_status", "model_stats"):
        if info.get(key) is not None:
            meta[key] = info[key]
    if isinstance(data.get("environment"), str):
        meta["environment"] = data["environment"]
    return Trajectory(
        id=stem,
        source_format=NAME,
        steps=steps,
        instance_id=instance_id,
        repo=repo,
        base_commit=base_commit,
        problem_statement=problem,
        patch=aci.normalize_patch(info.get("submission")) or _submitted_diff(steps),
        outcome="unknown",
        meta=meta,
    )


def _submitted_diff(steps: list[Step]) -> str | None:
    """The diff the final ``submit`` printed (history-only files have no ``info``)."""
    last = steps[-1]
    if last.action.tool == "submit" and last.observation.lstrip().startswith("diff --git"):
        return aci.normalize_patch(last.observation)
    return None


_EXIT_ACTION = re.compile(r"\A\s*exit_(?:cost|context|api|format|error|forfeit|total_execution_time|command_timeout)\s*\Z")


def _text(value: Any, field: str, path: Path) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _fail(f"{field} is a {type(value).__name__}, expected a string", path)
    return value


def _first_tool_call(message: dict[str, Any]) -> tuple[str, Any, str | None] | None:
    calls = message.get("tool_calls")
    if not isinstance(calls, list) or not calls:
        return None
    call = calls[0]
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return None
    fn = call["function"]
    if not isinstance(fn.get("name"), str):
        return None
    return fn["name"], fn.get("arguments"), call.get("id") if isinstance(call.get("id"), str) else None


def _steps_from_trajectory(traj: list[Any], run: list[dict[str, Any]], path: Path, state: aci.AciState) -> list[Step]:
    assistants = [m for m in run if m.get("role") == "assistant"]
    # pair each step with its assistant turn: by position when the counts agree,
    # else by equal action text
    pairs: list[dict[str, Any] | None] = []
    if len(assistants) == len(traj):
        pairs = list(assistants)
    else:
        j = 0
        for s in traj:
            act = s.get("action").strip() if isinstance(s, dict) and isinstance(s.get("action"), str) else None
            found = None
            for k in range(j, len(assistants)):
                a = assistants[k].get("action")
                if isinstance(a, str) and a.strip() == act:
                    found, j = assistants[k], k + 1
                    break
            pairs.append(found)

    steps: list[Step] = []
    for i, s in enumerate(traj):
        if not isinstance(s, dict):
            raise _fail(f"trajectory[{i}] is a {type(s).__name__}, expected an object", path)
        command = _text(s.get("action"), f"trajectory[{i}].action", path)
        observation = aci.crlf_to_lf(_text(s.get("observation"), f"trajectory[{i}].observation", path))
        thought = _text(s.get("thought"), f"trajectory[{i}].thought", path)
        if _EXIT_ACTION.match(command):
            continue  # written by SWE-agent itself (cost/context limits, autosubmission), not the agent
        if not thought.strip():
            response = _text(s.get("response"), f"trajectory[{i}].response", path)
            block = aci.last_fenced_block(response)
            thought = block[0] if block else response
        st = s.get("state")
        if isinstance(st, str):  # 0.x: the state before the action
            state.update_from_state(st)
        msg = pairs[i] if i < len(pairs) else None
        call = _first_tool_call(msg) if msg else None
        meta: dict[str, Any] = {}
        if call is not None:
            name, arguments, call_id = call
            action = aci.tool_call_action(name, arguments, state, observation=observation)
            if call_id:
                meta["tool_call_id"] = call_id
        else:
            if not command.strip():
                # a malformed response: the action may still be in the response text
                block = aci.last_fenced_block(_text(s.get("response"), f"trajectory[{i}].response", path))
                command = block[1] if block else ""
            action = aci.parse_command(command, state, observation=observation)
        if command.strip():
            action.raw = command
        aci.track(action, state)
        if isinstance(st, dict):  # 1.x: the state after the action
            state.update_from_state(st)
        aci.observe(action, observation, state)
        if isinstance(s.get("execution_time"), (int, float)):
            meta["execution_time"] = s["execution_time"]
        steps.append(Step(action=action, thought=thought.strip(), observation=observation, meta=meta))
    return steps


def _steps_from_history(run: list[dict[str, Any]], path: Path, state: aci.AciState) -> list[Step]:
    steps: list[Step] = []
    pending: dict[str, Step] = {}  # tool_call_id -> step still waiting for its result
    answered: set[int] = set()
    last_step: Step | None = None
    for i, m in enumerate(run):
        role = m.get("role")
        text = aci.content_text(m.get("content"))
        if role == "system":
            continue
        if role in ("user", "tool"):
            observation = aci.strip_prompt_footer(aci.crlf_to_lf(text), state)
            ids = m.get("tool_call_ids") or ([m["tool_call_id"]] if isinstance(m.get("tool_call_id"), str) else [])
            if not isinstance(ids, list):
                raise _fail(f"history[{i}].tool_call_ids is a {type(ids).__name__}, expected a list", path)
            targets = [pending.pop(cid) for cid in ids if isinstance(cid, str) and cid in pending]
            if not targets and last_step is not None and id(last_step) not in answered:
                targets = [last_step]
            for step in targets:
                step.observation = observation
                answered.add(id(step))
                _clip_view(step.action, observation)
                aci.observe(step.action, observation, state)
            continue
        if role != "assistant":
            continue
        thought = (_text(m.get("thought"), f"history[{i}].thought", path) or text).strip()
        command = m.get("action") if isinstance(m.get("action"), str) else None
        new: list[Step] = []
        calls = m.get("tool_calls") if isinstance(m.get("tool_calls"), list) else []
        for call in calls:
            if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
                raise _fail(f"history[{i}].tool_calls holds a malformed call", path)
            fn = call["function"]
            if not isinstance(fn.get("name"), str):
                raise _fail(f"history[{i}].tool_calls[].function.name is not a string", path)
            raw = command if command and command.strip() and len(calls) == 1 else None
            action = aci.tool_call_action(fn["name"], fn.get("arguments"), state, raw)
            step = Step(action=action, thought=thought if not new else "")
            if isinstance(call.get("id"), str):
                step.meta["tool_call_id"] = call["id"]
                pending[call["id"]] = step
            new.append(step)
        if not new and command is None:
            xml = find_function_calls(text)
            if xml:
                lead = text[: xml[0][2][0]].strip()
                for name, params, (start, end) in xml:
                    action = aci.tool_call_action(name, params, state, text[start:end])
                    new.append(Step(action=action, thought="" if new else lead))
            else:
                block = aci.last_fenced_block(text)
                if block:
                    thought, command = block
        if not new and command is not None:
            new.append(Step(action=aci.parse_command(command, state), thought=thought))
        for step in new:
            aci.track(step.action, state)
        steps.extend(new)
        if new:
            last_step = new[-1]
    return steps


def _clip_view(action: Action, observation: str) -> None:
    """Clip an ``open``'s view range to the file length the viewer reported."""
    vr = action.args.get("view_range")
    total = aci.lines_total(observation)
    if action.tool == "str_replace_editor" and isinstance(vr, list) and len(vr) == 2 and total and total >= vr[0]:
        vr[1] = min(vr[1], total)

"""Chat-message trajectories: OpenAI-style ``messages`` rows, SFT rows and LLM-call logs.

Files: a JSON list of rows, one JSON object, JSONL rows (streamed line by
line), or a bare list of messages (one conversation). A row is any object
holding a conversation under ``messages``, ``trajectory`` (nebius:
``{role: system|user|ai, text}``) or ``conversations`` (ShareGPT ``from``/``value``),
with optional task fields (``instance_id``, ``repo``, ``base_commit``,
``problem_statement``, ``resolved``/``target``, ``test_result.git_patch`` /
``generated_patch``/``patch``...).

Actions of an assistant turn, first match wins:

1. native ``tool_calls`` (several per message -> several steps, each paired
   with its ``role: tool`` result by ``tool_call_id``; legacy ``function_call``);
2. SWE-smith XML function calls in the content
   (:func:`swe_srl.trajectories.render.find_function_calls`);
3. SWE-agent 0.x thought-action turns (the nebius rows, or any conversation
   showing SWE-agent's ``(Open file: ..)`` prompt footer): the last fenced
   block, read as an ACI command by :mod:`.aci`;
4. mini-swe-agent-style turns (```` ```bash ```` blocks answered by
   ``<returncode>``), read as in :mod:`.mini_swe_agent`.

A turn with no action adds its text to the next step's thought. Observations
lose their dataset labels (``OBSERVATION:\\n``, ``Observation: ``,
``EXECUTION RESULT of [tool]:\\n``) and SWE-agent's prompt footer.

**LLM-call logs** (``{messages, response, ...}``, one model call each, content
as block lists): the conversation so far plus the response's action. When the
log also holds ``raw_messages`` (the non-native function-calling variant:
``messages`` is the prompt-converted text form, ``raw_messages`` the native
form of the same turns) only ``raw_messages`` is read, so no turn is counted
twice. Consecutive logs of one conversation repeat a growing prefix: each
file yields its own trajectory, and :func:`dedupe_prefix_trajectories` keeps
only the longest (``swe-srl convert`` applies it to this parser's output).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from swe_srl.errors import ParseError, SweSrlError
from swe_srl.io import iter_jsonl, loads
from swe_srl.trajectories.models import FORMAT_TAG, Step, Trajectory
from swe_srl.trajectories.normalize import bash
from swe_srl.trajectories.parsers import aci
from swe_srl.trajectories.parsers._common import caught, read_json_document
from swe_srl.trajectories.parsers.mini_swe_agent import _ACTION_RE as _MINI_ACTION_RE
from swe_srl.trajectories.parsers.mini_swe_agent import parse_observation as _mini_observation
from swe_srl.trajectories.parsers.mini_swe_agent import thought_text as _mini_thought
from swe_srl.trajectories.render import find_function_calls

NAME = "chat-messages"

_ROLE_ALIASES = {"ai": "assistant", "gpt": "assistant", "model": "assistant", "human": "user",
                 "function": "tool", "observation": "tool", "ipython": "tool"}

_MESSAGES = re.compile(rb'"messages"\s*:\s*\[')
_LLM_LOG = re.compile(rb'"(?:response|raw_response)"\s*:\s*\{|"raw_messages"\s*:|"context_window"\s*:|"latency_sec"\s*:')
_ROLE = re.compile(rb'"role"\s*:')
_NEBIUS = re.compile(rb'"trajectory"\s*:\s*\[')
_AI_ROLE = re.compile(rb'"role"\s*:\s*"ai"')
_SHAREGPT = re.compile(rb'"conversations"\s*:\s*\[\s*\{\s*"(?:from|value)"')
_BARE = re.compile(rb'\A\[\s*\{\s*"(?:role|content)"\s*:')
_SWEAGENT_TRAJ = re.compile(rb'\A\{\s*"(?:environment|trajectory|history)"\s*:')
_MINI_DICT = re.compile(rb'\A\{\s*"info"\s*:|"trajectory_format"\s*:\s*"mini|"mini_version"\s*:')
_MINI_MARKS = (b"mswea_bash_command", b"<returncode>", b"COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT")


class ChatMessagesParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not text[:1] in (b"[", b"{") or FORMAT_TAG.encode() in head[:4096]:
            return 0.0
        if _SWEAGENT_TRAJ.match(text):
            return 0.0
        if text.startswith(b"{") and _MINI_DICT.search(text):
            return 0.05  # a mini-swe-agent trajectory
        if _MESSAGES.search(text) and _LLM_LOG.search(text):
            return 0.9
        if _NEBIUS.search(text) and _AI_ROLE.search(text):
            return 0.9
        if _MESSAGES.search(text) and _ROLE.search(text):
            return 0.7
        if _SHAREGPT.search(text):
            return 0.6
        if _BARE.match(text):
            return 0.1 if any(m in text for m in _MINI_MARKS) else 0.5
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        stem = aci.file_stem(path.name)
        for index, where, rec in _records(path):
            if isinstance(rec, ParseError):
                yield rec
                continue
            tid = stem if index is None else f"{stem}:{index}"
            yield caught(lambda: build_trajectory(rec, tid, where), where)


# --------------------------------------------------------------------------- reading


def _is_message(obj: Any) -> bool:
    return isinstance(obj, dict) and "role" in obj and not any(
        k in obj for k in ("messages", "trajectory", "conversations"))


def _records(path: Path) -> Iterator[tuple[int | None, str, Any]]:
    """``(index, where, record)``; index None for a file holding one record."""
    with open(path, "rb") as fh:
        first_line = fh.readline()
        while first_line and not first_line.strip():
            first_line = fh.readline()
        rest_nonblank = False
        if first_line:
            for line in fh:
                if line.strip():
                    rest_nonblank = True
                    break
    if not first_line:
        yield None, str(path), ParseError("empty file", str(path))
        return
    jsonl = path.suffix in (".jsonl", ".ndjson")
    if not jsonl and rest_nonblank and first_line.lstrip().startswith(b"{"):
        try:
            jsonl = isinstance(loads(first_line), dict)
        except orjson.JSONDecodeError:
            jsonl = False
    if jsonl:
        index = 0
        for lineno, rec in iter_jsonl(path, strict=False):
            where = f"{path}:{lineno}"
            if isinstance(rec, SweSrlError):
                yield index, where, ParseError("invalid JSON", where)
            else:
                yield index, where, rec
            index += 1
        return
    data = caught(lambda: read_json_document(path), str(path))  # not empty: it has a non-blank first line
    if isinstance(data, ParseError):
        yield None, str(path), data
        return
    if isinstance(data, list):
        if not data:
            yield None, str(path), ParseError("empty list: no conversations", str(path))
        elif all(_is_message(m) for m in data):
            yield None, str(path), {"messages": data}
        else:
            for i, row in enumerate(data):
                yield i, f"{path}[{i}]", row
        return
    if isinstance(data, dict):
        for key in ("rows", "data", "trajectories"):
            if isinstance(data.get(key), list) and len(data) <= 3 and not _conversation_of(data)[0]:
                for i, row in enumerate(data[key]):
                    yield i, f"{path}[{i}]", row
                return
        yield None, str(path), data
        return
    yield None, str(path), ParseError(f"expected a JSON object or list, got {type(data).__name__}", str(path))


def _conversation_of(rec: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """The message list of a record and its kind."""
    if isinstance(rec.get("raw_messages"), list) and rec["raw_messages"]:
        return rec["raw_messages"], "llm-call-log"
    if isinstance(rec.get("messages"), list):
        kind = "llm-call-log" if isinstance(rec.get("response"), dict) or isinstance(rec.get("raw_response"), dict) else "messages"
        return rec["messages"], kind
    if isinstance(rec.get("trajectory"), list):
        return rec["trajectory"], "trajectory"
    if isinstance(rec.get("conversations"), list):
        return rec["conversations"], "conversations"
    return None, ""


# --------------------------------------------------------------------------- building


def _fail(reason: str, where: str) -> ParseError:
    return ParseError(reason, where)


def _normalize_messages(raw: list[Any], where: str) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise _fail(f"message {i} is a {type(m).__name__}, expected an object", where)
        role = m.get("role", m.get("from"))
        if not isinstance(role, str):
            raise _fail(f"message {i} has no string 'role'", where)
        role = _ROLE_ALIASES.get(role, role)
        if "content" in m:
            content = m["content"]
        elif "text" in m:
            content = m["text"]
        elif "value" in m:
            content = m["value"]
        else:
            content = m.get("system_prompt")
        try:
            text = aci.content_text(content)
        except TypeError as e:
            raise _fail(f"message {i}: {e}", where) from None
        out.append({"role": role, "text": text, "src": m})
    return out


def _response_message(rec: dict[str, Any]) -> dict[str, Any] | None:
    for key in ("response", "raw_response"):
        resp = rec.get(key)
        if not isinstance(resp, dict):
            continue
        choices = resp.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            msg = choices[0].get("message")
            if isinstance(msg, dict):
                return {**msg, "role": "assistant"}
        if isinstance(resp.get("content"), (str, list)):
            return {"role": "assistant", "content": resp["content"]}
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def build_trajectory(rec: Any, tid: str, where: str) -> Trajectory:
    if not isinstance(rec, dict):
        raise _fail(f"record is a {type(rec).__name__}, expected an object", where)
    raw_messages, kind = _conversation_of(rec)
    if raw_messages is None:
        raise _fail("no conversation ('messages', 'trajectory' or 'conversations' list)", where)
    raw_messages = list(raw_messages)
    meta: dict[str, Any] = {"kind": kind}
    if kind == "llm-call-log":
        resp = _response_message(rec)
        if resp is not None:
            raw_messages.append(resp)
        if "raw_messages" in rec:
            meta["representation"] = "raw_messages"
        if isinstance(rec.get("timestamp"), (int, float)):
            meta["timestamp"] = rec["timestamp"]
    messages = _normalize_messages(raw_messages, where)
    steps, mode = _steps(messages, where)
    if not steps:
        raise _fail("no steps", where)
    if mode != "native":
        meta["actions"] = mode

    instance_id = rec.get("instance_id") if isinstance(rec.get("instance_id"), str) else None
    if instance_id:
        base = aci.strip_sample_suffix(instance_id)
        if base != instance_id:
            meta["row_instance_id"] = instance_id
        instance_id = base
    repo = rec.get("repo") if isinstance(rec.get("repo"), str) and "/" in rec["repo"] else None
    repo = repo or aci.repo_from_instance_id(instance_id)
    base_commit = rec.get("base_commit") if isinstance(rec.get("base_commit"), str) else None

    problem = rec.get("problem_statement") if isinstance(rec.get("problem_statement"), str) else None
    if problem is None:
        instance = rec.get("instance")
        if isinstance(instance, dict) and isinstance(instance.get("problem_statement"), str):
            problem = instance["problem_statement"]
    if problem is None:
        first_user = next((m["text"] for m in messages if m["role"] == "user"), "")
        problem = aci.extract_problem_statement(aci.strip_prompt_footer(aci.crlf_to_lf(first_user)))

    patch = None
    test_result = rec.get("test_result")
    candidates = [rec.get(k) for k in ("patch", "model_patch", "generated_patch", "git_patch", "submission")]
    if isinstance(test_result, dict):
        candidates.insert(0, test_result.get("git_patch"))
    info = rec.get("info")
    if isinstance(info, dict):
        candidates.append(info.get("submission"))
    for cand in candidates:
        patch = aci.normalize_patch(cand)
        if patch:
            break

    resolved = _bool(rec.get("resolved"))
    if resolved is None:
        resolved = _bool(rec.get("target"))
    outcome = "unknown" if resolved is None else ("resolved" if resolved else "unresolved")

    for key in ("run_id", "model_name", "exit_status"):
        if isinstance(rec.get(key), (str, int, float)):
            meta[key] = rec[key]
    return Trajectory(
        id=tid,
        source_format=NAME,
        steps=steps,
        instance_id=instance_id,
        repo=repo,
        base_commit=base_commit,
        problem_statement=problem,
        patch=patch,
        outcome=outcome,  # type: ignore[arg-type]
        meta=meta,
    )


def _mode(messages: list[dict[str, Any]]) -> str:
    """How to read assistant turns that carry no tool calls."""
    if any(m["src"].get("role") == "ai" for m in messages):
        return "aci"
    users = [m["text"] for m in messages if m["role"] in ("user", "tool")]
    system = " ".join(m["text"] for m in messages if m["role"] == "system")
    if "end_of_edit" in system or any("\n(Open file: " in u for u in users[:6]):
        return "aci"
    if any(u[:64].lstrip().startswith("<returncode>") for u in users[:6]) or "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" in system:
        return "mini"
    return "native"


def _tool_calls(src: dict[str, Any], where: str, i: int) -> list[tuple[str, Any, str | None]]:
    calls = src.get("tool_calls")
    out = []
    if isinstance(calls, list):
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise _fail(f"message {i}: malformed tool call", where)
            out.append((fn["name"], fn.get("arguments"), call.get("id") if isinstance(call.get("id"), str) else None))
    elif calls is not None:
        raise _fail(f"message {i}: 'tool_calls' is a {type(calls).__name__}, expected a list", where)
    fc = src.get("function_call")
    if not out and isinstance(fc, dict) and isinstance(fc.get("name"), str):
        out.append((fc["name"], fc.get("arguments"), None))
    return out


def _steps(messages: list[dict[str, Any]], where: str) -> tuple[list[Step], str]:
    mode = _mode(messages)
    used = "native"
    state = aci.AciState()
    steps: list[Step] = []
    pending: dict[str, Step] = {}
    unanswered: list[Step] = []  # steps of the latest assistant turn still without observation
    carry = ""  # text of assistant turns without an action
    first_user = next((m for m in messages if m["role"] == "user"), None)
    if first_user is not None:  # the task prompt's footer tells the working directory
        aci.strip_prompt_footer(aci.crlf_to_lf(first_user["text"]), state)
    for i, m in enumerate(messages):
        role, text, src = m["role"], m["text"], m["src"]
        if role == "assistant":
            new: list[Step] = []
            calls = _tool_calls(src, where, i)
            if calls:
                for name, arguments, call_id in calls:
                    step = Step(action=aci.tool_call_action(name, arguments, state), thought="" if new else text.strip())
                    if call_id:
                        step.meta["tool_call_id"] = call_id
                        pending[call_id] = step
                    new.append(step)
            else:
                xml = find_function_calls(text)
                if xml:
                    used = "xml"
                    lead = text[: xml[0][2][0]].strip()
                    for name, params, (start, end) in xml:
                        action = aci.tool_call_action(name, params, state, text[start:end])
                        new.append(Step(action=action, thought="" if new else lead))
                elif mode == "aci":
                    block = aci.last_fenced_block(text)
                    if block is not None:
                        used = "aci"
                        new.append(Step(action=aci.parse_command(block[1], state), thought=block[0]))
                elif mode == "mini":
                    blocks = list(_MINI_ACTION_RE.finditer(text))
                    if blocks:
                        used = "mini"
                        step = Step(action=bash(blocks[0].group(1).strip(), blocks[0].group(1)),
                                    thought=_mini_thought(text[: blocks[0].start()]))
                        if len(blocks) > 1:
                            step.meta.update(format_error=True, actions_found=len(blocks))
                        new.append(step)
            if not new:
                if text.strip():
                    carry = f"{carry}\n\n{text.strip()}" if carry else text.strip()
                continue
            if carry:
                new[0].thought = f"{carry}\n\n{new[0].thought}".strip()
                carry = ""
            if isinstance(src.get("mask"), bool):
                for s in new:
                    s.meta["mask"] = src["mask"]
            if used == "aci":
                for s in new:
                    aci.track(s.action, state)
            steps.extend(new)
            unanswered = list(new)
            continue
        if role not in ("user", "tool") or not steps:
            continue
        target = None
        call_id = src.get("tool_call_id")
        if role == "tool" and isinstance(call_id, str) and call_id in pending:
            target = pending.pop(call_id)
            if target in unanswered:
                unanswered.remove(target)
        elif unanswered:
            # positional: results answer the calls of the latest turn in order;
            # a user message answers the last one (XML/ACI turns)
            target = unanswered.pop(0) if role == "tool" else unanswered[-1]
            if role != "tool":
                unanswered.clear()
        if target is None:
            continue
        obs = aci.crlf_to_lf(text)
        if used == "mini" or mode == "mini":
            obs, obs_meta = _mini_observation(obs)
            target.meta.update(obs_meta)
        else:
            obs = aci.strip_observation_prefix(obs)
            obs = aci.strip_prompt_footer(obs, state)
            aci.observe(target.action, obs, state)
        target.observation = obs
        if target.meta.get("tool_call_id") in pending:
            pending.pop(target.meta["tool_call_id"])
    return steps, used


# --------------------------------------------------------------------------- dedupe


def _signature(traj: Trajectory) -> list[str]:
    return [s.action.render() for s in traj.steps]


def dedupe_prefix_trajectories(trajs: Iterable[Trajectory]) -> list[Trajectory]:
    """Drop every trajectory whose steps are a prefix of another's from the same source.

    LLM-call logs (one file per model call) repeat the growing conversation:
    call k holds turns 1..k-1 plus its response, so rebuilding each log gives
    trajectories that are prefixes of the last one. Trajectories are compared
    when they share ``source_format``, ``instance_id`` and
    ``problem_statement`` (the same conversation); steps are compared by their
    canonical action rendering (observations differ at the cut: the shorter
    log's last action has no result yet). Exact duplicates keep their first
    occurrence. The survivors are returned in their input order.

    ``swe-srl convert`` calls this on the ``chat-messages`` results.
    """
    items = list(trajs)
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, t in enumerate(items):
        groups.setdefault((t.source_format, t.instance_id, t.problem_statement), []).append(i)
    drop: set[int] = set()
    for idxs in groups.values():
        if len(idxs) < 2:
            continue
        sigs = {i: _signature(items[i]) for i in idxs}
        # longest first; ties keep input order
        order = sorted(idxs, key=lambda i: (-len(sigs[i]), i))
        kept: list[int] = []
        for i in order:
            sig = sigs[i]
            if any(sigs[k][: len(sig)] == sig for k in kept):
                drop.add(i)
            else:
                kept.append(i)
    return [t for i, t in enumerate(items) if i not in drop]

"""mini-swe-agent trajectories (``*.traj.json``).

Two layouts: the dict form ``{info, messages, trajectory_format, instance_id}``
and a bare list of ``{role, content}`` messages. The agent answers with a
thought and exactly one fenced shell command (```` ```bash ```` in 1.x,
```` ```mswea_bash_command ```` later); the next user message is the
observation, ``<returncode>N</returncode>`` followed by ``<output>...</output>``
or, for long outputs, ``<warning>`` + ``<output_head>`` / ``<elided_chars>`` /
``<output_tail>``. Assistant turns with native ``tool_calls`` are read too.

Each assistant turn becomes a step:

* the command maps through :func:`swe_srl.trajectories.normalize.bash`, so the
  final ``echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT ...`` is a ``submit``;
* the observation keeps the command output (the ``<output>`` wrapper and the
  return code are taken off; ``meta.exit_code`` holds the code). Truncated
  outputs keep their head/elided/tail text with ``meta.truncated: true``;
  timeouts set ``meta.timed_out: true``;
* a turn with no or several commands, answered by the format-error message,
  stays a step with ``meta.format_error: true`` (and ``meta.actions_found``)
  so the data stage can drop it; its action is the first command, or tool
  ``none`` when there was none.

``info.submission`` becomes the patch; the instance id comes from the top
level or the file name.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from swe_srl.errors import ParseError
from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers import aci
from swe_srl.trajectories.parsers._common import caught, read_json_document

NAME = "mini-swe-agent"

_ACTION_RE = re.compile(r"```(?:bash|mswea_bash_command)[ \t]*\n(.*?)\n```", re.S)
_RETURNCODE = re.compile(r"\A\s*<returncode>\s*(-?\d+)\s*</returncode>[ \t]*\n?")
_OUTPUT = re.compile(r"\A\s*<output>\n?(.*?)</output>\s*\Z", re.S)
_TRUNCATED_START = re.compile(r"<output_head>")
_WARNING = re.compile(r"\A\s*<warning>.*?</warning>\s*", re.S)
_TIMEOUT = re.compile(r"\AThe last command <command>.*?</command> timed out", re.S)
_TIMEOUT_OUTPUT = re.compile(r"<output>\n?(.*?)\n?</output>", re.S)
_FORMAT_ERROR = re.compile(r"\A\s*Please always provide EXACTLY ONE action in triple backticks")
_THOUGHT_LABEL = re.compile(r"\A\s*(?:THOUGHT|Thought|DISCUSSION)\s*:\s*")

_MINI_MARKERS = (b"mini-swe-agent", b"mswea_bash_command", b"<returncode>", b"COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT",
                 b"MINI_SWE_AGENT_FINAL_OUTPUT", b'"mini_version"')


class MiniSweAgentParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if b"swe-srl.trajectory/" in head[:4096]:
            return 0.0
        if text.startswith(b"{"):
            if re.search(rb'"trajectory_format"\s*:\s*"mini-swe-agent', text):
                return 1.0
            if re.search(rb'"mini_version"\s*:', text) and b'"messages"' in text:
                return 0.97
            if (re.match(rb'\{\s*"info"\s*:', text) and re.search(rb'"messages"\s*:\s*\[', text)
                    and any(m in text for m in _MINI_MARKERS)):
                return 0.9
            return 0.0
        if text.startswith(b"["):
            # a bare list of chat messages with mini-swe-agent's markers
            if re.match(rb'\[\s*\{\s*"(?:role|content)"\s*:', text) and any(m in text for m in _MINI_MARKERS[1:5]):
                return 0.9 if not re.search(rb'"(?:tool_calls|trajectory|instance_id)"\s*:', text) else 0.3
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        yield caught(lambda: build_trajectory(read_json_document(path), path), str(path))


def _fail(reason: str, path: Path) -> ParseError:
    return ParseError(reason, str(path))


def build_trajectory(data: Any, path: Path) -> Trajectory:
    info: dict[str, Any] = {}
    if isinstance(data, list):
        messages = data
        top: dict[str, Any] = {}
    elif isinstance(data, dict):
        messages = data.get("messages")
        top = data
        info = data.get("info") or {}
        if not isinstance(info, dict):
            raise _fail(f"'info' is a {type(info).__name__}, expected an object", path)
        if not isinstance(messages, list):
            raise _fail("'messages' is missing or not a list", path)
    else:
        raise _fail(f"expected a JSON object or list, got {type(data).__name__}", path)
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _fail(f"messages[{i}] is a {type(m).__name__}, expected an object", path)
        if not isinstance(m.get("role"), str):
            raise _fail(f"messages[{i}].role is missing or not a string", path)

    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    agent_cfg = config.get("agent") if isinstance(config.get("agent"), dict) else {}
    format_error_prefix = _template_prefix(agent_cfg.get("format_error_template"))

    steps = _steps(messages, path, format_error_prefix)
    if not steps:
        raise _fail("no steps", path)

    task = ""
    for m in messages:
        if m["role"] == "user":
            task = aci.content_text(m.get("content"))
            break
    instance_id = top.get("instance_id") if isinstance(top.get("instance_id"), str) else None
    stem = aci.file_stem(path.name)
    instance_id = instance_id or aci.instance_id_from_stem(stem)
    meta: dict[str, Any] = {}
    for key in ("exit_status", "model_stats", "mini_version"):
        if info.get(key) is not None:
            meta[key] = info[key]
    if isinstance(top.get("trajectory_format"), str):
        meta["trajectory_format"] = top["trajectory_format"]
    model_cfg = config.get("model") if isinstance(config.get("model"), dict) else {}
    if isinstance(model_cfg.get("model_name"), str):
        meta["model"] = model_cfg["model_name"]
    return Trajectory(
        id=stem,
        source_format=NAME,
        steps=steps,
        instance_id=instance_id,
        repo=aci.repo_from_instance_id(instance_id),
        problem_statement=aci.extract_problem_statement(task),
        patch=aci.normalize_patch(info.get("submission")),
        outcome="unknown",
        meta=meta,
    )


def _template_prefix(template: Any) -> str | None:
    """The static start of a Jinja template (up to its first tag)."""
    if not isinstance(template, str):
        return None
    prefix = re.split(r"\{\{|\{%", template, maxsplit=1)[0].strip()
    return prefix or None


def thought_text(text: str) -> str:
    """The thought of a turn, without its ``THOUGHT:`` label."""
    return _THOUGHT_LABEL.sub("", text.strip(), count=1).strip()


def parse_observation(text: str) -> tuple[str, dict[str, Any]]:
    """Observation text and meta (exit_code, truncated, timed_out) from a
    mini-swe-agent user message."""
    meta: dict[str, Any] = {}
    text = aci.crlf_to_lf(text)
    if _TIMEOUT.match(text):
        meta["timed_out"] = True
        meta["exit_code"] = None
        m = _TIMEOUT_OUTPUT.search(text)
        return (m.group(1) if m else text), meta
    m = _RETURNCODE.match(text)
    if not m:
        return text, meta
    meta["exit_code"] = int(m.group(1))
    body = text[m.end():]
    out = _OUTPUT.match(body)
    if out:
        return out.group(1), meta
    if _TRUNCATED_START.search(body):
        meta["truncated"] = True
        return _WARNING.sub("", body, count=1), meta
    return body, meta


def _steps(messages: list[dict[str, Any]], path: Path, format_error_prefix: str | None) -> list[Step]:
    steps: list[Step] = []
    pending: dict[str, Step] = {}
    last: Step | None = None
    last_answered = True
    for i, m in enumerate(messages):
        role = m["role"]
        text = aci.content_text(m.get("content"))
        if role == "assistant":
            new = _assistant_steps(m, text, i, path)
            steps.extend(new)
            for s in new:
                if "tool_call_id" in s.meta:
                    pending[s.meta["tool_call_id"]] = s
            if new:
                last, last_answered = new[-1], False
            continue
        if role not in ("user", "tool") or last is None:
            continue
        target = None
        if role == "tool" and isinstance(m.get("tool_call_id"), str):
            target = pending.pop(m["tool_call_id"], None)
        if target is None and not last_answered:
            target = last
        if target is None:
            continue
        if target is last:
            last_answered = True
        is_format_error = bool(_FORMAT_ERROR.match(text)) or bool(
            format_error_prefix and text.strip().startswith(format_error_prefix))
        if is_format_error:
            target.meta["format_error"] = True
            target.observation = aci.crlf_to_lf(text)
            continue
        target.observation, obs_meta = parse_observation(text)
        target.meta.update(obs_meta)
    return steps


def _assistant_steps(m: dict[str, Any], text: str, i: int, path: Path) -> list[Step]:
    calls = m.get("tool_calls")
    if isinstance(calls, list) and calls:
        out = []
        for call in calls:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise _fail(f"messages[{i}].tool_calls holds a malformed call", path)
            step = Step(action=normalize.from_tool_call(fn["name"], fn.get("arguments")),
                        thought=thought_text(text) if not out else "")
            if isinstance(call.get("id"), str):
                step.meta["tool_call_id"] = call["id"]
            out.append(step)
        return out
    blocks = list(_ACTION_RE.finditer(text))
    meta: dict[str, Any] = {}
    if len(blocks) == 1:
        block = blocks[0]
        command = block.group(1)
        action = normalize.bash(command.strip(), command)
        thought = thought_text(text[: block.start()] + text[block.end():])
    else:
        meta["format_error"] = True
        meta["actions_found"] = len(blocks)
        if blocks:
            command = blocks[0].group(1)
            action = normalize.bash(command.strip(), "\n\n".join(b.group(0) for b in blocks))
            thought = thought_text(text[: blocks[0].start()])
        else:
            action = Action("none", {}, "")
            thought = thought_text(text)
    extra = m.get("extra")
    if isinstance(extra, dict):
        resp = extra.get("response")
        if isinstance(resp, dict) and isinstance(resp.get("created"), (int, float)):
            meta["timestamp"] = resp["created"]
    return [Step(action=action, thought=thought, meta=meta)]

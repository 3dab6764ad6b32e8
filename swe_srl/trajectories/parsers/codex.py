"""OpenAI Codex CLI rollout JSONL (``~/.codex/sessions/.../rollout-*.jsonl``).

Layouts:

* current: every line is ``{timestamp, type, payload}`` with ``type`` in
  ``session_meta`` (id, cwd, git{commit_hash, repository_url}),
  ``turn_context`` (cwd, model; repeated every turn), ``response_item``
  (the model-visible items) and ``event_msg`` (UI events that duplicate or
  annotate the response items: ignored);
* legacy (before the wrapper): a first line ``{id, timestamp}`` then bare
  response items, one per line.

Response items: ``message`` (user / assistant / developer), ``reasoning``
(summary texts; encrypted content ignored), ``function_call`` /
``function_call_output`` and ``custom_tool_call`` /
``custom_tool_call_output`` paired by ``call_id``, ``local_shell_call``,
``web_search_call``, ``ghost_snapshot`` (ignored).

Choices:

* One trajectory per file (a rollout is one session); id = the session id.
* Actions: ``shell`` (argv, ``["bash", "-lc", CMD]`` -> ``CMD``),
  ``exec_command`` (``cmd``) and ``local_shell_call`` become ``bash``;
  ``apply_patch`` (function, custom tool, argv or a shell heredoc
  ``apply_patch <<'PATCH'``) goes through
  :func:`swe_srl.trajectories.apply_patch.patch_to_action` (one added file ->
  ``create``, a single-chunk update -> ``str_replace``, else the
  ``apply_patch`` tool with ``{"input": patch}``); every other tool (MCP
  ``mcp__server__tool``, ``update_plan``, ``write_stdin``...) keeps its name
  and arguments.
* Thought = the reasoning summaries and assistant messages since the previous
  call (those that end a turn, answered by a new user message, are
  dropped). An assistant message after the last call is kept as
  ``meta["final_message"]``.
* Observations: the output string; JSON-string outputs
  ``{"output", "metadata": {"exit_code"}}`` are unwrapped (exit code into the
  step meta); lists of ``output_text`` parts are joined.
* problem_statement = the first real user message: ``<environment_context>``,
  ``<user_instructions>`` and AGENTS.md instruction blocks are skipped; later
  user messages go into the next step's ``meta["user_message"]``.
* Unknown record or item types are tolerated and counted in
  ``meta["unknown_records"]``; they are not errors. A line that is not JSON,
  or a known record with wrong field types, is skipped with a ParseError
  naming ``file:line``. No final diff exists in rollouts (``patch`` is None).
  A session without any tool call gives the ParseError ``no steps``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import orjson

from swe_srl.errors import ParseError
from swe_srl.trajectories import normalize
from swe_srl.trajectories.apply_patch import extract_patch, patch_to_action
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers._common import blocks_text, caught, json_lines

NAME = "codex"

_WRAPPED_RE = re.compile(rb'"type"\s*:\s*"(session_meta|response_item|turn_context|event_msg)"')
_ITEM_RE = re.compile(rb'"type"\s*:\s*"(message|function_call|reasoning|custom_tool_call|local_shell_call)"')
_PART_RE = re.compile(rb'"type"\s*:\s*"(input_text|output_text)"')
_LEGACY_HEAD_RE = re.compile(rb'\A\s*\{\s*"id"\s*:\s*"[^"]*"\s*,\s*"timestamp"\s*:')

ITEM_TYPES = {"message", "reasoning", "function_call", "function_call_output", "custom_tool_call",
              "custom_tool_call_output", "local_shell_call", "web_search_call", "ghost_snapshot"}
SHELL_TOOLS = {"shell", "container.exec", "local_shell", "exec_command", "shell_command"}
_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "<INSTRUCTIONS>", "# AGENTS.md instructions",
                     "<user_shell_command>", "<turn_aborted>")
_REPO_RE = re.compile(r"(?:github\.com|gitlab\.com|bitbucket\.org)[:/]([^/\s]+)/([^/\s]+?)(?:\.git)?/?$")


def _text_parts(content: Any) -> str:
    """Join the text of ``[{type: input_text|output_text|text, text}]`` (or a plain string)."""
    return blocks_text(content, ("input_image", "image"), "content is neither a string nor a list")


def _repo_from_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    m = _REPO_RE.search(url.strip())
    return f"{m.group(1)}/{m.group(2)}" if m else None


def _is_context_message(text: str) -> bool:
    return text.lstrip().startswith(_CONTEXT_PREFIXES)


def _unwrap_output(output: Any) -> tuple[str, dict[str, Any]]:
    """Observation text and meta from a ``*_call_output`` payload's ``output``."""
    meta: dict[str, Any] = {}
    if isinstance(output, str):
        s = output.lstrip()
        if s.startswith("{") and '"output"' in s:
            try:
                value = orjson.loads(output)
            except orjson.JSONDecodeError:
                return output, meta
            if isinstance(value, dict) and "output" in value:
                md = value.get("metadata")
                if isinstance(md, dict):
                    if "exit_code" in md:
                        meta["exit_code"] = md["exit_code"]
                    if "duration_seconds" in md:
                        meta["duration_s"] = md["duration_seconds"]
                text = value.get("output")
                return text if isinstance(text, str) else orjson.dumps(text).decode(), meta
        return output, meta
    if isinstance(output, list):
        return _text_parts(output), meta
    if isinstance(output, dict):
        for key in ("output", "content", "text"):
            if key in output:
                value = output[key]
                if isinstance(value, (str, list)):
                    text, _ = _unwrap_output(value)
                    if isinstance(output.get("success"), bool):
                        meta["success"] = output["success"]
                    return text, meta
        return orjson.dumps(output, option=orjson.OPT_SORT_KEYS).decode(), meta
    if output is None:
        return "", meta
    raise ParseError("output has an unexpected type")


def _arguments(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str):
        raise ParseError("arguments is neither a string nor an object")
    return normalize.parse_arguments(raw)


def _shell_action(command: Any, raw: str, cwd: str | None) -> Action:
    if isinstance(command, list):
        patch = extract_patch(command)
        if patch is not None:
            return patch_to_action(patch, raw, cwd)
        command = normalize.shell_argv_to_command(command)
    if not isinstance(command, str):
        raise ParseError("shell command is neither a string nor a list")
    patch = extract_patch(command)
    if patch is not None:
        return patch_to_action(patch, raw, cwd)
    return normalize.bash(command, raw)


class _Session:
    """Accumulates one rollout, line by line."""

    def __init__(self, path: Path):
        self.path = path
        self.id: str | None = None
        self.cwd: str | None = None
        self.base_commit: str | None = None
        self.repo: str | None = None
        self.meta: dict[str, Any] = {}
        self.steps: list[Step] = []
        self.pending: dict[str, Step] = {}
        self.thought: list[str] = []
        self.problem: str | None = None
        self.event_problem: str | None = None
        self.user_message: str | None = None
        self.final_message: str | None = None
        self.unknown: Counter[str] = Counter()
        self.ignored: Counter[str] = Counter()

    # -- records -------------------------------------------------------------
    def record(self, rec: Any, lineno: int) -> None:
        if not isinstance(rec, dict):
            raise ParseError("record is not a JSON object")
        rtype = rec.get("type")
        if "payload" in rec and isinstance(rtype, str):
            payload = rec["payload"]
            if rtype in ("session_meta", "response_item", "turn_context", "event_msg") and not isinstance(payload, dict):
                raise ParseError(f"{rtype} payload is not an object")
            ts = rec.get("timestamp")
            if rtype == "session_meta":
                self.session_meta(payload)
            elif rtype == "turn_context":
                self.turn_context(payload)
            elif rtype == "response_item":
                self.item(payload, ts)
            elif rtype == "event_msg":
                self.event(payload)
            else:
                self.unknown[rtype] += 1
            return
        if rtype in ITEM_TYPES:  # legacy: bare response items
            self.meta["layout"] = "legacy"
            self.item(rec, rec.get("timestamp"))
            return
        if lineno == 1 and rtype is None and "id" in rec:  # legacy session header {id, timestamp}
            self.meta["layout"] = "legacy"
            if isinstance(rec["id"], str):
                self.id = rec["id"]
            if isinstance(rec.get("git"), dict):
                self.git(rec["git"])
            return
        self.unknown[str(rtype if rtype is not None else rec.get("record_type", "untyped"))] += 1

    def git(self, git: dict[str, Any]) -> None:
        commit = git.get("commit_hash")
        if isinstance(commit, str) and commit:
            self.base_commit = commit
        self.repo = _repo_from_url(git.get("repository_url")) or self.repo
        if isinstance(git.get("branch"), str):
            self.meta["branch"] = git["branch"]

    def session_meta(self, p: dict[str, Any]) -> None:
        if isinstance(p.get("id"), str):
            self.id = p["id"]
        if isinstance(p.get("cwd"), str):
            self.cwd = p["cwd"]
            self.meta["cwd"] = p["cwd"]
        for key in ("cli_version", "originator", "model_provider", "timestamp"):
            if isinstance(p.get(key), str):
                self.meta[key] = p[key]
        if isinstance(p.get("git"), dict):
            self.git(p["git"])

    def turn_context(self, p: dict[str, Any]) -> None:
        if isinstance(p.get("cwd"), str):
            self.cwd = p["cwd"]
        if isinstance(p.get("model"), str):
            self.meta["model"] = p["model"]

    def event(self, p: dict[str, Any]) -> None:
        # UI events duplicate the response items; only the first user message is
        # kept, as a fallback task for logs whose response items lack it.
        if p.get("type") == "user_message" and self.event_problem is None:
            msg = p.get("message")
            if isinstance(msg, str) and msg.strip() and not _is_context_message(msg):
                self.event_problem = msg
        self.ignored["event_msg"] += 1

    def item(self, p: dict[str, Any], ts: Any) -> None:
        itype = p.get("type")
        if itype == "message":
            self.message(p)
        elif itype == "reasoning":
            texts = []
            summary = p.get("summary")
            if isinstance(summary, list):
                texts.append(_text_parts(summary))
            content = p.get("content")
            if isinstance(content, list):
                texts.append(_text_parts(content))
            text = "\n".join(t for t in texts if t.strip())
            if text.strip():
                self.thought.append(text.strip())
        elif itype in ("function_call", "custom_tool_call", "local_shell_call", "web_search_call"):
            self.call(p, ts)
        elif itype in ("function_call_output", "custom_tool_call_output"):
            self.output(p)
        elif itype == "ghost_snapshot":
            self.ignored["ghost_snapshot"] += 1
        else:
            self.unknown[f"response_item:{itype}"] += 1

    def message(self, p: dict[str, Any]) -> None:
        role = p.get("role")
        text = _text_parts(p.get("content"))
        if role == "user":
            if not text.strip() or _is_context_message(text):
                return
            if self.problem is None:
                self.problem = text
            else:
                self.user_message = text if self.user_message is None else self.user_message + "\n\n" + text
                self.thought = []  # what came before a new user message answered the user
        elif role == "assistant":
            if text.strip():
                self.thought.append(text.strip())
                self.final_message = text
        # developer / system messages: instructions, not part of the trajectory

    def call(self, p: dict[str, Any], ts: Any) -> None:
        itype = p["type"]
        call_id = p.get("call_id") or p.get("id")
        name = p.get("name")
        if itype == "local_shell_call":
            action_obj = p.get("action")
            if not isinstance(action_obj, dict):
                raise ParseError("local_shell_call action is not an object")
            raw = orjson.dumps(action_obj).decode()
            action = _shell_action(action_obj.get("command"), raw, action_obj.get("working_directory") or self.cwd)
        elif itype == "web_search_call":
            args = p.get("action") if isinstance(p.get("action"), dict) else {}
            action = Action("web_search", dict(args), orjson.dumps(args).decode())
        elif itype == "custom_tool_call":
            if not isinstance(name, str):
                raise ParseError("custom_tool_call without a name")
            text = p.get("input")
            if not isinstance(text, str):
                raise ParseError("custom_tool_call input is not a string")
            if name == "apply_patch":
                action = patch_to_action(text, text, self.cwd)
            else:
                action = Action(name, {"input": text}, text)
        else:
            if not isinstance(name, str):
                raise ParseError("function_call without a name")
            raw_args = p.get("arguments")
            args = _arguments(raw_args)
            raw = raw_args if isinstance(raw_args, str) else orjson.dumps(args).decode()
            workdir = args.get("workdir") if isinstance(args.get("workdir"), str) else self.cwd
            if name in SHELL_TOOLS:
                command = args.get("command", args.get("cmd"))
                if command is None:
                    raise ParseError(f"{name} call without a command")
                action = _shell_action(command, raw, workdir)
            elif name == "apply_patch":
                patch = args.get("input", args.get("patch"))
                if not isinstance(patch, str):
                    raise ParseError("apply_patch call without a patch string")
                action = patch_to_action(patch, raw, workdir)
            else:
                action = normalize.from_tool_call(name, args, raw)
        meta: dict[str, Any] = {}
        if isinstance(call_id, str):
            meta["tool_call_id"] = call_id
        if isinstance(ts, str):
            meta["timestamp"] = ts
        if self.user_message is not None:
            meta["user_message"] = self.user_message
            self.user_message = None
        step = Step(action=action, thought="\n\n".join(self.thought), meta=meta)
        self.thought = []
        self.final_message = None
        self.steps.append(step)
        if isinstance(call_id, str):
            self.pending[call_id] = step

    def output(self, p: dict[str, Any]) -> None:
        call_id = p.get("call_id")
        step = self.pending.pop(call_id, None) if isinstance(call_id, str) else None
        if step is None:
            self.ignored["orphan_output"] += 1
            return
        text, meta = _unwrap_output(p.get("output"))
        step.observation = text
        step.meta.update(meta)

    # -- result --------------------------------------------------------------
    def trajectory(self) -> Trajectory:
        meta = dict(self.meta)
        if self.unknown:
            meta["unknown_records"] = dict(sorted(self.unknown.items()))
        if self.ignored:
            meta["ignored_records"] = dict(sorted(self.ignored.items()))
        if self.final_message:
            meta["final_message"] = self.final_message
        if self.pending:
            meta["calls_without_output"] = len(self.pending)
        problem = self.problem if self.problem is not None else (self.event_problem or "")
        return Trajectory(
            id=self.id or self.path.stem,
            source_format=NAME,
            steps=self.steps,
            repo=self.repo,
            base_commit=self.base_commit,
            problem_statement=problem,
            patch=None,
            outcome="unknown",
            meta=meta,
        )


class CodexParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        if not head.lstrip().startswith(b"{"):
            return 0.0
        if b'"payload"' in head and _WRAPPED_RE.search(head):
            return 0.95
        if _LEGACY_HEAD_RE.match(head) and _ITEM_RE.search(head) and (_PART_RE.search(head) or b'"call_id"' in head):
            return 0.8 if path.name.startswith("rollout-") else 0.7
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        session = _Session(path)
        for lineno, where, rec in json_lines(path):
            if isinstance(rec, ParseError):
                yield rec
                continue
            err = caught(lambda: session.record(rec, lineno), where)
            if err is not None:
                yield err
        if not session.steps:
            yield ParseError("no steps (the session has no tool calls)", str(path))
            return
        yield session.trajectory()

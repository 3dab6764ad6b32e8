"""OpenHands logs: event streams, eval ``output.jsonl`` runs, the 2024 resolver output, SDK v1 events.

Shapes recognised (by content, not by file name):

* **event stream** (runtime replays, ``events/*.json`` dumps): a JSON list of
  serialized events ``{id, source, action|observation, args|extras,
  content, cause, tool_call_metadata}``. An observation belongs to the action
  whose ``id`` is its ``cause``.
* **eval output** (``output.jsonl``): one run per line ``{instance_id,
  instruction, history, test_result{git_patch}, instance{problem_statement,
  repo, base_commit, ...}, metadata, error}``; ``history`` is an event list
  as above (or, in old runs, a list of ``[action, observation]`` pairs).
* **resolver 2024** (``output.jsonl`` of the GitHub resolver): one run per
  line ``{issue, base_commit, git_patch, history, success, ...}`` whose
  history events are FLAT (no id/source/args/cause): actions carry their
  parameters at the top level and an observation answers the action just
  before it (positional pairing). ``issue`` is a dict or its Python repr
  (read with :func:`ast.literal_eval`, never ``eval``).
* **SDK v1** (``software-agent-sdk`` event logs): one event per line with a
  ``kind``: ``ActionEvent`` / ``ObservationEvent`` / ``AgentErrorEvent``
  paired by ``tool_call_id``; ``MessageEvent`` (user task); state, system and
  condensation events skipped. Observations whose action is not in the file
  (truncated slices) are tolerated and counted in
  ``meta["unpaired_observations"]``.

Mapping choices:

* ``run`` -> ``bash``; ``read`` -> ``str_replace_editor view`` (``view_range``
  kept, or built from legacy ``start``/``end``); ``edit`` with ``command``
  -> ``str_replace_editor`` (create/str_replace/insert/undo_edit/view). A
  GUI-mode ``edit`` whose ``args.content`` is ``""`` takes the real
  arguments from the tool call in ``tool_call_metadata.model_response``
  (matched by ``tool_call_id``), else from ``translated_ipython_code``. A
  legacy draft edit (``content``/``start``/``end``, LLM-merged) keeps the
  tool name ``edit`` with those arguments.
* ``run_ipython``: single agentskills calls with literal arguments are
  mapped to the editor (``open_file(path)`` -> view, ``create_file`` ->
  create, ``edit_file_by_replace`` -> str_replace,
  ``insert_content_at_line`` -> insert, ``file_editor(**{...})`` -> its
  command); any other cell becomes ``execute_ipython_cell`` with ``code``.
* ``finish`` -> ``submit`` (its ``final_thought`` / ``task_completed`` in
  the step meta).
* Messages and ``think`` actions are not environment actions: no step is
  made of them. An agent message or a think text is kept as thought and
  prepended to the next step's thought; the first user message is the task
  when the run does not carry a problem statement, later user messages go to
  the next step's ``meta["user_message"]`` (and the agent messages they
  answer are dropped from the thought). ``system``, ``recall``,
  ``change_agent_state`` and condensation events are skipped.
* SDK v1 thought: the text blocks of ``thought``; a ``<think>...</think>``
  section is unwrapped (tags removed, its text first), and
  ``reasoning_content`` is added when the text does not already hold it.
* patch = ``test_result.git_patch`` (eval) or ``git_patch`` (resolver);
  outcome from ``test_result.report.resolved`` or, for the resolver, its
  ``success`` flag (``meta["outcome_source"]`` says which); an ``error`` is
  kept in meta, with ``meta["exit_reason"] = "max_iterations"`` when the
  agent reached its iteration limit.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import orjson

from swe_srl.errors import ParseError
from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action, Step, Trajectory
from swe_srl.trajectories.parsers._common import (blocks_text, caught, dumps_sorted, load_lenient, nonblank_lines,
                                                  read_json_document)

NAME = "openhands"

_KIND_RE = re.compile(
    rb'"kind"\s*:\s*"(ActionEvent|ObservationEvent|MessageEvent|SystemPromptEvent|ConversationStateUpdateEvent'
    rb'|AgentErrorEvent|UserRejectObservation|Condensation|CondensationRequest|PauseEvent)"')
_ACTION_RE = re.compile(
    rb'"action"\s*:\s*"(run|run_ipython|edit|read|write|message|finish|think|system|recall|change_agent_state'
    rb'|browse|browse_interactive|delegate|mcp|condensation)"')
_OBSERVATION_RE = re.compile(
    rb'"observation"\s*:\s*"(run|run_ipython|edit|read|write|agent_state_changed|null|recall|error|think'
    rb'|browse|delegate|mcp|user_rejected|success)"')

# Action types that are not environment actions.
_NOT_STEPS = {"system", "recall", "change_agent_state", "condensation", "condensation_request", "null", "",
              "pause", "resume", "reject"}
# Observation types that answer nothing worth a step (not counted as unpaired).
_QUIET_OBSERVATIONS = {"agent_state_changed", "null", "recall", "condensation"}
# Arguments that describe how OpenHands ran an action, not the action itself.
_NOISE_ARGS = {"thought", "impl_source", "security_risk", "confirmation_state", "is_confirmed", "action_risk",
               "keep_prompt", "blocking", "hidden", "is_static", "translated_ipython_code", "kernel_init_code",
               "images_urls", "image_urls", "wait_for_response", "include_extra", "kind", "summary", "action"}
_EDITOR_ARGS = ("command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range")

MAX_IPYTHON_PARSE = 200_000


def _str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    raise ParseError(f"expected text, got {type(value).__name__}")


def _blocks_text(content: Any) -> str:
    """Text of a string or a list of ``{type: text, text}`` blocks."""
    return blocks_text(content, ("image", "image_url"), "expected text blocks, got {type}")


_THINK_RE = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.S)


def split_think(text: str) -> tuple[str, str]:
    """``(reasoning inside <think> tags, the remaining visible text)``.

    >>> split_think("<think>plan</think>\\n\\nDo it.")
    ('plan', 'Do it.')
    """
    inner = [m.group(1).strip() for m in _THINK_RE.finditer(text)]
    if not inner:
        return "", text.strip()
    visible = _THINK_RE.sub("", text).replace("</think>", "").strip()
    return "\n\n".join(i for i in inner if i), visible


def _join(*parts: str) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _tool_call_from_metadata(tcm: Any) -> tuple[str, Any] | None:
    """The ``(function name, arguments)`` of this event's tool call in the stored model response."""
    if not isinstance(tcm, dict):
        return None
    call_id = tcm.get("tool_call_id")
    response = tcm.get("model_response")
    if not isinstance(response, dict):
        return None
    choices = response.get("choices")
    if not isinstance(choices, list):
        return None
    for choice in choices:
        msg = choice.get("message") if isinstance(choice, dict) else None
        calls = msg.get("tool_calls") if isinstance(msg, dict) else None
        if not isinstance(calls, list):
            continue
        for call in calls:
            if not isinstance(call, dict) or (call_id is not None and call.get("id") != call_id):
                continue
            fn = call.get("function")
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                return fn["name"], fn.get("arguments")
    return None


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _single_expression(code: str) -> ast.expr | None:
    """The expression of a cell that is exactly one expression statement, else None."""
    try:
        tree = ast.parse(code.strip())
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    return tree.body[0].value


def _file_editor_kwargs(code: str) -> dict[str, Any] | None:
    """``print(file_editor(**{...}))`` / ``file_editor(**{...})`` -> the dict, if literal."""
    call = _single_expression(code)  # None fails the isinstance checks below
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print" and len(call.args) == 1:
        call = call.args[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "file_editor"):
        return None
    out: dict[str, Any] = {}
    try:
        for kw in call.keywords:
            if kw.arg is None:
                value = _literal(kw.value)
                if not isinstance(value, dict):
                    return None
                out.update(value)
            else:
                out[kw.arg] = _literal(kw.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return None
    return out


_AGENTSKILLS = {
    "open_file": ("path", "line_number", "context_lines"),
    "create_file": ("filename",),
    "edit_file_by_replace": ("file_name", "to_replace", "new_content"),
    "insert_content_at_line": ("file_name", "line_number", "content"),
}


def ipython_action(code: str, raw: str | None = None) -> Action:
    """An IPython cell as an action: simple agentskills calls map to the editor."""
    raw = code if raw is None else raw
    fallback = Action("execute_ipython_cell", {"code": code}, raw)
    if len(code) > MAX_IPYTHON_PARSE:
        return fallback
    kwargs = _file_editor_kwargs(code)
    if kwargs is not None and isinstance(kwargs.get("command"), str):
        return normalize.editor(kwargs, raw)
    call = _single_expression(code)
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in _AGENTSKILLS):
        return fallback
    params = _AGENTSKILLS[call.func.id]
    try:
        if len(call.args) > len(params) or any(isinstance(a, ast.Starred) for a in call.args):
            return fallback
        values = {p: _literal(a) for p, a in zip(params, call.args)}
        for kw in call.keywords:
            if kw.arg not in params:
                return fallback
            values[kw.arg] = _literal(kw.value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        return fallback
    name = call.func.id
    if name == "open_file" and isinstance(values.get("path"), str) and len(values) == 1:
        return normalize.editor({"command": "view", "path": values["path"]}, raw)
    if name == "create_file" and isinstance(values.get("filename"), str):
        return normalize.editor({"command": "create", "path": values["filename"], "file_text": ""}, raw)
    if name == "edit_file_by_replace" and all(isinstance(values.get(k), str) for k in params):
        return normalize.editor({"command": "str_replace", "path": values["file_name"],
                                 "old_str": values["to_replace"], "new_str": values["new_content"]}, raw)
    if (name == "insert_content_at_line" and isinstance(values.get("file_name"), str)
            and isinstance(values.get("line_number"), int) and isinstance(values.get("content"), str)):
        return normalize.editor({"command": "insert", "path": values["file_name"],
                                 "insert_line": max(values["line_number"] - 1, 0), "new_str": values["content"]}, raw)
    return fallback


def _clean_args(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if k not in _NOISE_ARGS and v is not None}


def classic_action(name: str, args: dict[str, Any], tcm: Any) -> Action:
    """Map one (non-message, non-think) OpenHands action to a canonical Action."""
    call = _tool_call_from_metadata(tcm)
    raw = call[1] if call and isinstance(call[1], str) else dumps_sorted(_clean_args(args))
    if name == "run":
        return normalize.bash(_str(args.get("command")), raw)
    if name == "run_ipython":
        return ipython_action(_str(args.get("code")), raw)
    if name == "finish":
        return Action("submit", {}, raw)
    if name == "read":
        view = {"command": "view", "path": _str(args.get("path"))}
        vr = args.get("view_range")
        if isinstance(vr, list) and vr:
            view["view_range"] = vr
        else:
            start, end = args.get("start", 0), args.get("end", -1)
            if isinstance(start, int) and isinstance(end, int) and (start > 1 or end != -1):
                view["view_range"] = [max(start, 1), end]
        return normalize.editor(view, raw)
    if name == "edit":
        command = args.get("command")
        if isinstance(command, str) and command:
            return normalize.editor({k: args[k] for k in _EDITOR_ARGS if k in args}, raw)
        if call is not None and call[0] in normalize.EDITOR_NAMES:
            action = normalize.from_tool_call(call[0], call[1], raw)
            if action.args.get("command"):
                return action
        code = args.get("translated_ipython_code")
        if isinstance(code, str) and code:
            kwargs = _file_editor_kwargs(code)
            if kwargs is not None and isinstance(kwargs.get("command"), str):
                return normalize.editor(kwargs, raw)
        legacy = {k: args[k] for k in ("path", "content", "start", "end") if k in args}
        return Action("edit", legacy, raw)
    if name == "mcp" and isinstance(args.get("name"), str):
        arguments = args.get("arguments")
        return Action(args["name"], arguments if isinstance(arguments, dict) else {"input": arguments}, raw)
    return Action(name, _clean_args(args), raw)


class _Builder:
    """Collects steps, thoughts and the task from a sequence of events."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.by_id: dict[Any, Step] = {}
        self.not_step_ids: set[Any] = set()  # ids of messages, thinks... (their observations are dropped)
        self.last_unanswered: Step | None = None
        self.thought: list[str] = []
        self.problem: str | None = None
        self.user_message: str | None = None
        self.unpaired: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.meta: dict[str, Any] = {}

    def user_text(self, text: str) -> None:
        if not text.strip():
            return
        if self.problem is None:
            self.problem = text
        else:
            self.user_message = _join(self.user_message or "", text)
            self.thought = []  # agent messages before a user reply were addressed to the user

    def add_step(self, action: Action, thought: str, meta: dict[str, Any], key: Any = None) -> Step:
        if self.user_message is not None:
            meta["user_message"] = self.user_message
            self.user_message = None
        step = Step(action=action, thought=_join(*self.thought, thought), meta=meta)
        self.thought = []
        self.steps.append(step)
        if key is not None:
            self.by_id[key] = step
        self.last_unanswered = step
        return step

    def answer(self, key: Any, kind: str, text: str, meta: dict[str, Any], positional: bool) -> None:
        step = self.by_id.pop(key, None) if key is not None else None
        if step is None and key is not None and key in self.not_step_ids:
            return
        if step is None and positional and key is None:
            step = self.last_unanswered
        if step is None:
            if kind not in _QUIET_OBSERVATIONS:
                self.unpaired[kind or "unknown"] += 1
            return
        step.observation = text
        step.meta.update(meta)
        if step is self.last_unanswered:
            self.last_unanswered = None

    def finish_meta(self) -> dict[str, Any]:
        meta = dict(self.meta)
        if self.unpaired:
            meta["unpaired_observations"] = dict(sorted(self.unpaired.items()))
        if self.skipped:
            meta["skipped_events"] = dict(sorted(self.skipped.items()))
        if self.thought:
            meta["final_message"] = _join(*self.thought)
        return meta

    # -- classic events (event streams, eval history, flat resolver) ---------
    def classic_event(self, e: Any) -> None:
        if not isinstance(e, dict):
            raise ParseError("history event is not an object")
        if "action" in e and isinstance(e["action"], str):
            self.classic_action_event(e)
        elif "observation" in e and isinstance(e["observation"], str):
            self.classic_observation_event(e)
        else:
            self.skipped["untyped"] += 1

    def classic_action_event(self, e: dict[str, Any]) -> None:
        name = e["action"]
        self.last_unanswered = None  # positional pairing: an observation answers the action just before it
        flat = "args" not in e
        args = {k: v for k, v in e.items() if k != "action"} if flat else e["args"]
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ParseError(f"{name} action args is not an object")
        source = e.get("source")
        thought = args.get("thought") if isinstance(args.get("thought"), str) else ""
        if name in _NOT_STEPS or name in ("message", "think"):
            eid = e.get("id")
            if eid is not None and not isinstance(eid, (dict, list)):
                self.not_step_ids.add(eid)
        if name == "message":
            text = _str(args.get("content", e.get("message")))
            if source == "user" or (source is None and self.problem is None):
                self.user_text(text)
            elif text.strip():
                self.thought.append(_join(thought, text) if thought and thought not in text else text)
            return
        if name == "think":
            self.thought.append(_join(thought or _str(e.get("message"))))
            return
        if name == "system":
            for key in ("openhands_version", "agent_class"):
                if isinstance(args.get(key), str):
                    self.meta[key] = args[key]
            return
        if name in _NOT_STEPS:
            self.skipped[name or "empty"] += 1
            return
        tcm = e.get("tool_call_metadata")
        action = classic_action(name, args, tcm)
        meta: dict[str, Any] = {}
        if isinstance(e.get("timestamp"), str):
            meta["timestamp"] = e["timestamp"]
        if isinstance(tcm, dict) and isinstance(tcm.get("tool_call_id"), str):
            meta["tool_call_id"] = tcm["tool_call_id"]
        if name == "run" and args.get("is_input") is True:
            meta["is_input"] = True
        if name == "finish":
            for key in ("final_thought", "task_completed"):
                if args.get(key) not in (None, ""):
                    meta[key] = args[key]
        self.add_step(action, thought, meta, key=e.get("id"))

    def classic_observation_event(self, e: dict[str, Any], positional: bool | None = None) -> None:
        kind = e["observation"]
        text = _str(e.get("content"))
        extras = e.get("extras")
        meta: dict[str, Any] = {}
        md = extras.get("metadata") if isinstance(extras, dict) else None
        exit_code = md.get("exit_code") if isinstance(md, dict) else e.get("exit_code")
        if isinstance(exit_code, int) and not isinstance(exit_code, bool):
            meta["exit_code"] = exit_code
        if kind == "error":
            meta["error"] = True
        if positional is None:  # flat (2024 resolver) events have neither extras nor id
            positional = "extras" not in e and "id" not in e
        cause = None if positional else e.get("cause")
        self.answer(cause, kind, text, meta, positional=positional)

    # -- SDK v1 events ----------------------------------------------------------
    def sdk_event(self, e: Any) -> None:
        if not isinstance(e, dict):
            raise ParseError("event is not an object")
        kind = e.get("kind")
        if kind == "ActionEvent":
            self.sdk_action(e)
        elif kind in ("ObservationEvent", "AgentErrorEvent", "UserRejectObservation"):
            obs = e.get("observation")
            meta: dict[str, Any] = {}
            if kind == "ObservationEvent":
                if not isinstance(obs, dict):
                    raise ParseError("ObservationEvent observation is not an object")
                text = _blocks_text(obs.get("content"))
                exit_code = obs.get("exit_code")
                md = obs.get("metadata")
                if exit_code is None and isinstance(md, dict):
                    exit_code = md.get("exit_code")
                if isinstance(exit_code, int) and not isinstance(exit_code, bool):
                    meta["exit_code"] = exit_code
                if obs.get("is_error") is True:
                    meta["error"] = True
            elif kind == "AgentErrorEvent":
                text = _str(e.get("error"))
                meta["error"] = True
            else:
                text = _str(e.get("rejection_reason")) or "rejected by the user"
                meta["rejected"] = True
            key = e.get("tool_call_id")
            self.answer(key if isinstance(key, str) else None, kind, text, meta, positional=False)
        elif kind == "MessageEvent":
            msg = e.get("llm_message")
            if not isinstance(msg, dict):
                raise ParseError("MessageEvent llm_message is not an object")
            text = _blocks_text(msg.get("content"))
            if e.get("source") == "user" or msg.get("role") == "user":
                self.user_text(text)
            elif text.strip():
                self.thought.append(text.strip())
        else:
            self.skipped[str(kind)] += 1

    def sdk_action(self, e: dict[str, Any]) -> None:
        tool = e.get("tool_name")
        if not isinstance(tool, str):
            raise ParseError("ActionEvent without a tool_name")
        text = _blocks_text(e.get("thought"))
        inner, visible = split_think(text)
        reasoning = e.get("reasoning_content") if isinstance(e.get("reasoning_content"), str) else ""
        extra = []
        blocks = e.get("thinking_blocks")
        if isinstance(blocks, list):
            extra = [b["thinking"] for b in blocks if isinstance(b, dict) and isinstance(b.get("thinking"), str)]
        first = inner
        for r in [reasoning, *extra]:
            if r and r.strip() and r.strip() not in first:
                first = _join(first, r)
        thought = _join(first, visible)
        action_obj = e.get("action")
        call = e.get("tool_call")
        raw = call.get("arguments") if isinstance(call, dict) and isinstance(call.get("arguments"), str) else None
        if isinstance(action_obj, dict):
            args = {k: v for k, v in action_obj.items() if k != "kind"}
        elif action_obj is None and raw is not None:
            args = normalize.parse_arguments(raw)
        else:
            raise ParseError("ActionEvent action is not an object")
        if raw is None:
            raw = dumps_sorted(args)
        if tool == "think":
            self.thought.append(_join(thought, _str(args.get("thought"))))
            return
        if tool == "finish":
            action = Action("submit", {}, raw)
        else:
            clean = _clean_args(args)
            action = normalize.from_tool_call(tool, clean, raw)
        meta: dict[str, Any] = {}
        if isinstance(e.get("timestamp"), str):
            meta["timestamp"] = e["timestamp"]
        key = e.get("tool_call_id")
        if isinstance(key, str):
            meta["tool_call_id"] = key
        if tool == "finish" and isinstance(args.get("message"), str):
            meta["final_thought"] = args["message"]
        self.add_step(action, thought, meta, key=key if isinstance(key, str) else None)


def _issue(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip().startswith("{") and len(value) < 5_000_000:
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _outcome_from(value: Any) -> str:
    if value is True:
        return "resolved"
    if value is False:
        return "unresolved"
    return "unknown"


def run_record(rec: Any, tid: str) -> Trajectory:
    """One eval / resolver run (a dict with ``history``) -> a trajectory (steps may be empty)."""
    if not isinstance(rec, dict):
        raise ParseError("record is not a JSON object")
    history = rec.get("history")
    if not isinstance(history, list):
        raise ParseError("history is not a list")
    b = _Builder()
    for e in history:
        if isinstance(e, list) and len(e) == 2 and all(isinstance(x, dict) for x in e):  # old [action, obs] pairs
            b.classic_event(e[0])
            if isinstance(e[1].get("observation"), str):
                b.classic_observation_event(e[1], positional=True)
        else:
            b.classic_event(e)
    meta = b.finish_meta()
    instance = rec.get("instance") if isinstance(rec.get("instance"), dict) else {}
    instance_id = rec.get("instance_id") if isinstance(rec.get("instance_id"), str) else instance.get("instance_id")
    repo = instance.get("repo") if isinstance(instance.get("repo"), str) else None
    base_commit = instance.get("base_commit") or rec.get("base_commit")
    problem = instance.get("problem_statement") if isinstance(instance.get("problem_statement"), str) else None
    issue = _issue(rec.get("issue"))
    if issue is not None:
        owner, name, number = issue.get("owner"), issue.get("repo"), issue.get("number")
        if isinstance(owner, str) and isinstance(name, str):
            repo = repo or f"{owner}/{name}"
            if isinstance(number, int) and not instance_id:
                instance_id = f"{owner}__{name}-{number}"
        title, body = issue.get("title"), issue.get("body")
        if problem is None and isinstance(title, str):
            problem = _join(title, body if isinstance(body, str) else "")
    if problem is None:
        problem = b.problem or (rec.get("instruction") if isinstance(rec.get("instruction"), str) else "")
    test_result = rec.get("test_result") if isinstance(rec.get("test_result"), dict) else {}
    patch = test_result.get("git_patch", rec.get("git_patch"))
    patch = patch if isinstance(patch, str) and patch.strip() else None
    outcome = "unknown"
    report = test_result.get("report")
    if isinstance(report, dict) and isinstance(report.get("resolved"), bool):
        outcome = _outcome_from(report["resolved"])
        meta["outcome_source"] = "test_result.report.resolved"
    elif isinstance(rec.get("resolved"), bool):
        outcome = _outcome_from(rec["resolved"])
        meta["outcome_source"] = "resolved"
    elif isinstance(rec.get("success"), bool) and "issue" in rec:
        outcome = _outcome_from(rec["success"])
        meta["outcome_source"] = "resolver success flag"
    error = rec.get("error")
    if isinstance(error, str) and error:
        meta["error"] = error
        if "maximum iteration" in error.lower():
            meta["exit_reason"] = "max_iterations"
    md = rec.get("metadata")
    if isinstance(md, dict):
        for key in ("agent_class", "max_iterations", "git_commit"):
            if md.get(key) is not None:
                meta.setdefault(key, md[key])
        llm = md.get("llm_config")
        if isinstance(llm, dict) and isinstance(llm.get("model"), str):
            meta["model"] = llm["model"]
    if isinstance(rec.get("issue_type"), str):
        meta["issue_type"] = rec["issue_type"]
    return Trajectory(
        id=tid,
        source_format=NAME,
        steps=b.steps,
        instance_id=instance_id if isinstance(instance_id, str) else None,
        repo=repo,
        base_commit=base_commit if isinstance(base_commit, str) and base_commit else None,
        problem_statement=problem,
        patch=patch,
        outcome=outcome,  # type: ignore[arg-type]
        meta=meta,
    )


def _stream_trajectory(b: _Builder, path: Path, layout: str) -> Trajectory:
    meta = b.finish_meta()
    meta["layout"] = layout
    return Trajectory(id=path.stem, source_format=NAME, steps=b.steps, problem_statement=b.problem or "", meta=meta)


class OpenHandsParser:
    name = NAME

    def detect(self, path: Path, head: bytes) -> float:
        stripped = head.lstrip()
        if not stripped[:1] in (b"{", b"["):
            return 0.0
        if _KIND_RE.search(head) and (b'"tool_call_id"' in head or b'"source"' in head):
            return 0.9
        if _ACTION_RE.search(head) and _OBSERVATION_RE.search(head):
            return 0.85
        if _ACTION_RE.search(head) and (b'"history"' in head or b'"tool_call_metadata"' in head):
            return 0.6
        if (stripped[:1] == b"{" and b'"instance_id"' in head and b'"instruction"' in head
                and b'"test_result"' in head and b'"messages"' not in head):
            return 0.5  # an eval output line whose instruction alone fills the head
        return 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        with open(path, "rb") as fh:
            first = b""
            for first in fh:
                if first and not first.isspace():
                    break
            if not first or first.isspace():
                yield ParseError("empty file", str(path))
                return
        if first.lstrip().startswith(b"["):
            yield from self._parse_document(path)
        else:
            yield from self._parse_lines(path)

    # A single JSON document: an event list, a run record, or a list of run records.
    def _parse_document(self, path: Path, data: Any = None) -> Iterator[Trajectory | ParseError]:
        where = str(path)
        if data is None:
            data = caught(lambda: read_json_document(path, lenient=True), where)  # not empty: parse() saw a non-blank line
            if isinstance(data, ParseError):
                yield data
                return
        if isinstance(data, dict) and isinstance(data.get("history"), list):
            yield caught(lambda: self._checked(run_record(data, path.stem)), where)
            return
        if isinstance(data, dict) and isinstance(data.get("events"), list):
            data = data["events"]
        if not isinstance(data, list):
            yield ParseError("not an OpenHands event list or run record", where)
            return
        if data and all(isinstance(r, dict) and isinstance(r.get("history"), list) for r in data):
            for i, rec in enumerate(data):
                yield caught(lambda: self._checked(run_record(rec, f"{path.stem}:{i}")), f"{where}[{i}]")
            return
        b = _Builder()
        sdk = any(isinstance(e, dict) and "kind" in e for e in data[:50])
        for i, e in enumerate(data):
            err = caught(lambda: b.sdk_event(e) if sdk else b.classic_event(e), f"{where}[{i}]")
            if err is not None:
                yield err
        yield caught(lambda: self._checked(_stream_trajectory(b, path, "sdk-v1" if sdk else "event-stream")), where)

    # JSONL: one run per line (eval / resolver output) or one event per line (SDK v1, events).
    def _parse_lines(self, path: Path) -> Iterator[Trajectory | ParseError]:
        b: _Builder | None = None
        layout = None
        runs = 0
        for lineno, where, line in nonblank_lines(path):
            try:
                rec = load_lenient(line)
            except orjson.JSONDecodeError:
                if layout is None:  # maybe a pretty-printed document rather than JSONL
                    try:
                        data = load_lenient(path.read_bytes())
                    except orjson.JSONDecodeError:
                        data = None
                    if data is not None:
                        yield from self._parse_document(path, data)
                        return
                    if line.strip() in (b"{", b"["):  # a broken pretty-printed document: one error
                        yield ParseError("invalid JSON", str(path))
                        return
                yield ParseError("invalid JSON", where)
                continue
            if not isinstance(rec, dict):
                yield ParseError("record is not a JSON object", where)
                continue
            if layout is None:
                layout = "runs" if "history" in rec else ("sdk-v1" if "kind" in rec else "events")
                if layout != "runs":
                    b = _Builder()
            if layout == "runs":
                if "history" not in rec:
                    yield ParseError("not an OpenHands run record (no history)", where)
                    continue
                runs += 1
                item = caught(lambda: self._checked(run_record(rec, f"{path.stem}:{lineno}")), where)
            else:
                assert b is not None
                item = caught(lambda: b.sdk_event(rec) if layout == "sdk-v1" else b.classic_event(rec), where)
            if item is not None:
                yield item
        if b is not None and layout is not None:
            yield caught(lambda: self._checked(_stream_trajectory(b, path, layout)), str(path))
        elif layout is None:
            yield ParseError("no records", str(path))

    @staticmethod
    def _checked(traj: Trajectory) -> Trajectory:
        """``traj``; a trajectory without steps raises ParseError."""
        if not traj.steps:
            raise ParseError("no steps")
        return traj

"""The SRL response format: a ``<think>...</think>`` monologue, then exactly one
action written as an SWE-agent XML function call.

:func:`parse_response` turns a model response into a :class:`ParsedResponse`
(the thought and a canonical :class:`~swe_srl.trajectories.models.Action`) or
raises :class:`~swe_srl.errors.FormatError` with a short reason. The reward
(:mod:`swe_srl.rewards.reward`) and the agent loop both use it, so what is
rewarded in training is exactly what the agent can execute at test time.

Tolerated slips: whitespace anywhere around the tags, spaces around ``=`` in
``<function = bash>``, the multi-line parameter layout, and a missing
``</parameter>`` / ``</function>`` at the very end of the text (generation cut
at the stop sequence). Not tolerated: a missing ``<think>`` or ``</think>``,
text other than whitespace outside the think block and the call, zero or
several calls, and (when the caller names the tools on offer) a call to any
other tool: as in SWE-agent, an unknown function is a format error, not an
action (an invented ``<function=think>`` must not earn similarity for the
``<function=...><parameter=...>`` boilerplate it shares with the expert's call).

>>> r = parse_response("<think>list files</think>\\n<function=bash>\\n<parameter=command>ls -la</parameter>\\n</function>")
>>> r.thought, r.action.tool, r.action.args
('list files', 'bash', {'command': 'ls -la'})
>>> parse_response("<think>x</think>").action
Traceback (most recent call last):
...
swe_srl.errors.FormatError: no function call after </think>
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Collection

from swe_srl.errors import FormatError
from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action
from swe_srl.trajectories.render import find_function_calls

__all__ = ["ParsedResponse", "parse_response", "is_degenerate", "function_name", "THINK_OPEN", "THINK_CLOSE"]

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

_THINK_OPEN_RE = re.compile(r"\A\s*<think\s*>", re.I)
_THINK_CLOSE_RE = re.compile(r"</think\s*>", re.I)
_FUNC_OPEN_RE = re.compile(r"<function\s*=", re.I)

_FUNC_NAME_RE = re.compile(r"<function\s*=\s*([^>\s]+)\s*>")
EDITOR_KEYS = ("command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range")


@dataclass
class ParsedResponse:
    """A well-formed response: the monologue and the one action.

    ``action.raw`` is the function call exactly as the model wrote it;
    ``action.render()`` is its canonical rendering (what the reward compares).
    """

    thought: str
    action: Action

    @property
    def action_text(self) -> str:
        """The canonical rendering of the action."""
        return self.action.render()


def _canonical_action(name: str, params: dict[str, str], raw: str) -> Action:
    """Map a parsed call onto the canonical tools (same rules as the log parsers)."""
    if name in normalize.BASH_NAMES:
        command = params.get("command", params.get("cmd", params.get("input")))
        if command is None:
            raise FormatError(f"<function={name}> without a command parameter")
        return normalize.bash(command, raw)
    if name in normalize.EDITOR_NAMES:
        known = normalize.editor(params, raw)
        # Keep unknown parameters: they are part of what the model wrote and
        # must cost similarity, not be silently dropped.
        extra = {k: v for k, v in params.items() if k not in EDITOR_KEYS}
        return Action("str_replace_editor", {**known.args, **extra}, raw)
    if name in normalize.SUBMIT_NAMES:
        return Action("submit", dict(params), raw)
    return Action(name, dict(params), raw)


def parse_response(text: str, tools: Collection[str] | None = None) -> ParsedResponse:
    """Parse ``<think>THOUGHT</think>`` followed by exactly one function call;
    with ``tools``, a call whose canonical tool is not among them is malformed.

    Raises :class:`FormatError` (a one-line reason) otherwise.

    >>> parse_response("  <think>\\nopen it\\n</think>\\n<function=str_replace_editor><parameter=path>/a.py"
    ...                "</parameter><parameter=command>view</parameter><parameter=view_range>[1,5]").action_text
    '<function=str_replace_editor>\\n<parameter=command>view</parameter>\\n<parameter=path>/a.py</parameter>\\n<parameter=view_range>[1, 5]</parameter>\\n</function>'
    >>> parse_response("<function=submit></function>")
    Traceback (most recent call last):
    ...
    swe_srl.errors.FormatError: response does not start with <think>
    >>> from swe_srl.trajectories.models import CANONICAL_TOOLS
    >>> parse_response("<think>t</think><function=think><parameter=command>x</parameter></function>", CANONICAL_TOOLS)
    Traceback (most recent call last):
    ...
    swe_srl.errors.FormatError: unknown tool 'think' (the tools are bash, str_replace_editor, submit)
    """
    if not isinstance(text, str):
        raise FormatError(f"response is {type(text).__name__}, not text")
    m_open = _THINK_OPEN_RE.match(text)
    if not m_open:
        raise FormatError("response does not start with <think>")
    m_close = _THINK_CLOSE_RE.search(text, m_open.end())
    if not m_close:
        raise FormatError("no </think> after <think>")
    thought = text[m_open.end():m_close.start()]
    if _THINK_OPEN_RE.match(thought) or "<think>" in thought.lower():
        raise FormatError("nested <think> in the monologue")
    rest = text[m_close.end():]
    calls = find_function_calls(rest)
    if not calls:
        raise FormatError("no function call after </think>")
    if len(calls) > 1:
        raise FormatError(f"{len(calls)} function calls after </think>, expected exactly one")
    name, params, (start, end) = calls[0]
    outside = rest[:start] + rest[end:]
    if outside.strip():
        raise FormatError("text outside <think> and the function call")
    if not name or _FUNC_OPEN_RE.search(name):
        raise FormatError("function call without a name")
    raw = rest[start:end].strip()
    action = _canonical_action(name, params, raw)
    if tools is not None and action.tool not in tools:
        raise FormatError(f"unknown tool {name[:60]!r} (the tools are {', '.join(tools)})")
    return ParsedResponse(thought=thought.strip(), action=action)


def function_name(text: str) -> str | None:
    """The name in the first ``<function=NAME>`` of ``text`` (an expert action's rendering), or None.

    >>> function_name("<function=bash>\\n<parameter=command>ls</parameter>\\n</function>")
    'bash'
    """
    m = _FUNC_NAME_RE.search(text)
    return m.group(1) if m else None


def is_degenerate(action: Action) -> bool:
    """True for an action that does nothing useful: an empty shell command, an
    editor call without a command or path, a tool call whose arguments are all
    blank. ``submit`` (which takes no arguments) is never degenerate.

    >>> is_degenerate(Action("bash", {"command": "  "}))
    True
    >>> is_degenerate(Action("submit", {}))
    False
    """
    if action.tool == "submit":
        return False
    if action.tool == "bash":
        return not str(action.args.get("command", "")).strip()
    if action.tool == "str_replace_editor":
        return not str(action.args.get("command", "")).strip() or not str(action.args.get("path", "")).strip()
    return not action.tool.strip() or not any(str(v).strip() for v in action.args.values())

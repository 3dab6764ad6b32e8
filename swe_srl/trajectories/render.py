"""Canonical rendering of actions (SWE-agent XML function calls) and its parser.

The rendering is the string the SRL reward compares, so it is deterministic:
a fixed argument order per tool (then the remaining keys sorted), ``\\r\\n``
and ``\\r`` turned into ``\\n``, and values written inline, as SWE-smith's
training data writes them::

    <function=str_replace_editor>
    <parameter=command>view</parameter>
    <parameter=path>/testbed/setup.py</parameter>
    <parameter=view_range>[1, 20]</parameter>
    </function>
"""

from __future__ import annotations

import json
import re
from typing import Any

# Argument order per canonical tool; other keys follow, sorted.
ARG_ORDER: dict[str, tuple[str, ...]] = {
    "bash": ("command",),
    "str_replace_editor": ("command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"),
    "submit": (),
}


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def render_value(value: Any) -> str:
    if isinstance(value, str):
        return normalize_newlines(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) if not isinstance(v, (int, float)) else str(v) for v in value) + "]"
    return normalize_newlines(json.dumps(value, ensure_ascii=False, sort_keys=True))


def ordered_keys(tool: str, args: dict[str, Any]) -> list[str]:
    order = ARG_ORDER.get(tool, ())
    first = [k for k in order if k in args]
    rest = sorted(k for k in args if k not in order)
    return first + rest


def render_action(tool: str, args: dict[str, Any]) -> str:
    parts = [f"<function={tool}>"]
    for key in ordered_keys(tool, args):
        value = args[key]
        if value is None:
            continue
        text = render_value(value)
        if text.startswith("\n"):
            # The parser drops one layout newline after the opening tag (and then one
            # before the closing tag); add both so such values round-trip exactly.
            text = f"\n{text}\n"
        parts.append(f"<parameter={key}>{text}</parameter>")
    parts.append("</function>")
    return "\n".join(parts)


_FUNC_RE = re.compile(r"<function\s*=\s*([^>\s]+)\s*>(.*?)(?:</function\s*>|\Z)", re.S)
_PARAM_RE = re.compile(r"<parameter\s*=\s*([^>\s]+)\s*>(.*?)(?:</parameter\s*>|(?=<parameter\s*=)|(?=</function\s*>)|\Z)", re.S)


def find_function_calls(text: str) -> list[tuple[str, dict[str, str], tuple[int, int]]]:
    """All XML function calls in ``text``: ``(name, {param: value}, span)``.

    Tolerant of small slips: spaces around ``=``, a missing ``</parameter>``
    or ``</function>`` at the end of the text. Values are kept verbatim except
    that one newline right after the opening tag and one right before the
    closing tag are dropped (the multi-line layout SWE-agent prompts show).
    """
    calls = []
    for m in _FUNC_RE.finditer(text):
        name = m.group(1)
        body = m.group(2)
        params: dict[str, str] = {}
        for pm in _PARAM_RE.finditer(body):
            value = pm.group(2)
            if value.startswith("\n"):
                # multi-line layout: "<parameter=x>\nVALUE\n</parameter>"
                value = value[1:]
                if value.endswith("\n"):
                    value = value[:-1]
            params[pm.group(1)] = value
        calls.append((name, params, m.span()))
    return calls

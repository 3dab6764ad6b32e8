"""Mapping of the many tool vocabularies in agent logs onto the canonical tools.

Canonical tools: ``bash`` (``command``), ``str_replace_editor`` (``command`` in
view/create/str_replace/insert/undo_edit, ``path``, ``file_text``, ``old_str``,
``new_str``, ``insert_line``, ``view_range``) and ``submit``. A tool we cannot
map keeps its own name and arguments.
"""

from __future__ import annotations

import json
import re
from typing import Any

from swe_srl.trajectories.models import Action

BASH_NAMES = {"bash", "execute_bash", "terminal", "shell", "run", "cmd_run", "Bash", "exec_command",
              "local_shell", "container.exec", "run_shell_command", "execute_command"}
EDITOR_NAMES = {"str_replace_editor", "str_replace_based_edit_tool", "edit_file", "file_editor", "editor",
                "text_editor"}
SUBMIT_NAMES = {"submit", "finish", "task_complete", "attempt_completion", "done"}

# mini-swe-agent and SWE-smith bash-only agents submit by running this command.
SUBMIT_SENTINELS = ("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "MINI_SWE_AGENT_FINAL_OUTPUT")

_INT_RE = re.compile(r"^-?\d+$")


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict: JSON strings are decoded; a string that is
    not JSON becomes ``{"input": text}`` (free-form/custom tools)."""
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            return {"input": arguments}
        return value if isinstance(value, dict) else {"input": value}
    return {"input": arguments}


def bash(command: str, raw: str | None = None) -> Action:
    """A shell command; the submit sentinels of bash-only agents become ``submit``."""
    if any(s in command for s in SUBMIT_SENTINELS):
        return Action("submit", {}, raw if raw is not None else command)
    return Action("bash", {"command": command}, raw if raw is not None else command)


def _coerce_editor_args(args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in args.items():
        if v is None:
            continue
        if k == "insert_line" and isinstance(v, str) and _INT_RE.match(v.strip()):
            v = int(v.strip())
        elif k == "view_range":
            if isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            if isinstance(v, list):
                v = [int(x) if isinstance(x, str) and _INT_RE.match(x.strip()) else x for x in v]
        out[k] = v
    return out


def editor(args: dict[str, Any], raw: str = "") -> Action:
    """A ``str_replace_editor`` call; drops agent-specific extras (security_risk, impl_source...)."""
    keep = {"command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"}
    clean = {k: v for k, v in args.items() if k in keep}
    return Action("str_replace_editor", _coerce_editor_args(clean), raw)


def from_tool_call(name: str, arguments: Any, raw: str | None = None) -> Action:
    """Map a named tool call (OpenAI / OpenHands / SWE-agent 1.x vocabulary)."""
    args = parse_arguments(arguments)
    if raw is None:
        raw = arguments if isinstance(arguments, str) else json.dumps(args, ensure_ascii=False, sort_keys=True)
    if name in BASH_NAMES:
        command = args.get("command", args.get("cmd", args.get("input", "")))
        if isinstance(command, list):
            command = shell_argv_to_command(command)
        return bash(str(command), raw)
    if name in EDITOR_NAMES:
        return editor(args, raw)
    if name in SUBMIT_NAMES:
        return Action("submit", {}, raw)
    return Action(name, args, raw)


def shell_argv_to_command(argv: list[Any]) -> str:
    """``["bash", "-lc", "ls"]`` -> ``ls``; other argv lists are shell-quoted."""
    import shlex

    argv = [str(a) for a in argv]
    if len(argv) >= 3 and argv[0] in ("bash", "sh", "/bin/bash", "/bin/sh", "zsh") and argv[1] in ("-lc", "-c", "-l", "-ic"):
        return argv[2] if len(argv) == 3 else " ".join([argv[2], *map(shlex.quote, argv[3:])])
    return " ".join(shlex.quote(a) for a in argv)

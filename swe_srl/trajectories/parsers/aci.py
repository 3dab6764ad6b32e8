"""SWE-agent's Agent-Computer Interface (ACI) commands, and helpers shared by
the SWE-agent family of parsers (``swe-agent``, ``mini-swe-agent`` and the
SWE-agent-style rows of ``chat-messages``).

SWE-agent 0.x agents answer with a thought and one command in a fenced block.
The command is either a plain shell command or an ACI command. They map onto
the canonical tools as follows (``raw`` always keeps the command as written):

==========================================  ==============================================================
``open PATH [N]``                           ``str_replace_editor view PATH`` (``view_range`` N-50..N+50,
                                            clipped to the file length the viewer reported)
``create PATH``                             ``str_replace_editor create PATH`` with ``file_text ""``
``edit N:M`` ... ``end_of_edit``            ``str_replace_editor str_replace`` on the open file when lines
                                            N..M were shown by an earlier viewer window (see :func:`observe`),
                                            else tool ``edit`` {path, start_line, end_line, replacement}
``edit 'old' 'new' [replace_all]`` (1.x)    ``str_replace_editor str_replace`` on the open file (tool
                                            ``edit`` {search, replace, replace_all} for replace-all edits
                                            or when no file is open)
``insert 'text' [N]`` (1.x)                 ``str_replace_editor insert`` (tool ``insert`` without N)
``str_replace_editor CMD PATH --k v`` (1.x) ``str_replace_editor`` with the flags as arguments
``submit``                                  ``submit``
``goto N``, ``scroll_up``, ``scroll_down``  their own names (``line_number``)
``search_file T [F]``, ``search_dir T [D]`` their own names (``search_term``, ``file`` / ``dir``)
``find_file NAME [D]``                      ``find_file`` (``file_name``, ``dir``)
anything else                               ``bash`` (:func:`swe_srl.trajectories.normalize.bash`)
==========================================  ==============================================================

Relative paths are made absolute with the working directory when it is known
(the ``state`` of a ``.traj`` step, or the ``(Current directory: ...)`` line
SWE-agent appends to every observation), because ``str_replace_editor`` only
takes absolute paths. SWE-agent 1.x function-calling tool calls use the same
argument names, see :func:`tool_call_action`.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action

# --------------------------------------------------------------------------- text helpers


def content_text(content: Any) -> str:
    """Message content as plain text: a string, or a list of content blocks
    (``{"type": "text", "text": ...}``, plain strings); other blocks (images)
    are skipped. Raises ``TypeError`` on any other type."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                text = block.get("text")
                if isinstance(text, str):
                    parts.append(text)
            else:
                raise TypeError(f"content block is a {type(block).__name__}")
        return "\n".join(parts)
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    raise TypeError(f"message content is a {type(content).__name__}")


def crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n") if "\r\n" in text else text


_OBS_PREFIXES = re.compile(r"\A(?:OBSERVATION:[ \t]*\n|Observation:[ \t]*|EXECUTION RESULT of \[[^\]\n]*\]:[ \t]*\n)")


def strip_observation_prefix(text: str) -> str:
    """Drop the label chat datasets put before tool output
    (``OBSERVATION:\\n``, ``Observation: ``, ``EXECUTION RESULT of [tool]:\\n``)."""
    return _OBS_PREFIXES.sub("", text, count=1)


_TASK_PATTERNS = (
    re.compile(r"<pr_description>\s*(?:Consider the following PR description:\s*)?(.*?)\s*</pr_description>", re.S),
    re.compile(r"ISSUE:\n(.*?)\n+INSTRUCTIONS:", re.S),
    re.compile(r"<issue_description>\s*(.*?)\s*</issue_description>", re.S),
    re.compile(r"<issue>\s*(.*?)\s*</issue>", re.S),
    re.compile(r"\APlease solve this issue: (.*?)\n\nYou can execute bash commands", re.S),
)


def extract_problem_statement(text: str) -> str:
    """The task inside an agent's instance prompt (the ``<pr_description>``,
    SWE-agent's ``ISSUE: ... INSTRUCTIONS:``...), else the whole text."""
    for pattern in _TASK_PATTERNS:
        m = pattern.search(text)
        if m and m.group(1).strip():
            return m.group(1).strip()
    return text.strip()


# --------------------------------------------------------------------------- instance ids


_SAMPLE_SUFFIX = re.compile(r"^(.+__.+-\d+)_\d+$")
_PART = r"[A-Za-z0-9](?:(?!__)[\w.-])*"  # an owner or repository name: no "__" inside
_SWEBENCH_ID = re.compile(rf"^(?P<owner>{_PART})__(?P<name>{_PART})-\d+$")
_SWESMITH_ID = re.compile(rf"^(?P<owner>{_PART})__(?P<name>[A-Za-z0-9](?:(?!__)[\w-])*)\.[0-9a-f]{{8}}(?:\.|$)")


def strip_sample_suffix(instance_id: str) -> str:
    """``python__mypy-15976_0`` (SWE-Gym / nebius sample index) -> ``python__mypy-15976``."""
    m = _SAMPLE_SUFFIX.match(instance_id)
    return m.group(1) if m else instance_id


def instance_id_from_stem(stem: str) -> str:
    """An instance id from a file name: the longest ``__``-separated tail that
    reads as a SWE-bench or SWE-smith id (so ``run7__django__django-16255``
    gives ``django__django-16255``), else the whole name."""
    parts = stem.split("__")
    for k in range(len(parts) - 1):
        tail = "__".join(parts[k:])
        if repo_from_instance_id(tail):
            return tail
    return stem


def repo_from_instance_id(instance_id: str | None) -> str | None:
    """``django__django-16255`` -> ``django/django``; SWE-smith ids
    (``getmoto__moto.694ce1f4.pr_7331``) -> ``getmoto/moto``; else None."""
    if not instance_id:
        return None
    iid = strip_sample_suffix(instance_id)
    m = _SWESMITH_ID.match(iid) or _SWEBENCH_ID.match(iid)
    if m:
        return f"{m.group('owner')}/{m.group('name')}"
    return None


def file_stem(name: str) -> str:
    """``x.traj.json`` -> ``x``; ``x.traj`` -> ``x``; ``rows.jsonl`` -> ``rows``."""
    for suffix in (".traj.json", ".traj", ".jsonl", ".ndjson", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def normalize_patch(patch: Any) -> str | None:
    """A submitted diff, cleaned of terminal artefacts: ``\\r\\n`` line endings
    throughout (a pty's doing; the diff's own header lines end in ``\\r\\n``)
    become ``\\n``, and leading blank lines go. Empty -> None."""
    if not isinstance(patch, str) or not patch.strip():
        return None
    text = patch
    m = re.search(r"^diff --git [^\n]*\n", text, re.M)
    if m and m.group(0).endswith("\r\n"):
        text = text.replace("\r\n", "\n")
    return text.lstrip("\r\n")


# --------------------------------------------------------------------------- fenced blocks

_FENCE = re.compile(r"^[ \t]*```([^\s`]*)[ \t]*$")


def last_fenced_block(text: str) -> tuple[str, str] | None:
    """``(thought, command)`` from SWE-agent's thought-action format: the
    command is the last top-level fenced block, the thought the text before it.

    A fence with a language tag always opens a block; a bare fence closes the
    innermost open block, or opens one. A block starting with ``edit N:M``
    runs to the first fence after its ``end_of_edit`` line, so a replacement
    may itself hold fences.
    """
    lines = text.split("\n")
    stack: list[int] = []
    last: tuple[int, int] | None = None
    i = 0
    n = len(lines)
    while i < n:
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        if not stack and i + 1 < n and re.match(r"\s*edit\s+\d+", lines[i + 1]):
            j = next((k for k in range(i + 2, n) if lines[k].strip() == "end_of_edit"), None)
            if j is not None:
                close = next((k for k in range(j + 1, n) if _FENCE.match(lines[k])), n)
                last = (i, close)
                i = close + 1
                continue
        if m.group(1):
            stack.append(i)
        elif stack:
            start = stack.pop()
            if not stack:
                last = (start, i)
        else:
            stack.append(i)
        i += 1
    if last is None:
        return None
    start, end = last
    thought = "\n".join(lines[:start]).strip()
    return thought, "\n".join(lines[start + 1 : end])


# --------------------------------------------------------------------------- ACI state


@dataclass
class AciState:
    """What SWE-agent's prompt footer tells: the open file and the working directory."""

    open_file: str | None = None
    cwd: str | None = None
    #: what the viewer windows have shown of each file: path -> (lines total, {line number: text})
    windows: dict[str, tuple[int, dict[int, str]]] = field(default_factory=dict)
    #: the last ``edit N:M`` (path, N, M, replacement), applied to ``windows`` when its output shows it landed
    pending_edit: tuple[str, int, int, str] | None = None

    def update(self, open_file: Any = None, cwd: Any = None) -> None:
        if isinstance(open_file, str) and open_file.strip():
            self.open_file = None if open_file.strip() == "n/a" else open_file.strip()
        if isinstance(cwd, str) and cwd.strip():
            self.cwd = cwd.strip()

    def update_from_state(self, state: Any) -> None:
        """From a ``.traj`` step ``state`` (a dict, or a JSON string in 0.x)."""
        if isinstance(state, str):
            from swe_srl.io import loads

            try:
                state = loads(state)
            except ValueError:
                return
        if isinstance(state, dict):
            self.update(state.get("open_file"), state.get("working_dir"))

    def absolute(self, path: str) -> str:
        path = path.strip()
        if path and not path.startswith("/") and self.cwd:
            return posixpath.normpath(posixpath.join(self.cwd, path))
        return path


_FOOTER = re.compile(r"\n*\(Open file: ([^\n]*)\)\n\(Current directory: ([^\n]*)\)\n(?:bash-\$|\$)[ \t]*\Z")


def strip_prompt_footer(observation: str, state: AciState | None = None) -> str:
    """Remove SWE-agent's ``(Open file: X)\\n(Current directory: Y)\\nbash-$``
    footer from an observation, recording X and Y in ``state``."""
    if "(Current directory: " not in observation[-4096:]:
        return observation
    tail = max(0, len(observation) - 4096)
    m = _FOOTER.search(observation, tail)
    if not m:
        return observation
    if state is not None:
        state.update(m.group(1), m.group(2))
    return observation[: m.start()]


_LINES_TOTAL = re.compile(r"\A\[File: [^\n]*\((\d+) lines total\)\]")


def lines_total(observation: str) -> int | None:
    """The file length SWE-agent's viewer reports (``[File: x (372 lines total)]``)."""
    m = _LINES_TOTAL.match(observation)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- ACI commands

WINDOW = 100  # SWE-agent's default viewer window
_EDIT_RANGE = re.compile(r"\Aedit[ \t]+(\d+)[ \t]*(?::[ \t]*(\d+))?[ \t]*(?:\n|\Z)")


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def view_action(path: str, line: int | None, state: AciState, raw: str, total: int | None = None) -> Action:
    args: dict[str, Any] = {"command": "view", "path": state.absolute(path)}
    if line is not None:
        start = max(1, line - WINDOW // 2)
        end = line + WINDOW // 2
        if total is not None and total >= start:
            end = min(end, total)
        args["view_range"] = [start, end]
    return normalize.editor(args, raw)


def _edit_range(command: str, state: AciState, raw: str) -> Action | None:
    m = _EDIT_RANGE.match(command)
    if not m:
        return None
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    body = command[m.end():]
    lines = body.split("\n")
    # the replacement runs up to the last ``end_of_edit`` line
    cut = None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip() == "end_of_edit":
            cut = i
            break
    replacement = "\n".join(lines[:cut] if cut is not None else lines)
    if cut is None:
        replacement = replacement.rstrip("\n")
    state.pending_edit = (state.open_file, start, end, replacement) if state.open_file else None
    if state.open_file:
        replace = _as_str_replace(state, state.open_file, start, end, replacement)
        if replace is not None:
            command = "insert" if "insert_line" in replace else "str_replace"
            return normalize.editor({"command": command, "path": state.open_file, **replace}, raw)
    args: dict[str, Any] = {}
    if state.open_file:
        args["path"] = state.open_file
    args.update({"start_line": start, "end_line": end, "replacement": replacement})
    return Action("edit", args, raw)


_CONTEXT_MAX = 8  # lines of context added on each side at most to make ``old_str`` unique


def _as_str_replace(state: AciState, path: str, start: int, end: int, replacement: str) -> dict[str, str] | None:
    """``edit start:end`` as ``{old_str, new_str}`` when the viewer showed lines
    start..end of ``path`` (and enough context to make ``old_str`` unique in what
    was shown; unique in the file when the whole file was shown). ``None`` when
    the lines are unknown. Deleting lines removes them with their newlines, as
    SWE-agent's edit does."""
    seen = state.windows.get(path)
    if seen is None or end < start or start < 1:
        return None
    total, lines = seen
    if end > total or any(n not in lines for n in range(start, end + 1)):
        return None
    if start == 1 and end == total and not any(lines[n].strip() for n in range(1, total + 1)):
        # a file that is still empty (just made by ``create``): the edit writes its content
        return {"insert_line": 0, "new_str": replacement} if replacement else None
    known = _known_text(lines, total)
    lo, hi = start, end
    for _ in range(_CONTEXT_MAX + 1):
        old = "\n".join(lines[n] for n in range(lo, hi + 1))
        new = "\n".join([*(lines[n] for n in range(lo, start)), *([replacement] if replacement else []),
                         *(lines[n] for n in range(end + 1, hi + 1))])
        if not replacement and lo == start and hi == end:
            # a pure deletion: take the line break too, else an empty line would stay behind
            if end < total and end + 1 in lines:
                old, new = old + "\n" + lines[end + 1], lines[end + 1]
                hi = end + 1
            elif start > 1 and start - 1 in lines:
                old, new = lines[start - 1] + "\n" + old, lines[start - 1]
                lo = start - 1
        if old.strip() and _unique(known, old):
            return {"old_str": old, "new_str": new}
        grown = False
        if lo - 1 in lines:
            lo, grown = lo - 1, True
        if hi + 1 in lines:
            hi, grown = hi + 1, True
        if not grown:
            return None
    return None


def _known_text(lines: dict[int, str], total: int) -> str:
    """The shown lines as text, each with its line break, with a NUL line between runs
    that are not contiguous (so a match never spans a gap). The whole file, when every
    line was shown."""
    out: list[str] = []
    prev = None
    for n in sorted(lines):
        if n > total:
            break
        if prev is not None and n != prev + 1:
            out.append("\0\n")
        out.append(lines[n] + "\n")
        prev = n
    return "".join(out)


def _unique(text: str, part: str) -> bool:
    """``part`` occurs exactly once in ``text``, overlapping occurrences counted."""
    first = text.find(part)
    return first >= 0 and text.find(part, first + 1) < 0


_WINDOW_HEADER = re.compile(r"^\[File: (.+?) \((\d+) lines total\)\]$", re.M)
_WINDOW_LINE = re.compile(r"(\d+):(.*)")
_REJECTED_EDIT = "Your proposed edit has introduced new syntax error"
_ORIGINAL_MARK = "This is the original code before your edit"
# shell commands that may change files behind the viewer's back
_WRITES = re.compile(r"\bsed\s+(?:-\w*\s+)*-i|(?<![0-9&])>(?!&|\s*/dev/null)|\btee\b|\b(?:mv|cp|rm|patch|truncate)\s|"
                     r"\bgit\s+(?:checkout|apply|stash|reset|restore|am|cherry-pick|merge|rebase|pull)\b")


def _apply_edit(state: AciState, path: str, start: int, end: int, replacement: str) -> None:
    """Replay a landed ``edit start:end`` on what is known of ``path``: lines after
    ``end`` move by the change in length, the replacement takes lines start.. ."""
    seen = state.windows.get(path)
    if seen is None:
        return
    total, lines = seen
    new_lines = replacement.split("\n") if replacement else []
    delta = len(new_lines) - (end - start + 1)
    moved = {n: t for n, t in lines.items() if n < start}
    moved.update({n + delta: t for n, t in lines.items() if n > end})
    moved.update({start + i: t for i, t in enumerate(new_lines)})
    state.windows[path] = (total + delta, moved)


def observe(action: Action, observation: str, state: AciState) -> None:
    """Learn file contents from SWE-agent viewer windows (``[File: PATH (N lines
    total)]`` then ``N:text`` lines) in ``observation``, the output of ``action``,
    so a later ``edit N:M`` can name the text it replaces. An edit that landed is
    replayed on what was known (lines below it move); a window whose file length
    differs from what was known replaces it; after a rejected edit (lint error)
    only the window of the unchanged original counts; an editor write forgets
    that file, and a shell command that may write files forgets everything."""
    pending, state.pending_edit = state.pending_edit, None
    if action.tool == "bash" and _WRITES.search(str(action.args.get("command", ""))):
        state.windows.clear()
        return
    if pending is None and action.tool == "str_replace_editor" and action.args.get("command") not in ("view", None):
        path = action.args.get("path")
        if isinstance(path, str):
            state.windows.pop(path, None)
    if _REJECTED_EDIT in observation:
        # the file did not change; the window after this marker shows it as it is
        _, sep, observation = observation.partition(_ORIGINAL_MARK)
        if not sep:
            return
    elif pending is not None and "[File: " in observation:
        _apply_edit(state, *pending)
    if "[File: " not in observation:
        return
    text_lines = observation.split("\n")
    for m in _WINDOW_HEADER.finditer(observation):
        path, total = state.absolute(m.group(1)), int(m.group(2))
        first = observation.count("\n", 0, m.start()) + 1
        shown: dict[int, str] = {}
        for line in text_lines[first:]:
            lm = _WINDOW_LINE.fullmatch(line)
            if lm is None:
                if shown:
                    break
                continue  # "(12 more lines above)"
            shown[int(lm.group(1))] = lm.group(2)
        if not shown:
            continue
        old = state.windows.get(path)
        lines = dict(old[1]) if old is not None and old[0] == total else {}
        lines.update(shown)
        state.windows[path] = (total, lines)


def _flag_args(tokens: list[str]) -> dict[str, Any]:
    """``--old_str a --new_str b --view_range 1 20`` -> a dict."""
    args: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("--") and len(tok) > 2:
            key = tok[2:]
            values = []
            i += 1
            while i < len(tokens) and not (tokens[i].startswith("--") and len(tokens[i]) > 2):
                values.append(tokens[i])
                i += 1
            if key == "view_range" and len(values) != 1:
                args[key] = [_int(v) if _int(v) is not None else v for v in values]
            else:
                args[key] = " ".join(values) if len(values) != 1 else values[0]
        else:
            i += 1
    return args


def parse_command(command: str, state: AciState | None = None, *, observation: str = "") -> Action:
    """Map one SWE-agent command string (0.x ACI, or a 1.x flattened action)
    onto an :class:`Action`. ``state`` supplies the open file and working
    directory; ``observation`` (optional) the file length for ``open``."""
    state = state or AciState()
    raw = command
    text = command.strip()
    if not text:
        return normalize.bash("", raw)
    edit = _edit_range(text, state, raw)
    if edit is not None:
        return edit
    first_line, _, _rest = text.partition("\n")
    head = first_line.split(None, 1)
    name = head[0]
    if name == "submit" and len(text.split()) <= 2:
        return Action("submit", {}, raw)
    if name in ("scroll_up", "scroll_down") and len(head) == 1 and "\n" not in text:
        return Action(name, {}, raw)
    if name in ("goto", "open", "create", "search_file", "search_dir", "find_file", "edit", "insert",
                "str_replace_editor"):
        tokens = _split(text)
        if not tokens:
            return normalize.bash(text, raw)
        argv = tokens[1:]
        if name == "goto" and len(argv) == 1 and _int(argv[0]) is not None:
            return Action("goto", {"line_number": _int(argv[0])}, raw)
        if name == "open" and 1 <= len(argv) <= 2 and (len(argv) == 1 or _int(argv[1]) is not None):
            return view_action(argv[0], _int(argv[1]) if len(argv) == 2 else None, state, raw,
                               lines_total(observation))
        if name == "create" and len(argv) == 1:
            return normalize.editor({"command": "create", "path": state.absolute(argv[0]), "file_text": ""}, raw)
        if name in ("search_file", "search_dir", "find_file") and 1 <= len(argv) <= 2:
            key2 = {"search_file": "file", "search_dir": "dir", "find_file": "dir"}[name]
            key1 = "file_name" if name == "find_file" else "search_term"
            args = {key1: argv[0]}
            if len(argv) == 2:
                args[key2] = argv[1]
            return Action(name, args, raw)
        if name == "edit" and 2 <= len(argv) <= 3:
            return tool_call_action("edit", {"search": argv[0], "replace": argv[1],
                                             "replace-all": _truthy(argv[2]) if len(argv) == 3 else False},
                                    state, raw)
        if name == "insert" and 1 <= len(argv) <= 2:
            call: dict[str, Any] = {"text": argv[0]}
            if len(argv) == 2:
                call["line"] = argv[1]
            return tool_call_action("insert", call, state, raw)
        if name == "str_replace_editor" and len(argv) >= 2:
            args = {"command": argv[0], "path": argv[1], **_flag_args(argv[2:])}
            return normalize.editor(args, raw)
    return normalize.bash(text, raw)


def tool_call_action(name: str, arguments: Any, state: AciState | None = None, raw: str | None = None,
                     *, observation: str = "") -> Action:
    """Map an SWE-agent 1.x function call (``bash``, ``str_replace_editor``,
    ``submit``, and the windowed ACI tools ``open``, ``create``, ``goto``,
    ``scroll_*``, ``find_file``, ``search_*``, ``edit`` (search/replace),
    ``insert``) onto an :class:`Action`."""
    state = state or AciState()
    args = normalize.parse_arguments(arguments)
    if raw is None:
        raw = arguments if isinstance(arguments, str) else normalize.from_tool_call(name, args).raw
    if name == "open" and isinstance(args.get("path"), str):
        return view_action(args["path"], _int(args.get("line_number")), state, raw, lines_total(observation))
    if name == "create" and isinstance(args.get("filename", args.get("path")), str):
        path = args.get("filename", args.get("path"))
        return normalize.editor({"command": "create", "path": state.absolute(path), "file_text": ""}, raw)
    if name == "goto" and _int(args.get("line_number")) is not None:
        return Action("goto", {"line_number": _int(args["line_number"])}, raw)
    if name == "edit" and isinstance(args.get("search"), str) and isinstance(args.get("replace"), str):
        replace_all = _truthy(args.get("replace-all", args.get("replace_all")))
        if state.open_file and not replace_all:
            return normalize.editor({"command": "str_replace", "path": state.open_file,
                                     "old_str": args["search"], "new_str": args["replace"]}, raw)
        out = {"search": args["search"], "replace": args["replace"], "replace_all": replace_all}
        if state.open_file:
            out["path"] = state.open_file
        return Action("edit", out, raw)
    if name == "insert" and isinstance(args.get("text"), str):
        line = _int(args.get("line", args.get("line_number")))
        if state.open_file and line is not None:
            return normalize.editor({"command": "insert", "path": state.open_file, "insert_line": line,
                                     "new_str": args["text"]}, raw)
        out = {"text": args["text"]}
        if line is not None:
            out["line"] = line
        if state.open_file:
            out["path"] = state.open_file
        return Action("insert", out, raw)
    return normalize.from_tool_call(name, args, raw)


def track(action: Action, state: AciState) -> None:
    """Update the open file after an action that opens one (``open``, ``create``)."""
    if action.tool == "str_replace_editor" and action.args.get("command") in ("view", "create"):
        path = action.args.get("path")
        if isinstance(path, str) and path:
            state.open_file = path

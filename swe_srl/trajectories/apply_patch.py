"""Codex ``*** Begin Patch`` envelopes, parsed and mapped onto editor actions.

The envelope (the ``apply_patch`` tool of OpenAI Codex)::

    *** Begin Patch
    *** Add File: path          every following line starts with "+"
    *** Delete File: path
    *** Update File: path
    *** Move to: new/path       (optional, right after Update File)
    @@ optional context header  starts a chunk; lines " ctx", "-old", "+new"
    *** End of File             (optional, closes a chunk at the end of the file)
    *** End Patch

:func:`patch_to_action` maps a patch that only adds one file to
``str_replace_editor create``, an update of one file with a single chunk to
``str_replace_editor str_replace`` (old text = context and removed lines, new
text = context and added lines), and anything else (several files, several
chunks, deletions, moves, pure insertions without context) to the tool
``apply_patch`` with ``{"input": patch}``, so nothing is lost.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from swe_srl.trajectories import normalize
from swe_srl.trajectories.models import Action

BEGIN = "*** Begin Patch"
END = "*** End Patch"
_ADD = "*** Add File: "
_DELETE = "*** Delete File: "
_UPDATE = "*** Update File: "
_MOVE = "*** Move to: "
_EOF = "*** End of File"

# `apply_patch <<'PATCH' ... PATCH` (any delimiter word, quoted or not), alone in the command.
_HEREDOC_RE = re.compile(r"\A\s*apply_patch\s*<<-?\s*(['\"]?)(\w+)\1[ \t]*\n(.*)\n[ \t]*\2\s*\Z", re.S)


@dataclass
class Chunk:
    """One ``@@`` chunk of an update: (prefix, text) lines, prefix in ' ', '-', '+'."""

    header: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)
    end_of_file: bool = False

    @property
    def changes(self) -> bool:
        return any(p != " " for p, _ in self.lines)


@dataclass
class FileOp:
    kind: str  # "add" | "delete" | "update"
    path: str
    move_to: str | None = None
    added: list[str] = field(default_factory=list)  # for "add"
    chunks: list[Chunk] = field(default_factory=list)  # for "update"


class PatchSyntaxError(ValueError):
    """The text is not a well-formed ``*** Begin Patch`` envelope."""


def parse_patch(text: str) -> list[FileOp]:
    """The file operations of an envelope; :class:`PatchSyntaxError` when malformed."""
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or lines[0].strip() != BEGIN:
        raise PatchSyntaxError("missing '*** Begin Patch'")
    if lines[-1].strip() != END:
        raise PatchSyntaxError("missing '*** End Patch'")
    ops: list[FileOp] = []
    op: FileOp | None = None
    for n, line in enumerate(lines[1:-1], 2):
        if line.startswith(_ADD):
            op = FileOp("add", line[len(_ADD):].strip())
            ops.append(op)
        elif line.startswith(_DELETE):
            op = FileOp("delete", line[len(_DELETE):].strip())
            ops.append(op)
        elif line.startswith(_UPDATE):
            op = FileOp("update", line[len(_UPDATE):].strip())
            ops.append(op)
        elif op is None:
            raise PatchSyntaxError(f"line {n}: expected a file header")
        elif op.kind == "add":
            if not line.startswith("+"):
                raise PatchSyntaxError(f"line {n}: added file lines must start with '+'")
            op.added.append(line[1:])
        elif op.kind == "delete":
            raise PatchSyntaxError(f"line {n}: unexpected text after Delete File")
        elif line.startswith(_MOVE) and not op.chunks:
            op.move_to = line[len(_MOVE):].strip()
        elif line.strip() == _EOF:
            if not op.chunks:
                raise PatchSyntaxError(f"line {n}: End of File outside a chunk")
            op.chunks[-1].end_of_file = True
        elif line.startswith("@@"):
            op.chunks.append(Chunk(header=line[2:].strip()))
        else:
            if not op.chunks:  # a chunk may start without an "@@" line
                op.chunks.append(Chunk())
            if line == "":
                op.chunks[-1].lines.append((" ", ""))
            elif line[0] in " +-":
                op.chunks[-1].lines.append((line[0], line[1:]))
            else:
                raise PatchSyntaxError(f"line {n}: unexpected line {line[:40]!r}")
    if not ops:
        raise PatchSyntaxError("no file operations")
    return ops


def extract_patch(command: str | list) -> str | None:
    """The envelope when a shell command is only an ``apply_patch`` call, else None.

    Accepts the argv form ``["apply_patch", PATCH]``, a heredoc
    ``apply_patch <<'EOF' ... EOF`` and ``apply_patch 'PATCH'`` (one quoted argument).
    """
    if isinstance(command, list):
        if len(command) == 2 and command[0] == "apply_patch" and isinstance(command[1], str):
            return command[1] if BEGIN in command[1] else None
        command = normalize.shell_argv_to_command(command)
    if "apply_patch" not in command or BEGIN not in command:
        return None
    m = _HEREDOC_RE.match(command)
    if m:
        return m.group(3)
    stripped = command.strip()
    if stripped.startswith("apply_patch "):
        try:
            argv = shlex.split(stripped)
        except ValueError:
            return None
        if len(argv) == 2 and BEGIN in argv[1]:
            return argv[1]
    return None


def _resolve(path: str, cwd: str | None) -> str:
    if cwd and not path.startswith("/"):
        return posixpath.normpath(posixpath.join(cwd, path))
    return path


def patch_to_action(patch: str, raw: str | None = None, cwd: str | None = None) -> Action:
    """Map an envelope to a canonical action (see the module docstring).

    Relative paths are made absolute against ``cwd`` when it is known. A
    malformed envelope is kept verbatim as an ``apply_patch`` action.
    """
    raw = patch if raw is None else raw
    try:
        ops = parse_patch(patch)
    except PatchSyntaxError:
        return Action("apply_patch", {"input": patch}, raw)
    if len(ops) == 1:
        op = ops[0]
        path = _resolve(op.path, cwd)
        if op.kind == "add":
            text = "".join(line + "\n" for line in op.added)
            return normalize.editor({"command": "create", "path": path, "file_text": text}, raw)
        if op.kind == "update" and op.move_to is None and len(op.chunks) == 1 and op.chunks[0].changes:
            chunk = op.chunks[0]
            old = "\n".join(t for p, t in chunk.lines if p != "+")
            new = "\n".join(t for p, t in chunk.lines if p != "-")
            if old:
                return normalize.editor({"command": "str_replace", "path": path, "old_str": old, "new_str": new}, raw)
    return Action("apply_patch", {"input": patch}, raw)

"""``--mode oracle-edit``: the SRL paper's main evaluation.

One policy call sees the issue and the full content (at the base commit) of
every file the gold patch touches (when that does not fit the model's context,
each file cut to the lines around the gold hunks: :func:`fit_messages`), and answers with ``<think>...</think>`` then
search/replace edits, each a ``### path`` header followed by a SEARCH block,
the divider and a REPLACE block (see :data:`SYSTEM_PROMPT`; the markers are
git's conflict markers, seven characters wide)
(code fences around a block are allowed). The edits are applied to the files
in memory and turned into a unified diff by git. No sandbox is needed: the
files are read from the task's repository with ``git show``. The trajectory
records each edit as the equivalent ``str_replace_editor`` step, so oracle
runs convert into training data like agent runs.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swe_srl.agent.loop import ERROR, POLICY_ERROR, SOURCE_FORMAT, SUBMITTED, AgentResult
from swe_srl.errors import FormatError, SweSrlError
from swe_srl.git import GitError, read_blob
from swe_srl.git import git as run_git
from swe_srl.policy.base import PolicyError
from swe_srl.protocols import Policy
from swe_srl.text import truncate_middle
from swe_srl.trajectories.models import Action, Step, Trajectory

SYSTEM_PROMPT = """\
You are a software engineer fixing an issue in a repository. You are given the issue and
the full content of the files that need to change. Answer with your reasoning inside
<think>...</think>, then the edits, each one a SEARCH/REPLACE block under the file's path:

### path/to/file.py
<<<<<<< SEARCH
exact lines to find (copied from the file, indentation included)
=======
the lines to put in their place
>>>>>>> REPLACE

Rules: the SEARCH text must occur exactly once in the file; use several blocks for several
changes; an empty SEARCH block fills an empty or new file. Write nothing after the last block."""

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_HEADER_RE = re.compile(r"^#{2,4}\s*(?:file:\s*)?`?([^`\s]+)`?\s*$")
_FENCE_RE = re.compile(r"^\s*```")


@dataclass
class Edit:
    path: str
    search: str
    replace: str


def gold_files(task: dict[str, Any]) -> list[str]:
    """Paths the gold patch touches (new files included), in patch order."""
    patch = task.get("patch") or ""
    paths: list[str] = []
    for line in patch.replace("\r\n", "\n").splitlines():
        m = re.match(r"^diff --git a/(\S+) b/(\S+)", line)
        if m:
            for p in (m.group(1), m.group(2)):
                if p not in paths:
                    paths.append(p)
                    break
            continue
        m = re.match(r"^\+\+\+ b/(\S+)", line)
        if m and m.group(1) not in paths:
            paths.append(m.group(1))
    if not paths:
        raise SweSrlError(f"task {task.get('instance_id')}: the gold patch names no file (oracle-edit needs it)")
    return paths


def read_files(repo_path: str | Path, commit: str, paths: list[str]) -> dict[str, str | None]:
    """File contents at ``commit`` (None for a file that does not exist there)."""
    out: dict[str, str | None] = {}
    for p in paths:
        try:
            out[p] = read_blob(Path(repo_path), commit, p)
        except GitError:  # not in that commit
            out[p] = None
    return out


def build_messages(task: dict[str, Any], files: dict[str, str | None], *, max_file_chars: int = 60_000,
                   context_lines: int | None = None) -> list[dict[str, str]]:
    """The one prompt: the issue and every gold file in full, or, with ``context_lines``, each file
    cut to the lines within that many of the lines the gold patch changes (see :func:`fit_messages`)."""
    regions = gold_regions(task) if context_lines is not None else {}
    parts = [f"<issue>\n{(task.get('problem_statement') or '').strip()}\n</issue>"]
    for path, text in files.items():
        if text is None:
            body = "(this file does not exist yet)"
        elif context_lines is not None and regions.get(path):
            body = window(text, regions[path], context_lines)
        else:
            body = truncate_middle(text, max_file_chars)
        parts.append(f'<file path="{path}">\n{body}\n</file>')
    parts.append("Write the edits that resolve the issue.")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n\n".join(parts)}]


# Lines kept around the changed ones when whole files do not fit the model's context, widest first.
CONTEXT_LINES = (400, 200, 100, 50, 25, 10)


def gold_regions(task: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    """Per file, the old-file line ranges (1-based, inclusive) of the gold patch's hunks."""
    regions: dict[str, list[tuple[int, int]]] = {}
    path = None
    for line in (task.get("patch") or "").replace("\r\n", "\n").splitlines():
        m = re.match(r"^--- (?:a/(\S+)|/dev/null)", line)
        if m:
            path = m.group(1)
            continue
        m = re.match(r"^\+\+\+ b/(\S+)", line)
        if m and path is None:
            path = m.group(1)
            continue
        m = re.match(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", line)
        if m and path:
            start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
            regions.setdefault(path, []).append((max(1, start), max(start, start + count - 1)))
    return regions


def window(text: str, regions: list[tuple[int, int]], context: int) -> str:
    """``text`` cut to the lines within ``context`` of ``regions``; each gap says which lines it hides.

    >>> print(window("\\n".join(f"l{i}" for i in range(1, 11)), [(5, 5)], 1))
    [lines 1-3 not shown]
    l4
    l5
    l6
    [lines 7-10 not shown]
    """
    lines = text.split("\n")
    keep = [False] * len(lines)
    for start, end in regions:
        for i in range(max(0, start - 1 - context), min(len(lines), end + context)):
            keep[i] = True
    out: list[str] = []
    i = 0
    while i < len(lines):
        if keep[i]:
            out.append(lines[i])
            i += 1
            continue
        j = i
        while j < len(lines) and not keep[j]:
            j += 1
        out.append(f"[lines {i + 1}-{j} not shown]")
        i = j
    return "\n".join(out)


def fit_messages(policy: Policy, task: dict[str, Any], files: dict[str, str | None]) -> tuple[list[dict[str, str]], int | None]:
    """The prompt with whole files when it fits the policy's context with room for the answer;
    else the files cut to ever fewer lines around the gold hunks (:data:`CONTEXT_LINES`), the
    first that fits (the narrowest when none does). Returns the messages and the context lines
    kept (None: whole files). A policy that does not know its context gets whole files; one that
    cannot count tokens is measured at 3 characters a token."""
    messages = build_messages(task, files)
    context = policy.max_context
    if not context:
        return messages, None
    budget = context - int(policy.max_new_tokens)

    def count(msgs: list[dict[str, str]]) -> int:
        n = policy.count_tokens(msgs)  # None: the policy cannot count; 3 characters a token errs long for code
        return n if n is not None else sum(len(m["content"]) for m in msgs) // 3

    if count(messages) <= budget:
        return messages, None
    for lines in CONTEXT_LINES:
        messages = build_messages(task, files, context_lines=lines)
        if count(messages) <= budget:
            break
    return messages, lines


def parse_edits(text: str) -> tuple[str, list[Edit]]:
    """``(thought, edits)`` from a response; FormatError when there is no edit block.

    >>> thought, edits = parse_edits("<think>fix</think>\\n### a.py\\n<<<<<<< SEARCH\\nx = 1\\n=======\\nx = 2\\n>>>>>>> REPLACE\\n")
    >>> thought, edits[0]
    ('fix', Edit(path='a.py', search='x = 1\\n', replace='x = 2\\n'))
    """
    text = text.replace("\r\n", "\n")
    thought = ""
    m = re.search(r"<think\s*>(.*?)</think\s*>", text, re.S | re.I)
    if m:
        thought, text = m.group(1).strip(), text[m.end():]
    edits: list[Edit] = []
    path: str | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _HEADER_RE.match(line.strip())
        if header:
            path = header.group(1)
        elif line.strip() == SEARCH:
            if path is None:
                raise FormatError(f"a SEARCH block (line {i + 1}) without a '### path' header before it")
            search: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != DIVIDER:
                search.append(lines[i])
                i += 1
            replace: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != REPLACE:
                replace.append(lines[i])
                i += 1
            if i >= len(lines):
                raise FormatError(f"unterminated SEARCH/REPLACE block for {path}")
            edits.append(Edit(path, _join(search), _join(replace)))
        i += 1
    if not edits:
        raise FormatError("no SEARCH/REPLACE block in the response")
    return thought, edits


def _join(lines: list[str]) -> str:
    while lines and _FENCE_RE.match(lines[-1]):
        lines = lines[:-1]
    return "".join(line + "\n" for line in lines)


def apply_edit(content: str | None, edit: Edit) -> str:
    """The file after one edit; FormatError naming the problem when it does not apply."""
    content = content or ""
    if not edit.search.strip():
        if content.strip():
            raise FormatError(f"{edit.path}: empty SEARCH on a non-empty file")
        return edit.replace
    n = content.count(edit.search)
    if n == 1:
        return content.replace(edit.search, edit.replace, 1)
    if n > 1:
        raise FormatError(f"{edit.path}: SEARCH text occurs {n} times")
    # Tolerate trailing-whitespace differences, line by line.
    src = content.split("\n")
    want = [ln.rstrip() for ln in edit.search.rstrip("\n").split("\n")]
    hits = [i for i in range(len(src) - len(want) + 1) if [ln.rstrip() for ln in src[i:i + len(want)]] == want]
    if len(hits) != 1:
        raise FormatError(f"{edit.path}: SEARCH text not found" if not hits else f"{edit.path}: SEARCH text occurs {len(hits)} times")
    i = hits[0]
    new = edit.replace.rstrip("\n").split("\n") if edit.replace else []
    return "\n".join(src[:i] + new + src[i + len(want):])


def make_patch(original: dict[str, str | None], modified: dict[str, str]) -> str:
    """A git unified diff from ``original`` to ``modified`` contents (paths relative)."""
    def git(*args: str, cwd: str) -> str:
        return run_git(["-c", "core.autocrlf=false", *args], cwd)

    with tempfile.TemporaryDirectory(prefix="swe-srl-oracle-") as tmp:
        git("init", "-q", cwd=tmp)
        for path, text in original.items():
            if text is not None:
                f = Path(tmp, path)
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(text.encode())
        git("add", "-A", cwd=tmp)
        git("commit", "-q", "--allow-empty", "-m", "base", cwd=tmp)
        for path, text in modified.items():
            f = Path(tmp, path)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(text.encode())
        git("add", "-A", cwd=tmp)
        return git("diff", "--cached", "--no-color", "--no-ext-diff", "HEAD", cwd=tmp)


def run_oracle_edit(policy: Policy, task: dict[str, Any], repo_path: str | Path, *, run_meta: dict[str, Any] | None = None,
                    workdir: str = "/testbed") -> AgentResult:
    """One call, edits -> patch. Returns an :class:`~swe_srl.agent.loop.AgentResult`."""
    t0 = time.monotonic()
    iid = str(task.get("instance_id"))
    paths = gold_files(task)
    original = read_files(repo_path, task["base_commit"], paths)
    messages, context_lines = fit_messages(policy, task, original)
    steps: list[Step] = []
    reason, error, patch = SUBMITTED, None, ""
    prompt_tokens = completion_tokens = 0
    failed_edits: list[dict[str, str]] = []
    text = ""
    try:
        c = policy.generate(messages, 1)[0]
        text = c.text
        prompt_tokens, completion_tokens = int(c.prompt_tokens or 0), int(c.completion_tokens or 0)
        thought, edits = parse_edits(text)
        current = {p: original.get(p) for p in paths}
        for k, edit in enumerate(edits):
            args = {"command": "str_replace", "path": f"{workdir}/{edit.path}", "old_str": edit.search.rstrip("\n"),
                    "new_str": edit.replace.rstrip("\n")}
            try:
                current[edit.path] = apply_edit(current.get(edit.path), edit)
                obs = f"The file {workdir}/{edit.path} has been edited."
            except FormatError as e:
                failed_edits.append({"path": edit.path, "reason": str(e)})
                obs = f"Edit not applied: {e}"
            steps.append(Step(Action("str_replace_editor", args, ""), thought if k == 0 else "", obs))
        changed = {p: t for p, t in current.items() if t is not None and t != original.get(p)}
        patch = make_patch(original, changed) if changed else ""
        steps.append(Step(Action("submit", {}, ""), "", patch))
    except FormatError as e:
        reason, error = "format_error", str(e)
    except PolicyError as e:
        reason, error = POLICY_ERROR, str(e)
    except GitError as e:
        reason, error = ERROR, str(e)[:300]
    duration = time.monotonic() - t0
    meta = {**(run_meta or {}), "mode": "oracle-edit", "exit_reason": reason, "error": error, "files": paths,
            "failed_edits": failed_edits, "response": truncate_middle(text, 20_000), "calls": 1,
            "file_context_lines": context_lines,
            "format_errors": [{"reason": error}] if reason == "format_error" else [],
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "duration_s": round(duration, 3)}
    traj = Trajectory(id=f"{iid}__{(run_meta or {}).get('run_name', 'run')}", source_format=SOURCE_FORMAT, steps=steps,
                      instance_id=iid, repo=task.get("repo"), base_commit=task.get("base_commit"),
                      problem_statement=task.get("problem_statement") or "", patch=patch, meta=meta)
    return AgentResult(instance_id=iid, exit_reason=reason, patch=patch, trajectory=traj,
                       steps=sum(1 for s in steps if s.action.tool != "submit"),
                       format_errors=1 if reason == "format_error" else 0, prompt_tokens=prompt_tokens,
                       completion_tokens=completion_tokens, duration_s=duration, error=error)

"""The scripts run inside a sandbox: the patch-application chain and the eval script.

The harness runs them in three steps (see :mod:`swe_srl.harness.run`):

1. :func:`apply_script` records which untracked files already exist where test
   infrastructure lives (the *baseline*), then applies the prediction with the
   fallback chain. A prediction that names a path inside ``.git``, an absolute
   path or a ``..`` component is refused before any method runs
   (:func:`unsafe_patch_paths`), and git hooks are off in every git command.
2. :func:`prepare_script` puts everything that decides how the tests run back
   to the base commit (plus the test patch): the test files and directories,
   every ``conftest.py``, pytest's configuration files (``pytest.ini``,
   ``tox.ini``, ``setup.cfg``, ``pyproject.toml`` ...), ignore files and
   ``sitecustomize.py``, tracked or not, ignored or not; then it applies the
   test patch. Each restored path is printed on a ``swe-srl: restored`` line.
3. :func:`test_script` is the test command alone. The harness runs it in a
   guarded process and writes the start/end markers, the exit code and the
   timing itself, with a per-run nonce the sandbox never sees.

:func:`eval_script` joins them into one script with plain markers (SWE-bench's
layout), for running without a sandbox.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterable

from swe_srl.harness.grading import (
    APPLY_PATCH_FAIL,
    APPLY_PATCH_PASS,
    END_TEST_OUTPUT,
    RESET_FAILED,
    START_TEST_OUTPUT,
    TEST_EXIT_CODE,
)
from swe_srl.testsuite import test_command, test_modules  # noqa: F401 (test_modules: es.test_modules for callers)

TEST_TIMING = ">>>>> Test Timing"
WORKDIR = "/testbed"
PATCH_PATH = "/tmp/swe_srl_patch.diff"
EVAL_PATH = "/tmp/swe_srl_eval.sh"

RESTORED = "swe-srl: restored"
BASELINE_PATH = "/tmp/swe_srl_baseline"
# Every git command of the scripts: hooks and the fsmonitor command are off, so a
# file written into .git can never run (the patch is also refused before that).
GIT_GUARD = "git() { command git -c core.hooksPath=/dev/null -c core.fsmonitor=false \"$@\"; }"

# Files that configure how tests run, wherever they are in the repository.
PROTECTED_NAMES = ("conftest.py", "pytest.ini", ".pytest.ini", "pytest.toml", ".pytest.toml", "tox.ini",
                   "setup.cfg", "pyproject.toml", ".gitignore", "sitecustomize.py", "usercustomize.py")

# Tried in order, from a pristine tree each time; the first that exits 0 wins.
APPLY_CHAIN: list[tuple[str, str]] = [
    ("git_apply", "git apply --verbose {p}"),
    ("git_apply_3way", "git apply --verbose --3way {p}"),
    ("git_apply_recount", "git apply --verbose --recount --ignore-whitespace --reject {p}"),
    ("patch_fuzz", "patch --batch --forward --fuzz=5 -p1 -i {p}"),
]

_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)
_PLUS_HEADER = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.M)
# Every line of a diff that names a path: git headers, ---/+++ lines, renames and copies.
_ANY_PATH = re.compile(r"^(?:diff --git (?P<pair>.*)|(?:---|\+\+\+|\*\*\*) (?P<file>[^\t\n]*)"
                       r"|(?:rename|copy) (?:from|to) (?P<move>.*)|Index: (?P<index>.*))$", re.M)
_SYMLINK_MODE = re.compile(r"^(?:new file mode|new mode|old mode|deleted file mode) 120000$", re.M)


def patch_files(patch: str) -> list[str]:
    """Files a unified diff touches (new paths), in order, without duplicates."""
    files: list[str] = []
    for m in _DIFF_HEADER.finditer(patch or ""):
        files.append(m.group(2))
    if not files:
        files = [f for f in _PLUS_HEADER.findall(patch or "") if f != "/dev/null"]
    return list(dict.fromkeys(files))


def _unquote(path: str) -> str:
    path = path.strip()
    if len(path) >= 2 and path[0] == path[-1] == '"':
        path = path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    return path


def unsafe_patch_paths(patch: str) -> list[str]:
    """Why applying ``patch`` could write where no prediction may: every path it
    names (git headers, ``---``/``+++``/``***`` lines, renames, copies,
    ``Index:``) that is absolute, climbs with ``..``, or has a ``.git``
    component (any case). Empty when the patch is safe to apply."""
    found: list[str] = []
    for m in _ANY_PATH.finditer(patch or ""):
        if m.group("pair") is not None:
            pair = _DIFF_HEADER.match(m.group(0))
            names = [pair.group(1), pair.group(2)] if pair else m.group("pair").split()
        else:
            names = [m.group("file") or m.group("move") or m.group("index") or ""]
        for raw in names:
            name = _unquote(raw)
            if not name or name == "/dev/null":
                continue
            parts = name.split("/")
            if name.startswith("/"):
                found.append(f"absolute path {name}")
            elif ".." in parts:
                found.append(f"path climbs out of the repository: {name}")
            elif any(p.lower() == ".git" for p in parts):
                found.append(f"path inside .git: {name}")
    return list(dict.fromkeys(found))


def has_symlinks(patch: str) -> bool:
    """Whether the patch creates or changes a symbolic link (git mode 120000)."""
    return bool(_SYMLINK_MODE.search(patch or ""))


def test_targets(task: dict[str, Any]) -> list[str]:
    """The test files to run: the ``.py`` files of the test patch (SWE-bench's
    convention); for a task without a test patch (synthesized tasks), its
    ``test_files``, else the files named by its FAIL_TO_PASS tests."""
    files = [f for f in patch_files(task.get("test_patch", "")) if f.endswith(".py")]
    if files:
        return files
    if task.get("test_files"):
        return list(task["test_files"])
    found = [t.split("::", 1)[0] for t in task.get("FAIL_TO_PASS", []) if "::" in t]
    return list(dict.fromkeys(found))


def _heredoc(text: str, tag: str) -> tuple[str, str]:
    delim = f"EOF_SWE_SRL_{tag}"
    n = 0
    while delim in text:
        n += 1
        delim = f"EOF_SWE_SRL_{tag}_{n}"
    if not text.endswith("\n"):
        text += "\n"
    return delim, text


def baseline_command(task: dict[str, Any], baseline_path: str = BASELINE_PATH, workdir: str = WORKDIR) -> str:
    """Record the untracked files (ignored ones too) that exist where test
    infrastructure lives before the prediction is applied: :func:`prepare_script`
    keeps these and removes any other."""
    return (f"cd {shlex.quote(workdir)} && git ls-files -z --others -- {_protected_pathspecs(task)} "
            f"> {shlex.quote(baseline_path)}")


def apply_script(patch_path: str = PATCH_PATH, workdir: str = WORKDIR, *, symlinks: bool = False) -> str:
    """Try each method of :data:`APPLY_CHAIN`; print APPLY_PATCH_PASS with the
    method, or APPLY_PATCH_FAIL (exit 1). A patch already fully applied counts.

    ``symlinks``: the patch touches symbolic links, so the ``patch`` fallback
    (which would follow them) is skipped. The caller refuses patches with unsafe
    paths (:func:`unsafe_patch_paths`) before this runs."""
    p = shlex.quote(patch_path)
    lines = [f"cd {shlex.quote(workdir)} || exit 2", GIT_GUARD,
             "_swe_srl_clean() { git checkout -q -- . && git clean -fdq; }"]
    chain = [(n, c) for n, c in APPLY_CHAIN if not (symlinks and n == "patch_fuzz")]
    for i, (name, cmd) in enumerate(chain):
        if i:
            lines.append("_swe_srl_clean")
        lines.append(f"if {cmd.format(p=p)}; then echo '{APPLY_PATCH_PASS} ({name})'; exit 0; fi")
    lines.append("_swe_srl_clean")
    lines.append(f"if git apply --check --reverse {p} 2>/dev/null; then echo '{APPLY_PATCH_PASS} (already_applied)'; exit 0; fi")
    lines.append(f"echo '{APPLY_PATCH_FAIL}'; exit 1")
    return "\n".join(lines) + "\n"


def reset_files_commands(base_commit: str, files: Iterable[str]) -> list[str]:
    """Restore each file to the base commit; files absent there are removed."""
    base = shlex.quote(base_commit)
    out = []
    for f in files:
        q = shlex.quote(f)
        out.append(
            f"if git cat-file -e {base}:{q} 2>/dev/null; then git checkout -q {base} -- {q} || echo '{RESET_FAILED}'; "
            f"else rm -f {q}; fi"
        )
    return out


def test_dirs(task: dict[str, Any]) -> list[str]:
    """Paths whose whole content belongs to the tests: for each test target, its
    topmost ancestor directory named like a test folder (``test``, ``tests``,
    ``testing``, ``test_*``...), else the target file alone. A test file that
    sits beside code (astroid's ``script/test_bump_changelog.py`` next to
    ``script/bump_changelog.py``) must not make that code test infrastructure:
    a gold patch adding the code would otherwise be undone."""
    out = []
    for target in [*test_targets(task), *patch_files(task.get("test_patch", ""))]:
        parts = target.split("/")[:-1]
        chosen = target
        for i, part in enumerate(parts):
            if part.lower().startswith("test"):
                chosen = "/".join(parts[: i + 1])
                break
        out.append(chosen)
    return list(dict.fromkeys(out))


def _protected_pathspecs(task: dict[str, Any]) -> str:
    specs = [f":(glob)**/{name}" for name in PROTECTED_NAMES]
    specs += [f":(literal){d}" for d in test_dirs(task)]
    return " ".join(shlex.quote(s) for s in specs)


def protect_commands(task: dict[str, Any], baseline_path: str = BASELINE_PATH) -> list[str]:
    """Put test infrastructure back to the base commit: every path under the
    test directories and every file named in :data:`PROTECTED_NAMES` that
    differs from the base commit (changed or deleted: restored) or is new (not in
    the base commit, not in the baseline of untracked files recorded before the
    patch was applied: removed, with the folders that removal empties), ignored
    files included. Prints one
    ``swe-srl: restored PATH`` line per path."""
    base = shlex.quote(task["base_commit"])
    specs = _protected_pathspecs(task)
    baseline = shlex.quote(baseline_path)
    return [
        f"touch {baseline}",
        "while IFS= read -r -d '' _swe_srl_f; do "
        f"if git cat-file -e {base}:\"$_swe_srl_f\" 2>/dev/null; then "
        f"git checkout -q {base} -- \":(literal)$_swe_srl_f\" || echo '{RESET_FAILED}: '\"$_swe_srl_f\"; "
        f"elif grep -Fxzq -- \"$_swe_srl_f\" {baseline}; then continue; "
        "else rm -rf -- \"$_swe_srl_f\"; _swe_srl_d=$(dirname -- \"$_swe_srl_f\"); "
        "while [ \"$_swe_srl_d\" != . ] && rmdir -- \"$_swe_srl_d\" 2>/dev/null; do "
        "_swe_srl_d=$(dirname -- \"$_swe_srl_d\"); done; fi; "
        f"echo '{RESTORED} '\"$_swe_srl_f\"; "
        f"done < <(git diff -z --name-only --no-renames {base} -- {specs}; git ls-files -z --others -- {specs})",
    ]


def restored_paths(output: str) -> list[str]:
    """The paths :func:`protect_commands` printed as restored."""
    prefix = RESTORED + " "
    return list(dict.fromkeys(line[len(prefix):] for line in output.splitlines() if line.startswith(prefix)))


def prepare_script(task: dict[str, Any], *, workdir: str = WORKDIR, baseline_path: str = BASELINE_PATH) -> str:
    """Reset the test infrastructure and apply the test patch (no test runs here).
    Failures print APPLY_PATCH_FAIL / RESET_FAILED and exit 1."""
    base = task["base_commit"]
    targets = test_targets(task)
    reset_files = list(dict.fromkeys([*patch_files(task.get("test_patch", "")), *targets]))
    lines = [
        "#!/bin/bash",
        "set -uo pipefail",
        f"cd {shlex.quote(workdir)} || exit 2",
        GIT_GUARD,
        *reset_files_commands(base, reset_files),
        *protect_commands(task, baseline_path),
    ]
    test_patch = task.get("test_patch") or ""
    if test_patch.strip():
        delim, body = _heredoc(test_patch, "TEST_PATCH")
        lines += [
            f"git apply --verbose - <<'{delim}' || {{ echo '{APPLY_PATCH_FAIL} (test patch)'; exit 1; }}",
            body.rstrip("\n"),
            delim,
        ]
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def test_script(task: dict[str, Any], test_cmd: str, *, workdir: str = WORKDIR) -> str:
    """The test command of ``task`` in the repository (the harness adds the markers)."""
    return "\n".join([f"cd {shlex.quote(workdir)} || exit 2", test_command(test_cmd, test_targets(task))]) + "\n"


def eval_script(task: dict[str, Any], test_cmd: str, *, workdir: str = WORKDIR,
                baseline_path: str = "/dev/null") -> str:
    """One bash script that prepares and runs the tests of ``task`` between plain
    markers (SWE-bench's layout). The harness itself runs the parts separately
    and writes nonce markers; this form is for running without a sandbox (no
    baseline: every untracked file in a protected place is removed)."""
    base = task["base_commit"]
    targets = test_targets(task)
    reset_files = list(dict.fromkeys([*patch_files(task.get("test_patch", "")), *targets]))
    prepare = prepare_script(task, workdir=workdir, baseline_path=baseline_path).splitlines()[:-1]
    lines = [
        *prepare,
        f"echo '{START_TEST_OUTPUT}'",
        "_swe_srl_t0=$EPOCHREALTIME",
        test_command(test_cmd, targets),
        "_swe_srl_rc=$?",
        "_swe_srl_t1=$EPOCHREALTIME",
        f"echo '{END_TEST_OUTPUT}'",
        f'echo "{TEST_EXIT_CODE}: $_swe_srl_rc"',
        f'echo "{TEST_TIMING}: $_swe_srl_t0 $_swe_srl_t1"',
        *reset_files_commands(base, reset_files),
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def test_duration(log: str, nonce: str | None = None) -> float | None:
    """Seconds the test command itself took, from the timing line (the one with ``nonce``, when given)."""
    tag = f" {nonce}" if nonce else ""
    m = re.search(re.escape(TEST_TIMING + tag) + r":\s*([\d.]+)\s+([\d.]+)", log)
    if not m:
        return None
    return max(0.0, float(m.group(2)) - float(m.group(1)))

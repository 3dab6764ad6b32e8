"""The scripts run inside a sandbox: the patch-application chain and the eval script.

The eval script (SWE-bench's layout): reset the test files to the base commit
(so a prediction that edits them gains nothing), apply the test patch, run the
test command between explicit start/end markers, record its exit code and
timing after the end marker, and reset the test files again.
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

TEST_TIMING = ">>>>> Test Timing"
WORKDIR = "/testbed"
PATCH_PATH = "/tmp/swe_srl_patch.diff"
EVAL_PATH = "/tmp/swe_srl_eval.sh"

# Tried in order, from a pristine tree each time; the first that exits 0 wins.
APPLY_CHAIN: list[tuple[str, str]] = [
    ("git_apply", "git apply --verbose {p}"),
    ("git_apply_3way", "git apply --verbose --3way {p}"),
    ("git_apply_recount", "git apply --verbose --recount --ignore-whitespace --reject {p}"),
    ("patch_fuzz", "patch --batch --forward --fuzz=5 -p1 -i {p}"),
]

_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)
_PLUS_HEADER = re.compile(r"^\+\+\+ (?:b/)?(\S+)", re.M)


def patch_files(patch: str) -> list[str]:
    """Files a unified diff touches (new paths), in order, without duplicates."""
    files: list[str] = []
    for m in _DIFF_HEADER.finditer(patch or ""):
        files.append(m.group(2))
    if not files:
        files = [f for f in _PLUS_HEADER.findall(patch or "") if f != "/dev/null"]
    return list(dict.fromkeys(files))


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


def apply_script(patch_path: str = PATCH_PATH, workdir: str = WORKDIR) -> str:
    """Try each method of :data:`APPLY_CHAIN`; print APPLY_PATCH_PASS with the
    method, or APPLY_PATCH_FAIL (exit 1). A patch already fully applied counts."""
    p = shlex.quote(patch_path)
    lines = [f"cd {shlex.quote(workdir)} || exit 2", "_swe_srl_clean() { git checkout -q -- . && git clean -fdq; }"]
    for i, (name, cmd) in enumerate(APPLY_CHAIN):
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


def test_modules(targets: list[str]) -> list[str]:
    """Test files as dotted module names below the test root, the way Django's
    runner takes them: ``tests/admin_views/test_forms.py`` -> ``admin_views.test_forms``."""
    out = []
    for t in targets:
        mod = t[:-3] if t.endswith(".py") else t
        parts = mod.split("/")
        if parts and parts[0] in ("tests", "test"):
            parts = parts[1:]
        out.append(".".join(parts))
    return out


def reset_conftest_commands(base_commit: str) -> list[str]:
    """pytest's ``conftest.py`` files are test infrastructure: one that the
    prediction added or changed (e.g. a hook that reports every test as
    passed) is put back to the base commit before the test patch."""
    base = shlex.quote(base_commit)
    return [
        "while IFS= read -r _swe_srl_f; do "
        f"if git cat-file -e {base}:\"$_swe_srl_f\" 2>/dev/null; then git checkout -q {base} -- \"$_swe_srl_f\"; "
        "else rm -f \"$_swe_srl_f\"; fi; "
        f"done < <(git diff --name-only {base} -- 'conftest.py' '*/conftest.py'; "
        "git ls-files --others --exclude-standard -- 'conftest.py' '*/conftest.py')",
    ]


def test_command(test_cmd: str, targets: list[str]) -> str:
    """The spec's command with the targets appended, or put where the command
    says: ``{tests}`` (file paths) or ``{test_modules}`` (dotted module names)."""
    quoted = " ".join(shlex.quote(t) for t in targets)
    if "{tests}" in test_cmd:
        return test_cmd.replace("{tests}", quoted)
    if "{test_modules}" in test_cmd:
        return test_cmd.replace("{test_modules}", " ".join(shlex.quote(m) for m in test_modules(targets)))
    return f"{test_cmd} {quoted}".rstrip()


def eval_script(task: dict[str, Any], test_cmd: str, *, workdir: str = WORKDIR) -> str:
    """The bash script that runs the tests of ``task`` in a prepared sandbox."""
    base = task["base_commit"]
    targets = test_targets(task)
    reset_files = list(dict.fromkeys([*patch_files(task.get("test_patch", "")), *targets]))
    lines = [
        "#!/bin/bash",
        "set -uo pipefail",
        f"cd {shlex.quote(workdir)}",
        *reset_files_commands(base, reset_files),
        *reset_conftest_commands(base),
    ]
    test_patch = task.get("test_patch") or ""
    if test_patch.strip():
        delim, body = _heredoc(test_patch, "TEST_PATCH")
        lines += [
            f"git apply --verbose - <<'{delim}' || {{ echo '{APPLY_PATCH_FAIL} (test patch)'; exit 1; }}",
            body.rstrip("\n"),
            delim,
        ]
    lines += [
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


_TIMING = re.compile(re.escape(TEST_TIMING) + r":\s*([\d.]+)\s+([\d.]+)")


def test_duration(log: str) -> float | None:
    """Seconds the test command itself took, from the timing line."""
    m = _TIMING.search(log)
    if not m:
        return None
    return max(0.0, float(m.group(2)) - float(m.group(1)))

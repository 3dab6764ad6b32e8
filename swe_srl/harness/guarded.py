"""One prediction's test run in a started sandbox, done so that nothing the
prediction does can fake the result (the per-instance grading path of
:mod:`swe_srl.harness.run`).

Steps, and what each one closes:

1. Refuse a patch that names a path inside ``.git``, an absolute path or a
   ``..`` component (:func:`~swe_srl.harness.eval_script.unsafe_patch_paths`):
   no fallback of the apply chain can then write a git hook or outside the
   repository. Git hooks are also off in every git command the scripts run.
2. Record the untracked files where test infrastructure lives, then apply the
   patch (the persistent shell; no prediction code has run yet).
3. Reset the test infrastructure (test files and folders, every
   ``conftest.py``, pytest's configuration files, ignore files,
   ``sitecustomize.py``; tracked or not, ignored or not) and apply the test
   patch.
4. Run the test command in :meth:`~swe_srl.sandbox.DockerSandbox.run_guarded`:
   a fresh process under a non-dumpable guard that reports the exit status on
   a channel the tests cannot write and kills every process of the sandbox user
   when the tests end; the output is read by the host with a cap (head and tail
   kept, the truncation recorded).
5. Compose the log on the host: the harness's lines, then the test output
   between start and end markers carrying a fresh nonce that never enters the
   sandbox, then the exit code and timing after the end marker. The log lives
   only in the run folder on the host.

The official-image route (a row's own ``eval_script``, run as root as
SWE-bench does) gets steps 1, 4 and 5 around the whole script; the markers
inside are the script's own, so there the test section is the script's.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from swe_srl.harness import eval_script as es
from swe_srl.harness.grading import (
    APPLY_PATCH_FAIL, END_TEST_OUTPUT, START_TEST_OUTPUT, TEST_EXIT_CODE, TESTS_TIMEOUT,
)

APPLY_SCRIPT_IN_SANDBOX = "/tmp/swe_srl_apply.sh"
PREPARE_SCRIPT_IN_SANDBOX = "/tmp/swe_srl_prepare.sh"
APPLY_TIMEOUT_S = 120.0
MAX_LOG_BYTES = 16 << 20
HEAD_LOG_BYTES = 1 << 20


@dataclass
class SandboxRun:
    """What happened to one prediction in its sandbox; ``log`` is the test_output.txt text."""

    log: str
    nonce: str | None = None
    apply_method: str | None = None
    apply_failed: bool = False
    refused: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    ran_tests: bool = False
    timed_out: bool = False
    exit_code: int | None = None
    dropped_bytes: int = 0
    guarded: bool = False
    disk_limit: str = "none"

    def record(self) -> dict[str, Any]:
        """The fields saved in the instance's report."""
        out: dict[str, Any] = {"log_nonce": self.nonce, "apply_method": self.apply_method,
                               "log_truncated_bytes": self.dropped_bytes, "guarded": self.guarded,
                               "disk_limit": self.disk_limit}
        if self.refused:
            out["patch_refused"] = self.refused
        if self.restored:
            out["restored_paths"] = self.restored
        return out


def run_instance(sb: Any, task: dict[str, Any], patch: str, *, timeout: float, test_cmd: str | None = None,
                 official_script: str | None = None, max_log_bytes: int = MAX_LOG_BYTES,
                 timings: dict[str, float] | None = None) -> SandboxRun:
    """Apply ``patch`` in the started sandbox ``sb`` and run the tests of ``task``
    (``test_cmd``: our route; ``official_script``: the row's own eval script)."""
    timings = {} if timings is None else timings
    run = SandboxRun(log="", disk_limit=getattr(sb, "disk_limit", "none"))
    parts: list[str] = []
    run.refused = es.unsafe_patch_paths(patch)
    if run.refused:
        run.apply_failed = True
        run.log = f"{APPLY_PATCH_FAIL}: the patch was refused: {'; '.join(run.refused)}\n"
        return run
    t = time.monotonic()
    if official_script is None:
        sb.run(es.baseline_command(task, workdir=sb.workdir), timeout=APPLY_TIMEOUT_S)
    if patch and patch.strip():
        sb.write_file(es.PATCH_PATH, patch if patch.endswith("\n") else patch + "\n")
        sb.write_file(APPLY_SCRIPT_IN_SANDBOX, es.apply_script(workdir=sb.workdir, symlinks=es.has_symlinks(patch)))
        res = sb.run(f"bash {APPLY_SCRIPT_IN_SANDBOX}", timeout=APPLY_TIMEOUT_S)
        parts.append(res.output.rstrip("\n") + "\n")
        if res.exit_code != 0:
            run.apply_failed = True
            if APPLY_PATCH_FAIL not in res.output:
                parts.append(APPLY_PATCH_FAIL + "\n")
        else:
            for method, _ in es.APPLY_CHAIN + [("already_applied", "")]:
                if f"({method})" in res.output:
                    run.apply_method = method
    timings["apply_s"] = round(time.monotonic() - t, 3)
    if run.apply_failed:
        run.log = "".join(parts)
        return run
    if official_script is None:
        t = time.monotonic()
        sb.write_file(PREPARE_SCRIPT_IN_SANDBOX, es.prepare_script(task, workdir=sb.workdir))
        res = sb.run(f"bash {PREPARE_SCRIPT_IN_SANDBOX}", timeout=APPLY_TIMEOUT_S)
        parts.append(res.output.rstrip("\n") + "\n" if res.output.strip() else "")
        run.restored = es.restored_paths(res.output)
        timings["prepare_s"] = round(time.monotonic() - t, 3)
        if res.exit_code != 0:
            if APPLY_PATCH_FAIL not in res.output and es.RESET_FAILED not in res.output:
                parts.append(f"{es.RESET_FAILED}: preparing the tests failed (exit {res.exit_code})\n")
            run.log = "".join(parts)
            return run
        script = es.test_script(task, test_cmd or "", workdir=sb.workdir)
        run.nonce = secrets.token_hex(16)
    else:
        script = official_script
    t = time.monotonic()
    t0 = time.time()
    res = sb.run_guarded(script, timeout=timeout, max_bytes=max_log_bytes,
                         head_bytes=min(HEAD_LOG_BYTES, max_log_bytes // 4))
    t1 = time.time()
    timings["eval_s"] = round(time.monotonic() - t, 3)
    run.ran_tests = True
    run.timed_out, run.exit_code = res.timed_out, res.exit_code
    run.dropped_bytes, run.guarded = res.dropped_bytes, res.guarded
    output = res.output.decode("utf-8", "replace")
    tag = f" {run.nonce}" if run.nonce else ""
    if run.nonce:
        parts += [f"{START_TEST_OUTPUT}{tag}\n", output if output.endswith("\n") or not output else output + "\n",
                  f"{END_TEST_OUTPUT}{tag}\n"]
    else:
        parts.append(output if output.endswith("\n") or not output else output + "\n")
    if run.exit_code is not None:
        parts.append(f"{TEST_EXIT_CODE}{tag}: {run.exit_code}\n")
    parts.append(f"{es.TEST_TIMING}{tag}: {t0:.6f} {t1:.6f}\n")
    if run.dropped_bytes:
        parts.append(f"swe-srl: {run.dropped_bytes} bytes of test output were dropped (kept the first and last "
                     f"{max_log_bytes} bytes in all)\n")
    if run.timed_out:
        parts.append(f"{TESTS_TIMEOUT}: the tests were killed after {timeout:g} seconds\n")
    run.log = "".join(parts)
    return run

"""Per-instance and run reports, with SWE-bench's keys.

``<out>/<instance_id>/report.json`` is ``{instance_id: verdict}`` where the
verdict has SWE-bench's keys (``patch_is_None``, ``patch_exists``,
``patch_successfully_applied``, ``resolved``, ``tests_status``) plus ours:
``status`` (resolved | unresolved | patch_failed | timeout | infra_error),
``resolution`` (RESOLVED_FULL / PARTIAL / NO), ``test_exit_code``,
``apply_method``, timings and, for failures, ``error``; and the grader's
security record: ``suspicious`` (with ``suspicious_reasons``; in strict mode
such an instance is unresolved and ``resolved_if_not_strict`` says what it
would have been), ``patch_refused``, ``restored_paths``, ``log_nonce``,
``log_truncated_bytes``, ``guarded``, ``disk_limit`` and ``inputs_sha256``.

``<out>/report.json`` (the run report) has SWE-bench's run-report keys
(total/submitted/completed/resolved/unresolved/empty_patch/error instances and
id lists, ``failure_reasons``, ``schema_version``), with infrastructure
failures (image build, dead container) and test timeouts apart from model
failures, and timing.

Deviation from SWE-bench, on purpose: an empty patch is still evaluated (so
``--predictions empty`` validates that the tests fail without a fix); it is
listed in ``empty_patch_ids`` *and* graded like any other prediction.
"""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import Any

from swe_srl import __version__
from swe_srl.io import read_json
from swe_srl.errors import SweSrlError
from swe_srl.formats import EVAL_RUN

REPORT = "report.json"
TEST_OUTPUT = "test_output.txt"
PATCH = "patch.diff"
EVAL_SCRIPT = "eval.sh"
RUN_FORMAT = EVAL_RUN.tag

STATUS_RESOLVED = "resolved"
STATUS_UNRESOLVED = "unresolved"
STATUS_PATCH_FAILED = "patch_failed"
STATUS_TIMEOUT = "timeout"
STATUS_INFRA = "infra_error"
FINAL_STATUSES = (STATUS_RESOLVED, STATUS_UNRESOLVED, STATUS_PATCH_FAILED, STATUS_TIMEOUT)


LOG_READ_CAP = 64 << 20


def read_log(path: Path, cap: int = LOG_READ_CAP) -> tuple[str, int]:
    """``(text, bytes dropped)`` of a saved log, reading at most ``cap`` bytes
    (the first 1 MiB and the end; undecodable bytes replaced); never follows a
    symbolic link (a log replaced by one to /dev/zero reads as empty)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "", 0
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return "", 0
        size = st.st_size
        if size <= cap:
            return fh.read(cap).decode("utf-8", "replace"), 0
        head = fh.read(1 << 20)
        fh.seek(size - (cap - len(head)))
        tail = fh.read()
    dropped = size - len(head) - len(tail)
    return (head + f"\n[swe-srl: {dropped} bytes of the log not read]\n".encode() + tail).decode("utf-8", "replace"), dropped


def instance_report_path(out_dir: Path, instance_id: str) -> Path:
    return Path(out_dir) / instance_id / REPORT


def read_instance_report(out_dir: Path, instance_id: str) -> dict[str, Any] | None:
    """The verdict saved for ``instance_id`` (None when absent or unreadable)."""
    path = instance_report_path(out_dir, instance_id)
    if not path.is_file():
        return None
    try:
        data = read_json(path)
    except SweSrlError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get(instance_id), dict):
        return None
    return data[instance_id]


def is_finished(verdict: dict[str, Any] | None) -> bool:
    """A saved verdict that a re-run keeps (infrastructure failures are retried)."""
    return verdict is not None and verdict.get("status") in FINAL_STATUSES


# Failures that may come from the environment as much as from the patch (advisory only:
# the instance stays unresolved).
_AMBIGUOUS = [
    ("missing_module", re.compile(r"ModuleNotFoundError|No module named")),
    ("no_tests_collected", re.compile(r"no tests ran|collected 0 items")),
]


def _ambiguous_reason(log_path: Path) -> str | None:
    text, _ = read_log(log_path)
    for reason, pattern in _AMBIGUOUS:
        if pattern.search(text):
            return reason
    return None


def run_report(
    tasks: list[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    out_dir: Path,
    *,
    run_id: str,
    started: float | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Summarise the per-instance reports under ``out_dir``."""
    completed, resolved, unresolved, partial, empty, errors = set(), set(), set(), set(), set(), set()
    incomplete, infra, timeouts, apply_failed, ambiguous = set(), set(), set(), set(), set()
    suspicious: set[str] = set()
    reasons: dict[str, str] = {}
    apply_methods: dict[str, int] = {}
    durations: list[float] = []
    test_durations: list[float] = []
    dataset_ids = [t["instance_id"] for t in tasks]
    for iid in dataset_ids:
        pred = predictions.get(iid)
        if pred is None:
            incomplete.add(iid)
            continue
        if not (pred.get("model_patch") or "").strip():
            empty.add(iid)
        verdict = read_instance_report(out_dir, iid)
        if verdict is None:
            errors.add(iid)
            reasons[iid] = "not_run"
            continue
        status = verdict.get("status")
        if verdict.get("suspicious"):
            suspicious.add(iid)
        if isinstance(verdict.get("duration_s"), (int, float)):
            durations.append(float(verdict["duration_s"]))
        if isinstance(verdict.get("test_duration_s"), (int, float)):
            test_durations.append(float(verdict["test_duration_s"]))
        if verdict.get("apply_method"):
            apply_methods[verdict["apply_method"]] = apply_methods.get(verdict["apply_method"], 0) + 1
        if status == STATUS_INFRA:
            errors.add(iid)
            infra.add(iid)
            reasons[iid] = verdict.get("error_kind") or "infra_error"
        elif status == STATUS_TIMEOUT:
            errors.add(iid)
            timeouts.add(iid)
            ambiguous.add(iid)
            reasons[iid] = "tests_timed_out"
        else:
            completed.add(iid)
            if verdict.get("resolved"):
                resolved.add(iid)
            else:
                unresolved.add(iid)
                if verdict.get("resolution") == "RESOLVED_PARTIAL":
                    partial.add(iid)
                if status == STATUS_PATCH_FAILED:
                    apply_failed.add(iid)
                    reasons[iid] = "patch_apply_failed"
                else:
                    why = _ambiguous_reason(Path(out_dir) / iid / TEST_OUTPUT)
                    if why:
                        ambiguous.add(iid)
                        reasons[iid] = why
    submitted = set(predictions) & set(dataset_ids)
    models = sorted({p.get("model_name_or_path") or "" for p in predictions.values()})
    report: dict[str, Any] = {
        "total_instances": len(dataset_ids),
        "submitted_instances": len(submitted),
        "completed_instances": len(completed),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "partially_resolved_instances": len(partial),
        "patch_apply_failed_instances": len(apply_failed),
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "infra_failure_instances": len(infra),
        "timeout_instances": len(timeouts),
        "ambiguous_failure_instances": len(ambiguous),
        "suspicious_instances": len(suspicious),
        "completed_ids": sorted(completed),
        "incomplete_ids": sorted(incomplete),
        "empty_patch_ids": sorted(empty),
        "submitted_ids": sorted(submitted),
        "resolved_ids": sorted(resolved),
        "unresolved_ids": sorted(unresolved),
        "partially_resolved_ids": sorted(partial),
        "patch_apply_failed_ids": sorted(apply_failed),
        "error_ids": sorted(errors),
        "infra_failure_ids": sorted(infra),
        "timeout_ids": sorted(timeouts),
        "ambiguous_failure_ids": sorted(ambiguous),
        "suspicious_ids": sorted(suspicious),
        "failure_reasons": dict(sorted(reasons.items())),
        "apply_methods": dict(sorted(apply_methods.items())),
        "schema_version": 2,
        "run_id": run_id,
        "model_name_or_path": models[0] if len(models) == 1 else models,
        "resolved_rate": (len(resolved) / len(dataset_ids)) if dataset_ids else 0.0,
        "timing": {
            "instance_s_total": round(sum(durations), 3),
            "instance_s_mean": round(sum(durations) / len(durations), 3) if durations else None,
            "test_s_total": round(sum(test_durations), 3),
            "wall_s": round(time.time() - started, 3) if started else None,
        },
        "format": RUN_FORMAT,
        "swe_srl_version": __version__,
    }
    if extra:
        report.update(extra)
    return report

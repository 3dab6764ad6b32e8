"""Evaluate predictions: one fresh sandbox per instance, under a timeout.

Per instance (folder ``<out>/<instance_id>/``): the prediction is written to
``patch.diff`` and applied in the sandbox with the fallback chain of
:mod:`swe_srl.harness.eval_script`; the eval script (``eval.sh``) resets the
test files, applies the test patch and runs the tests between markers; the
log (``test_output.txt``) is graded by :mod:`swe_srl.harness.grading`, and the
verdict saved in ``report.json``. Infrastructure failures (image build, a dead
container, no engine) are saved as ``status: infra_error`` and retried on the
next run; test timeouts as ``status: timeout``; everything else is a model
result (resolved / unresolved / patch_failed).

Finished instances (a ``report.json`` with a final status) are skipped on
re-run; ``rewrite_reports`` regrades saved logs without containers.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from swe_srl.errors import SweSrlError
from swe_srl.harness import eval_script as es
from swe_srl.harness import official
from swe_srl.harness.environment import ROUTE_IMAGE, environment_for, image_checker
from swe_srl.harness.grading import APPLY_PATCH_FAIL, TESTS_TIMEOUT, grade
from swe_srl.harness.report import (
    EVAL_SCRIPT, PATCH, REPORT, STATUS_INFRA, STATUS_PATCH_FAILED, STATUS_RESOLVED, STATUS_TIMEOUT,
    STATUS_UNRESOLVED, TEST_OUTPUT, is_finished, read_instance_report, run_report,
)
from swe_srl.io import atomic_open, write_json

TEST_OUTPUT_IN_SANDBOX = "/tmp/swe_srl_test_output.txt"
APPLY_SCRIPT_IN_SANDBOX = "/tmp/swe_srl_apply.sh"
APPLY_TIMEOUT_S = 120.0


@dataclass
class EvalConfig:
    run_id: str
    timeout: float = 1800.0
    """Seconds the eval script may take before the tests are killed."""
    workers: int = 1
    specs_dir: Path | None = None
    repos_dir: Path | None = None
    cpus: float = 1.0
    memory: str = "4g"
    pull: bool | None = None
    """Pull a row's official image when absent: True, False, or None (try, stop after a failure)."""


def _write_text(path: Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


def _status(verdict: dict[str, Any], log: str) -> str:
    if TESTS_TIMEOUT in log:
        return STATUS_TIMEOUT
    if APPLY_PATCH_FAIL in log and not verdict["patch_successfully_applied"]:
        return STATUS_PATCH_FAILED
    return STATUS_RESOLVED if verdict["resolved"] else STATUS_UNRESOLVED


def _log_parser(task: dict[str, Any], specs_dir: Path | None) -> str:
    return environment_for(task, specs_dir).log_parser


def grade_log(task: dict[str, Any], log: str, *, log_parser: str, model_patch: str | None) -> dict[str, Any]:
    verdict = grade(task, log, log_parser=log_parser, model_patch=model_patch)
    verdict["status"] = _status(verdict, log)
    verdict["test_duration_s"] = es.test_duration(log)
    return verdict


def evaluate_instance(task: dict[str, Any], prediction: dict[str, Any], out_dir: Path, config: EvalConfig,
                      stop: threading.Event | None = None) -> dict[str, Any]:
    """Run one prediction in a fresh sandbox; returns (and saves) its verdict."""
    from swe_srl.sandbox import DockerSandbox, EnvSpec, SandboxConfig, SandboxError, build_env_image
    from swe_srl.tasks import resolve_repo_path

    iid = task["instance_id"]
    inst_dir = Path(out_dir) / iid
    inst_dir.mkdir(parents=True, exist_ok=True)
    patch = prediction.get("model_patch")
    _write_text(inst_dir / PATCH, patch or "")
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    base = {"model_name_or_path": prediction.get("model_name_or_path", ""), "run_id": config.run_id}

    def infra(kind: str, err: BaseException) -> dict[str, Any]:
        verdict = {"patch_is_None": patch is None, "patch_exists": patch is not None,
                   "patch_successfully_applied": False, "resolved": False, "status": STATUS_INFRA,
                   "error_kind": kind, "error": str(err).strip()[:2000], **base,
                   "duration_s": round(time.monotonic() - t0, 3), "timings": timings}
        write_json(inst_dir / REPORT, {iid: verdict})
        return verdict

    if patch is None:  # SWE-bench: a None patch is not evaluated
        verdict = grade(task, "", model_patch=None)
        verdict.update(status=STATUS_UNRESOLVED, duration_s=0.0, **base)
        write_json(inst_dir / REPORT, {iid: verdict})
        return verdict
    try:
        env = environment_for(task, config.specs_dir, image_available=image_checker(config.pull))
        base["environment"] = env.route
        if env.route == ROUTE_IMAGE:  # the row's official image, graded by the row's eval script
            image = env.image
            script = official.official_eval_script(task)
            sandbox_config = official.official_sandbox_config(timeout=config.timeout, cpus=config.cpus,
                                                              memory=config.memory)
        else:
            spec = env.spec
            repo_path = resolve_repo_path(task, config.repos_dir)
            name = str(task.get("repo") or iid).split("/")[-1]
            t = time.monotonic()
            image = build_env_image(spec, repo_path, task["base_commit"], name=name)
            timings["image_s"] = round(time.monotonic() - t, 3)
            script = es.eval_script(task, spec.test_cmd)
            sandbox_config = SandboxConfig(network=spec.network, command_timeout=config.timeout, cpus=config.cpus,
                                           memory=config.memory)
    except SweSrlError as e:
        return infra("image_build", e)

    _write_text(inst_dir / EVAL_SCRIPT, script)
    log_parts: list[str] = []
    apply_method = None
    if stop is not None and stop.is_set():
        return infra("interrupted", SweSrlError("the run was interrupted before this instance started"))
    try:
        t = time.monotonic()
        with DockerSandbox.start(image, sandbox_config, run_id=config.run_id) as sb:
            timings["start_s"] = round(time.monotonic() - t, 3)
            t = time.monotonic()
            if patch and patch.strip():
                sb.write_file(es.PATCH_PATH, patch if patch.endswith("\n") else patch + "\n")
                sb.write_file(APPLY_SCRIPT_IN_SANDBOX, es.apply_script())
                res = sb.run(f"bash {APPLY_SCRIPT_IN_SANDBOX}", timeout=APPLY_TIMEOUT_S)
                log_parts.append(res.output.rstrip("\n") + "\n")
                if res.exit_code != 0:
                    if APPLY_PATCH_FAIL not in res.output:
                        log_parts.append(APPLY_PATCH_FAIL + "\n")
                else:
                    for method, _ in es.APPLY_CHAIN + [("already_applied", "")]:
                        if f"({method})" in res.output:
                            apply_method = method
            timings["apply_s"] = round(time.monotonic() - t, 3)
            if not any(APPLY_PATCH_FAIL in p for p in log_parts):
                sb.write_file(es.EVAL_PATH, script)
                t = time.monotonic()
                res = sb.run(f"bash {es.EVAL_PATH} > {TEST_OUTPUT_IN_SANDBOX} 2>&1", timeout=config.timeout)
                timings["eval_s"] = round(time.monotonic() - t, 3)
                try:
                    out = sb.read_file(TEST_OUTPUT_IN_SANDBOX).decode("utf-8", "replace")
                except FileNotFoundError:
                    out = res.output
                log_parts.append(out)
                if res.timed_out:
                    log_parts.append(f"\n{TESTS_TIMEOUT}: the tests were killed after {config.timeout:g} seconds\n")
    except (SandboxError, OSError) as e:  # OSError: the session's pipes closed under us (interrupt)
        _write_text(inst_dir / TEST_OUTPUT, "".join(log_parts))
        return infra("sandbox", e)
    except SweSrlError as e:
        return infra("sandbox", e)
    log = "".join(log_parts)
    _write_text(inst_dir / TEST_OUTPUT, log)
    verdict = grade_log(task, log, log_parser=env.log_parser, model_patch=patch)
    verdict.update(base, log_parser=env.log_parser)
    verdict["apply_method"] = apply_method
    verdict["duration_s"] = round(time.monotonic() - t0, 3)
    verdict["timings"] = timings
    write_json(inst_dir / REPORT, {iid: verdict})
    return verdict


def regrade_instance(task: dict[str, Any], out_dir: Path, *, specs_dir: Path | None = None) -> dict[str, Any] | None:
    """Grade the saved ``test_output.txt`` again (no container); None when there is no log."""
    iid = task["instance_id"]
    inst_dir = Path(out_dir) / iid
    log_path = inst_dir / TEST_OUTPUT
    if not log_path.is_file():
        return None
    old = read_instance_report(out_dir, iid) or {}
    if old.get("status") == STATUS_INFRA:
        return old
    patch_path = inst_dir / PATCH
    if old.get("patch_is_None"):
        patch = None
    else:
        patch = patch_path.read_text() if patch_path.is_file() else ""
    log = log_path.read_text(errors="replace")
    parser = old.get("log_parser") or _log_parser(task, specs_dir)
    verdict = grade_log(task, log, log_parser=parser, model_patch=patch)
    for key in ("model_name_or_path", "run_id", "apply_method", "duration_s", "timings", "environment", "log_parser"):
        if key in old:
            verdict[key] = old[key]
    verdict["regraded"] = True
    write_json(inst_dir / REPORT, {iid: verdict})
    return verdict


def check_tasks(tasks: list[dict[str, Any]], specs_dir: Path | None = None, repos_dir: Path | None = None, *,
                pull: bool | None = None) -> None:
    """Fail early, with one line, on a task whose environment spec or repository
    cannot be found (a user error, not an infrastructure failure)."""
    from swe_srl.harness.log_parsers import canonical_name
    from swe_srl.tasks import resolve_repo_path

    check = image_checker(pull)
    for task in tasks:
        env = environment_for(task, specs_dir, image_available=check)
        canonical_name(env.log_parser)
        if env.needs_repository:
            resolve_repo_path(task, repos_dir)


Callback = Callable[[str, dict[str, Any], bool], None]


@contextlib.contextmanager
def _stop_on_signals(stopping: threading.Event):
    """While evaluating: SIGINT/SIGTERM first tell the workers to stop (no retry, no
    new sandbox), then go to the sandbox reaper's handler, which removes the live
    sandboxes at once so workers blocked in a long test return. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from swe_srl.sandbox import reaper

    reaper.install_handlers()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        stopping.set()
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prev)


def run_evaluation(
    tasks: list[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    out_dir: Path,
    config: EvalConfig,
    *,
    rewrite_reports: bool = False,
    on_result: Callback | None = None,
    report_extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate every task that has a prediction; returns (and writes) the run report.

    ``report_extra`` adds keys to the run report (the CLI records the tasks and
    predictions it was given, so reports say what was graded).

    ``on_result(instance_id, verdict, skipped)`` is called as instances finish
    (skipped: an earlier run had finished it).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    todo = [t for t in tasks if t["instance_id"] in predictions]
    skipped = 0
    if rewrite_reports:
        for t in todo:
            verdict = regrade_instance(t, out_dir, specs_dir=config.specs_dir)
            if on_result and verdict is not None:
                on_result(t["instance_id"], verdict, True)
    else:
        pending = []
        for t in todo:
            old = read_instance_report(out_dir, t["instance_id"])
            if is_finished(old):
                skipped += 1
                if on_result:
                    on_result(t["instance_id"], old, True)  # type: ignore[arg-type]
            else:
                pending.append(t)

        stopping = threading.Event()

        def one(task: dict[str, Any]) -> dict[str, Any]:
            try:
                verdict = evaluate_instance(task, predictions[task["instance_id"]], out_dir, config, stopping)
                if verdict.get("status") == STATUS_INFRA and verdict.get("error_kind") == "sandbox" \
                        and not stopping.is_set():
                    # a container that died or could not start: one more try in a fresh one
                    verdict = evaluate_instance(task, predictions[task["instance_id"]], out_dir, config, stopping)
                    verdict["retried"] = True
                return verdict
            except Exception as e:  # a harness bug on one instance must not stop the run: saved as an error
                inst_dir = out_dir / task["instance_id"]
                inst_dir.mkdir(parents=True, exist_ok=True)
                verdict = {"patch_successfully_applied": False, "resolved": False, "status": STATUS_INFRA,
                           "error_kind": "harness", "error": f"{type(e).__name__}: {e}",
                           "traceback": traceback.format_exc()[-4000:]}
                write_json(inst_dir / REPORT, {task["instance_id"]: verdict})
                return verdict

        ex = cf.ThreadPoolExecutor(max_workers=max(1, config.workers))
        with _stop_on_signals(stopping):
            futures = {ex.submit(one, t): t["instance_id"] for t in pending}
            try:
                for fut in cf.as_completed(futures):
                    verdict = fut.result()
                    if on_result:
                        on_result(futures[fut], verdict, False)
            except BaseException:
                # interrupted: queued instances are dropped, finished ones are saved already
                stopping.set()
                ex.shutdown(wait=False, cancel_futures=True)
                raise
        ex.shutdown(wait=True)
    report = run_report(tasks, predictions, out_dir, run_id=config.run_id, started=started,
                        extra={"skipped_finished_instances": skipped, "timeout_s": config.timeout,
                               "workers": config.workers, "rewritten": rewrite_reports,
                               **(report_extra or {})})
    write_json(out_dir / REPORT, report)
    return report

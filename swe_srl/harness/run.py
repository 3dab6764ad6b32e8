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
re-run only when their recorded inputs (the patch, the task's tests and
environment, the strictness) hash to the same ``inputs_sha256``;
``rewrite_reports`` regrades saved logs without containers. One run at a time
writes a folder (``.lock``, naming the holder's pid).

Grading cannot be fooled from outside the test process (the steps are in
:mod:`swe_srl.harness.guarded`); what code under test might do inside it is
looked for by :mod:`swe_srl.harness.static_check`, and in strict mode (the
default) a suspicious instance is unresolved.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import stat
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import Field

from swe_srl.config import Config
from swe_srl.errors import SweSrlError
from swe_srl.execution.base import Backend, Job, LocalBackend, Outcome, TaskContext
from swe_srl.harness import eval_script as es
from swe_srl.harness import guarded
from swe_srl.harness import official
from swe_srl.tasks.environment import ROUTE_IMAGE, environment_for, image_checker
from swe_srl.harness.grading import APPLY_PATCH_FAIL, TESTS_TIMEOUT, grade, harness_text
from swe_srl.harness.static_check import suspicious_reasons
from swe_srl.harness.report import (
    EVAL_SCRIPT, PATCH, REPORT, STATUS_INFRA, STATUS_PATCH_FAILED, STATUS_RESOLVED, STATUS_TIMEOUT,
    STATUS_UNRESOLVED, TEST_OUTPUT, is_finished, read_instance_report, read_log, run_report,
)
from swe_srl.io import atomic_open, write_json
from swe_srl.tasks import resolve_repo_path
from swe_srl.testsuite import canonical_name


TEST_RUN_CPUS = 1.0
TEST_RUN_MEMORY = "4g"


class EvalConfig(Config):
    """How ``swe-srl eval`` grades predictions."""

    run_id: str = Field(description="Name of the run (letters, digits, ``.``, ``_``, ``-``); the output folder defaults to ``runs/<run_id>``.")
    timeout: float = Field(1800.0, gt=0, description="Seconds the eval script may take before the tests are killed.")
    workers: int = Field(1, ge=1, description="Instances graded at a time (threads here; a Ray cluster sets its own).")
    specs_dir: Path | None = Field(None, description="Folder of environment specs (default: ``sandboxes/specs``).")
    repos_dir: Path | None = Field(
        None, description="Folder of local repositories (``<owner>__<name>``, bare or not) for tasks without ``repo_path``.")
    cpus: float = Field(TEST_RUN_CPUS, gt=0, description="CPUs of each test run's sandbox (the task runner reserves as many).")
    memory: str = Field(TEST_RUN_MEMORY, description="Memory limit of each test run's sandbox (the task runner reserves as much).")
    pull: bool | None = Field(
        None, description="Pull a row's official image when absent: True, False, or None (try, stop after a failure).")
    strict: bool = Field(
        True, description="Grade an instance whose patch looks like it tampers with the test run (``suspicious``) unresolved.")
    max_log_bytes: int = Field(
        guarded.MAX_LOG_BYTES, gt=0,
        description="Test output kept per instance (the first MiB and the rest from the end); the drop is recorded.")


def _write_text(path: Path, text: str) -> None:
    with atomic_open(path) as fh:
        fh.write(text)


GRADER_VERSION = 2  # bump when a verdict could change for the same inputs (old reports are then redone)
LOCK_FILE = ".lock"


def _status(verdict: dict[str, Any], log: str, nonce: str | None = None) -> str:
    trusted = harness_text(log, nonce)
    if TESTS_TIMEOUT in trusted:
        return STATUS_TIMEOUT
    if APPLY_PATCH_FAIL in trusted and not verdict["patch_successfully_applied"]:
        return STATUS_PATCH_FAILED
    return STATUS_RESOLVED if verdict["resolved"] else STATUS_UNRESOLVED


def inputs_sha256(task: dict[str, Any], prediction: dict[str, Any], config: EvalConfig) -> str:
    """What a saved verdict depends on: the patch, the task's tests and environment, strictness."""
    keys = ("instance_id", "repo", "base_commit", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "test_files",
            "spec", "environment_setup_commit", "image", "eval_script", "log_parser")
    data = {"task": {k: task.get(k) for k in keys}, "model_patch": prediction.get("model_patch"),
            "strict": config.strict, "grader": GRADER_VERSION}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def check_predictions(predictions: dict[str, dict[str, Any]], source: str = "predictions") -> None:
    """A ``model_patch`` must be a string or null: one line naming the instance otherwise."""
    for iid, pred in predictions.items():
        patch = pred.get("model_patch") if isinstance(pred, dict) else None
        if not isinstance(pred, dict) or not (patch is None or isinstance(patch, str)):
            got = type(patch).__name__ if isinstance(pred, dict) else type(pred).__name__
            raise SweSrlError(f"{source}: instance {iid}: field model_patch must be a string or null, got {got}")


@contextlib.contextmanager
def lock_run_dir(out_dir: Path):
    """Hold ``out_dir/.lock`` (an exclusive ``flock``) while a run writes the folder; a
    second run fails at once with one line naming the process that holds it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            raise SweSrlError(f"{out_dir}: another evaluation is writing this folder ({holder}); wait for it, "
                              "or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _guarded_run(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Checks the predictions and holds the run folder's lock around ``run_evaluation``."""

    @functools.wraps(fn)
    def wrapper(tasks: list[dict[str, Any]], predictions: dict[str, dict[str, Any]], out_dir: Path,
                config: EvalConfig, **kw: Any) -> dict[str, Any]:
        check_predictions(predictions)
        with lock_run_dir(Path(out_dir)):
            return fn(tasks, predictions, out_dir, config, **kw)

    return wrapper


def reusable(old: dict[str, Any] | None, task: dict[str, Any], prediction: dict[str, Any], config: EvalConfig) -> bool:
    """A saved verdict that this run keeps: finished, and graded from the same inputs."""
    return is_finished(old) and old.get("inputs_sha256") == inputs_sha256(task, prediction, config)  # type: ignore[union-attr]


def apply_strict(verdict: dict[str, Any], task: dict[str, Any], patch: str | None, strict: bool) -> dict[str, Any]:
    """Record the static check's findings; in strict mode a suspicious instance is unresolved."""
    reasons = suspicious_reasons(patch, task)
    verdict["suspicious"] = bool(reasons)
    verdict["strict"] = strict
    if reasons:
        verdict["suspicious_reasons"] = reasons
        if strict and verdict.get("resolved"):
            verdict["resolved"] = False
            verdict["resolved_if_not_strict"] = True
            if verdict.get("status") == STATUS_RESOLVED:
                verdict["status"] = STATUS_UNRESOLVED
    return verdict


def _log_parser(task: dict[str, Any], specs_dir: Path | None) -> str:
    return environment_for(task, specs_dir).log_parser


def grade_log(task: dict[str, Any], log: str, *, log_parser: str, model_patch: str | None,
              nonce: str | None = None, strict: bool = True) -> dict[str, Any]:
    verdict = grade(task, log, log_parser=log_parser, model_patch=model_patch, nonce=nonce)
    verdict["status"] = _status(verdict, log, nonce)
    verdict["test_duration_s"] = es.test_duration(log, nonce)
    return apply_strict(verdict, task, model_patch, strict)


def evaluate_instance(task: dict[str, Any], prediction: dict[str, Any], out_dir: Path, config: EvalConfig,
                      stop: threading.Event | None = None) -> dict[str, Any]:
    """Run one prediction in a fresh sandbox; returns (and saves) its verdict."""
    from swe_srl.sandbox import DockerSandbox, EnvSpec, SandboxConfig, SandboxError, build_env_image

    iid = task["instance_id"]
    inst_dir = Path(out_dir) / iid
    inst_dir.mkdir(parents=True, exist_ok=True)
    patch = prediction.get("model_patch")
    check_predictions({iid: prediction})
    _write_text(inst_dir / PATCH, patch or "")
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    base = {"model_name_or_path": prediction.get("model_name_or_path", ""), "run_id": config.run_id,
            "inputs_sha256": inputs_sha256(task, prediction, config)}

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
    if stop is not None and stop.is_set():
        return infra("interrupted", SweSrlError("the run was interrupted before this instance started"))
    official_script = script if env.route == ROUTE_IMAGE else None
    try:
        t = time.monotonic()
        with DockerSandbox.start(image, sandbox_config, run_id=config.run_id) as sb:
            timings["start_s"] = round(time.monotonic() - t, 3)
            run = guarded.run_instance(sb, task, patch, timeout=config.timeout, timings=timings,
                                       test_cmd=None if official_script else spec.test_cmd,
                                       official_script=official_script, max_log_bytes=config.max_log_bytes)
    except (SandboxError, OSError) as e:  # OSError: the session's pipes closed under us (interrupt)
        return infra("sandbox", e)
    except SweSrlError as e:
        return infra("sandbox", e)
    _write_text(inst_dir / TEST_OUTPUT, run.log)
    verdict = grade_log(task, run.log, log_parser=env.log_parser, model_patch=patch, nonce=run.nonce,
                        strict=config.strict)
    verdict.update(base, log_parser=env.log_parser)
    verdict.update(run.record())
    verdict["duration_s"] = round(time.monotonic() - t0, 3)
    verdict["timings"] = timings
    write_json(inst_dir / REPORT, {iid: verdict})
    return verdict


def regrade_instance(task: dict[str, Any], out_dir: Path, *, specs_dir: Path | None = None,
                     strict: bool | None = None) -> dict[str, Any] | None:
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
    log, _ = read_log(log_path)
    parser = old.get("log_parser") or _log_parser(task, specs_dir)
    strict = old.get("strict", True) if strict is None else strict
    verdict = grade_log(task, log, log_parser=parser, model_patch=patch, nonce=old.get("log_nonce"), strict=strict)
    for key in ("model_name_or_path", "run_id", "apply_method", "duration_s", "timings", "environment", "log_parser",
                "log_nonce", "log_truncated_bytes", "guarded", "disk_limit", "patch_refused", "restored_paths",
                "inputs_sha256"):
        if key in old:
            verdict[key] = old[key]
    verdict["regraded"] = True
    write_json(inst_dir / REPORT, {iid: verdict})
    return verdict


def check_tasks(tasks: list[dict[str, Any]], specs_dir: Path | None = None, repos_dir: Path | None = None, *,
                pull: bool | None = None) -> None:
    """Fail early, with one line, on a task whose environment spec or repository
    cannot be found (a user error, not an infrastructure failure)."""
    check = image_checker(pull)
    for task in tasks:
        env = environment_for(task, specs_dir, image_available=check)
        canonical_name(env.log_parser)
        if env.needs_repository:
            resolve_repo_path(task, repos_dir)


Callback = Callable[[str, dict[str, Any], bool], None]


@dataclass
class EvalJob(Job):
    """One instance = one task of the runner: ``(task, prediction)`` -> its verdict.

    On this machine the instance's files are written in place, as it runs; on a
    remote node (``ship_files``) they are written to a scratch folder there and
    sent back with the verdict, for the driver to write."""

    out_dir: Path
    config: EvalConfig
    ship_files: bool = False
    name = "eval"

    def run(self, item: tuple[dict[str, Any], dict[str, Any]], ctx: TaskContext) -> dict[str, Any]:
        task, prediction = item
        if not self.ship_files:
            return {"verdict": self._evaluate(task, prediction, self.out_dir, ctx.stop), "files": None}
        with tempfile.TemporaryDirectory(prefix="swe-srl-eval-") as tmp:
            verdict = self._evaluate(task, prediction, Path(tmp), ctx.stop)
            inst_dir = Path(tmp) / task["instance_id"]
            files = {p.name: p.read_bytes() for p in sorted(inst_dir.iterdir()) if p.is_file()} \
                if inst_dir.is_dir() else {}
        return {"verdict": verdict, "files": files}

    def _evaluate(self, task: dict[str, Any], prediction: dict[str, Any], out_dir: Path,
                  stop: threading.Event) -> dict[str, Any]:
        try:
            verdict = evaluate_instance(task, prediction, out_dir, self.config, stop)
            if verdict.get("status") == STATUS_INFRA and verdict.get("error_kind") == "sandbox" \
                    and not stop.is_set():
                # a container that died or could not start: one more try in a fresh one
                verdict = evaluate_instance(task, prediction, out_dir, self.config, stop)
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


def _save_outcome(out_dir: Path, outcome: Outcome, remote: bool) -> dict[str, Any]:
    """The driver's side of one finished instance: its files (sent back by a remote node),
    report.json last, so an instance counts as finished only once everything is written."""
    task = outcome.item[0]
    iid = task["instance_id"]
    inst_dir = out_dir / iid
    if outcome.ok:
        verdict, files = outcome.value["verdict"], outcome.value["files"] or {}
    else:  # the task lost its node too often, or the runner failed it: an error, retried by the next run
        verdict = {"patch_successfully_applied": False, "resolved": False, "status": STATUS_INFRA,
                   "error_kind": "runner", "error": outcome.error,
                   **({"traceback": outcome.traceback} if outcome.traceback else {})}
        files = {}
    if remote:
        verdict["node"] = outcome.node
        if outcome.retries:
            verdict["node_retries"] = outcome.retries
        for name, data in files.items():
            if name != REPORT:
                with atomic_open(inst_dir / name, "wb") as fh:
                    fh.write(data)
    if remote or not outcome.ok:
        inst_dir.mkdir(parents=True, exist_ok=True)
        write_json(inst_dir / REPORT, {iid: verdict})
    return verdict


def _portable(task: dict[str, Any]) -> dict[str, Any]:
    """The task with a relative ``repo_path`` made absolute (another process, another folder)."""
    rp = task.get("repo_path")
    if rp and not os.path.isabs(str(rp)):
        return {**task, "repo_path": os.path.abspath(str(rp))}
    return task


@_guarded_run
def run_evaluation(
    tasks: list[dict[str, Any]],
    predictions: dict[str, dict[str, Any]],
    out_dir: Path,
    config: EvalConfig,
    *,
    rewrite_reports: bool = False,
    on_result: Callback | None = None,
    report_extra: dict[str, Any] | None = None,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """Evaluate every task that has a prediction; returns (and writes) the run report.

    ``report_extra`` adds keys to the run report (the CLI records the tasks and
    predictions it was given, so reports say what was graded).

    ``on_result(instance_id, verdict, skipped)`` is called as instances finish
    (skipped: an earlier run had finished it).

    ``backend`` runs the instances (default: ``config.workers`` threads here); with a
    remote one (Ray) each verdict records its ``node`` (and ``node_retries`` when a
    node was lost under it) and the run report its ``backend``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    todo = [t for t in tasks if t["instance_id"] in predictions]
    skipped = 0
    if rewrite_reports:
        for t in todo:
            verdict = regrade_instance(t, out_dir, specs_dir=config.specs_dir, strict=config.strict)
            if on_result and verdict is not None:
                on_result(t["instance_id"], verdict, True)
    else:
        pending = []
        for t in todo:
            old = read_instance_report(out_dir, t["instance_id"])
            if reusable(old, t, predictions[t["instance_id"]], config):
                skipped += 1
                if on_result:
                    on_result(t["instance_id"], old, True)  # type: ignore[arg-type]
            else:
                pending.append(t)

        backend = backend or LocalBackend(max(1, config.workers))
        if backend.remote:
            config = config.model_copy(update={
                "specs_dir": Path(config.specs_dir).resolve() if config.specs_dir else None,
                "repos_dir": Path(config.repos_dir).resolve() if config.repos_dir else None})
        job = EvalJob(out_dir, config, ship_files=backend.remote)
        items = [(_portable(t), predictions[t["instance_id"]]) for t in pending]
        # Ctrl-C: the runner's interrupt policy (no new instance, no retry, sandboxes removed);
        # what was saved stays, and the re-run resumes from it
        for outcome in backend.imap(job, items):
            verdict = _save_outcome(out_dir, outcome, backend.remote)
            if on_result:
                on_result(outcome.item[0]["instance_id"], verdict, False)
        if backend.remote:
            report_extra = {**(report_extra or {}), "backend": backend.describe()}
    report = run_report(tasks, predictions, out_dir, run_id=config.run_id, started=started,
                        extra={"skipped_finished_instances": skipped, "timeout_s": config.timeout,
                               "workers": config.workers, "rewritten": rewrite_reports,
                               **(report_extra or {})})
    write_json(out_dir / REPORT, report)
    return report

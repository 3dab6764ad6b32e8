"""``swe-srl run``: a policy over a task set, ``workers`` tasks at a time.

Outputs in ``out_dir``:

* ``predictions.jsonl``: SWE-bench predictions (``instance_id``,
  ``model_name_or_path``, ``model_patch``), one per finished task;
* ``trajectories.jsonl``: canonical trajectories (``source_format``
  ``swe-srl-agent``), readable by ``swe-srl convert`` / ``swe-srl dataset``;
* ``summary.json``: counts (submitted, limits hit, format errors, mean steps,
  errors), the configuration, the package version and a format tag;
* ``replay_report.json`` (replay policies): per trajectory, whether the
  replay reproduced the recorded patch, and where and why it diverged.

Tasks run through the task runner (:mod:`swe_srl.execution`: threads here, or
the nodes of a Ray cluster); the driver appends each finished task (trajectory
first, then prediction) and flushes, so an interrupted run keeps its work; a
re-run skips the instances already in ``predictions.jsonl``. Tasks that could not run at all (no
environment, an image that fails to build, no recording to replay) are
reported in the summary and retried by the next run.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, get_args

from pydantic import Field

from swe_srl import __version__
from swe_srl.config import Config
from swe_srl.errors import SweSrlError
from swe_srl.execution.base import Backend, Job, LocalBackend, TaskContext
from swe_srl.formats import REPLAY_REPORT, RUN_SUMMARY
from swe_srl.io import append_jsonl, iter_jsonl, write_json, write_jsonl

SUMMARY_FORMAT = RUN_SUMMARY.tag
Mode = Literal["agent", "oracle-edit"]
MODES: tuple[str, ...] = get_args(Mode)


class RunConfig(Config):
    """How ``swe-srl run`` runs a policy over a task set."""

    mode: Mode = Field(
        "agent", description="``agent`` (the multi-turn loop in a sandbox) or ``oracle-edit`` (one edit per file the gold patch touches).")
    workers: int = Field(1, ge=1, description="Tasks run at a time (threads here, or Ray tasks).")
    model_name: str | None = Field(
        None, description="``model_name_or_path`` in predictions (default: the policy spec).")
    repos_dir: str | None = Field(
        None, description="Folder of local repositories (``<owner>__<name>``, bare or not) that tasks without ``repo_path`` use.")
    specs_dir: str | None = Field(
        None, description="Folder of environment specs (default: ``sandboxes/specs``).")
    sandbox: dict[str, Any] = Field(
        default_factory=dict, description="SandboxConfig fields (cpus, memory, command_timeout ...).")
    validate_replay: bool = Field(
        True, description="Replay policies: check that each replay reproduces the recorded patch (``replay_report.json``).")


def finished_ids(out_dir: Path) -> set[str]:
    """Instance ids already in ``predictions.jsonl`` (a torn last line is ignored)."""
    path = out_dir / "predictions.jsonl"
    if not path.is_file():
        return set()
    return {rec["instance_id"] for _, rec in iter_jsonl(path, strict=False)
            if isinstance(rec, dict) and isinstance(rec.get("instance_id"), str)}


def _dedupe_jsonl(path: Path, key: Callable[[dict[str, Any]], str | None], keep: set[str] | None = None) -> list[dict[str, Any]]:
    """Rewrite ``path`` keeping the last record per key (and only keys in ``keep``)."""
    if not path.is_file():
        return []
    records: dict[str, dict[str, Any]] = {}
    for _, rec in iter_jsonl(path, strict=False):
        if isinstance(rec, dict) and key(rec) is not None and (keep is None or key(rec) in keep):
            records[key(rec)] = rec  # type: ignore[index]
    rows = list(records.values())
    write_jsonl(path, rows)
    return rows


class RunInterrupted(SweSrlError):
    """A task whose run was cut short by an interrupt: not written, so a re-run does it."""


def prepare_task(task: dict[str, Any], config: RunConfig):
    """Build (or reuse) the task's environment image; ``(image, SandboxConfig)``."""
    from swe_srl.sandbox import SandboxConfig
    from swe_srl.tasks.environment import task_environment

    env = task_environment(task, specs_dir=config.specs_dir, repos_dir=config.repos_dir)
    sb_config = SandboxConfig(**{"network": env.spec.network, **config.sandbox})
    return env.image, sb_config


def run_one(policy: Any, task: dict[str, Any], agent_config: Any, config: RunConfig, run_meta: dict[str, Any]):
    """One task, end to end; returns an AgentResult (raises SweSrlError when it cannot start)."""
    from swe_srl.policy.base import bind

    bound = bind(policy, task)
    if config.mode == "oracle-edit":
        from swe_srl.agent.oracle_edit import run_oracle_edit
        from swe_srl.tasks import resolve_repo_path

        return run_oracle_edit(bound, task, resolve_repo_path(task, config.repos_dir), run_meta=run_meta)
    from swe_srl.agent.loop import Agent
    from swe_srl.sandbox import DockerSandbox

    image, sb_config = prepare_task(task, config)
    with DockerSandbox.start(image, sb_config, run_id=run_meta.get("run_name")) as sandbox:
        result = Agent(bound, sandbox, task, agent_config, run_meta=run_meta).run()
        if sandbox.closed:  # removed under us: the run was interrupted (Ctrl-C), not finished
            raise RunInterrupted(f"{task['instance_id']}: interrupted")
    recorded = getattr(bound, "trajectory", None)
    if recorded is not None and config.validate_replay:
        from swe_srl.agent.replay_check import diagnose

        result.trajectory.meta["replay"] = diagnose(recorded, result.trajectory, result.exit_reason)
    return result


@dataclass
class RunJob(Job):
    """One task = one agent run. The policy is ``policy`` when the driver loaded it (local
    backend), else it is loaded once per process or node from ``policy_spec`` and
    ``policy_opts`` (an in-process model once per Ray node, not once per task)."""

    agent_config: Any
    config: RunConfig
    run_meta: dict[str, Any]
    model_name: str
    policy_spec: str
    policy_opts: dict[str, Any] = field(default_factory=dict)
    policy: Any = None
    name = "run"

    def setup(self) -> Any:
        if self.policy is not None:
            return self.policy
        from swe_srl.policy import load_policy

        return load_policy(self.policy_spec, **self.policy_opts)

    def teardown(self, state: Any) -> None:
        if state is not None and state is not self.policy:  # loaded by setup (a BasePolicy): released here
            state.close()

    def run(self, task: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
        iid = task["instance_id"]
        if ctx.stopping:
            return {"instance_id": iid, "error": "interrupted before it started"}
        meta = self.run_meta
        if not meta.get("policy_config"):
            describe = getattr(ctx.state, "describe", None)
            meta = {**meta, "policy_config": describe() if callable(describe) else {}}
        try:
            result = run_one(ctx.state, task, self.agent_config, self.config, meta)
        except SweSrlError as e:
            return {"instance_id": iid, "error": str(e)}
        return {"instance_id": iid, "exit_reason": result.exit_reason, "steps": result.steps,
                "format_errors": result.format_errors, "replay": result.trajectory.meta.get("replay"),
                "trajectory": result.trajectory.to_dict(), "prediction": result.prediction(self.model_name)}


def _portable_spec(spec: str) -> str:
    """``hf:rel/path`` -> ``hf:/abs/path`` when the path exists here (node processes run elsewhere)."""
    prefix, sep, target = spec.partition(":")
    if sep and prefix in ("hf", "vllm", "replay") and not os.path.isabs(target) and os.path.exists(target):
        return f"{prefix}:{os.path.abspath(target)}"
    return spec


def run_tasks(
    tasks: list[dict[str, Any]],
    policy: Any,
    out_dir: str | Path,
    *,
    agent_config: Any = None,
    config: RunConfig | None = None,
    policy_spec: str = "policy",
    on_result: Callable[[dict[str, Any]], None] | None = None,
    backend: Backend | None = None,
    policy_opts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run every task not finished yet; returns the summary (also in summary.json).

    ``policy`` is a loaded policy, or None to load ``policy_spec`` (with ``policy_opts``)
    where the tasks run: once in this process, or once per node of a remote ``backend``
    (a loaded policy is never shipped to other machines)."""
    from swe_srl.agent.loop import AgentConfig

    config = config or RunConfig()
    agent_config = agent_config or AgentConfig()
    backend = backend or LocalBackend(config.workers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not tasks:
        raise SweSrlError("no tasks to run")
    ids = [t["instance_id"] for t in tasks]
    finished = finished_ids(out)
    done = finished & set(ids)
    # A trajectory without its prediction (torn by an interrupt) is dropped; duplicates collapse.
    _dedupe_jsonl(out / "trajectories.jsonl", lambda r: r.get("instance_id"), keep=finished)
    todo = [t for t in tasks if t["instance_id"] not in done]
    model_name = config.model_name or policy_spec
    run_name = f"run-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    describe = getattr(policy, "describe", None)
    run_meta = {"run_name": run_name, "policy": policy_spec, "mode": config.mode, "swe_srl_version": __version__,
                "policy_config": describe() if callable(describe) else {}}
    if backend.remote:
        config = config.model_copy(update={
            "repos_dir": os.path.abspath(config.repos_dir) if config.repos_dir else None,
            "specs_dir": os.path.abspath(config.specs_dir) if config.specs_dir else None})
        todo = [{**t, "repo_path": os.path.abspath(t["repo_path"])} if t.get("repo_path") else t for t in todo]
    job = RunJob(agent_config, config, run_meta, model_name, _portable_spec(policy_spec) if backend.remote else policy_spec,
                 dict(policy_opts or {}), None if backend.remote else policy)
    errors: list[dict[str, str]] = []
    t0 = time.monotonic()
    # The runner's interrupt policy: on Ctrl-C the containers are removed at once, running agents
    # end, queued tasks are dropped; this loop (the driver) is the only writer of the outputs.
    for outcome in backend.imap(job, todo):
        if not outcome.ok:  # a bug, not bad input: counted, and the batch goes on
            rec = {"instance_id": outcome.item["instance_id"], "error": outcome.error}
        else:
            rec = dict(outcome.value)
            trajectory, prediction = rec.pop("trajectory", None), rec.pop("prediction", None)
            if trajectory is not None and prediction is not None:
                if not run_meta["policy_config"]:
                    run_meta["policy_config"] = (trajectory.get("meta") or {}).get("policy_config") or {}
                append_jsonl(out / "trajectories.jsonl", trajectory)
                append_jsonl(out / "predictions.jsonl", prediction)
        if backend.remote:
            rec["node"] = outcome.node
            if outcome.retries:
                rec["node_retries"] = outcome.retries
        if "error" in rec:
            errors.append(rec)
        if on_result is not None:
            on_result(rec)
    extra = {"backend": backend.describe()} if backend.remote else {}
    return write_summary(out, ids, errors, {
        "policy": policy_spec, "model_name_or_path": model_name, "mode": config.mode, "workers": config.workers,
        "agent_config": agent_config.to_dict(), "policy_config": run_meta["policy_config"],
        "repos_dir": config.repos_dir, "sandbox": config.sandbox, **extra,
    }, skipped=len(done), duration_s=time.monotonic() - t0)


def write_summary(out: Path, ids: list[str], errors: list[dict[str, str]], config: dict[str, Any], *,
                  skipped: int, duration_s: float) -> dict[str, Any]:
    """summary.json from everything in trajectories.jsonl for these instances (this run and earlier ones)."""
    from swe_srl.agent.loop import LIMIT_REASONS, SUBMITTED

    wanted = set(ids)
    trajs = [r for _, r in iter_jsonl(out / "trajectories.jsonl", strict=False)
             if isinstance(r, dict) and r.get("instance_id") in wanted] if (out / "trajectories.jsonl").is_file() else []
    reasons: dict[str, int] = {}
    steps, format_errors, replay = [], 0, []
    for r in trajs:
        meta = r.get("meta") or {}
        reason = meta.get("exit_reason", "unknown")
        reasons[reason] = reasons.get(reason, 0) + 1
        steps.append(sum(1 for s in r.get("steps") or [] if (s.get("action") or {}).get("tool") != "submit"))
        format_errors += len(meta.get("format_errors") or [])
        if meta.get("replay"):
            replay.append(meta["replay"])
    summary: dict[str, Any] = {
        "format": SUMMARY_FORMAT,
        "swe_srl_version": __version__,
        "total_tasks": len(ids),
        "completed": len(trajs),
        "resumed_from_previous_runs": skipped,
        "submitted": reasons.get(SUBMITTED, 0),
        "limits_hit": {k: reasons[k] for k in LIMIT_REASONS if k in reasons},
        "exit_reasons": reasons,
        "format_errors": format_errors,
        "mean_steps": round(sum(steps) / len(steps), 2) if steps else 0.0,
        "nonempty_patches": sum(1 for r in trajs if (r.get("patch") or "").strip()),
        "errors": errors,
        "duration_s": round(duration_s, 2),
        "config": config,
    }
    if replay:
        summary["replay"] = {
            "validated": len(replay),
            "matched": sum(1 for r in replay if r.get("match")),
            "diverged": sorted(r["instance_id"] for r in replay if not r.get("match")),
        }
        write_json(out / REPLAY_REPORT.file, {"format": REPLAY_REPORT.tag, "trajectories": replay})
    write_json(out / "summary.json", summary)
    return summary

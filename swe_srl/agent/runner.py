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

Each finished task is appended (trajectory first, then prediction) and
flushed, so an interrupted run keeps its work; a re-run skips the instances
already in ``predictions.jsonl``. Tasks that could not run at all (no
environment, an image that fails to build, no recording to replay) are
reported in the summary and retried by the next run.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from swe_srl import __version__
from swe_srl.errors import SweSrlError
from swe_srl.io import append_jsonl, iter_jsonl, write_json, write_jsonl

SUMMARY_FORMAT = "swe-srl.run-summary/v1"
MODES = ("agent", "oracle-edit")


@dataclass
class RunConfig:
    mode: str = "agent"
    workers: int = 1
    model_name: str | None = None
    """``model_name_or_path`` in predictions (default: the policy spec)."""
    repos_dir: str | None = None
    specs_dir: str | None = None
    sandbox: dict[str, Any] = field(default_factory=dict)
    """SandboxConfig fields (cpus, memory, command_timeout ...)."""
    validate_replay: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SweSrlError(f"unknown mode {self.mode!r}; valid modes: {', '.join(MODES)}")
        if self.workers < 1:
            raise SweSrlError("--workers must be at least 1")


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


def run_tasks(
    tasks: list[dict[str, Any]],
    policy: Any,
    out_dir: str | Path,
    *,
    agent_config: Any = None,
    config: RunConfig | None = None,
    policy_spec: str = "policy",
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every task not finished yet; returns the summary (also in summary.json)."""
    from swe_srl.agent.loop import AgentConfig

    config = config or RunConfig()
    agent_config = agent_config or AgentConfig()
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
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[dict[str, str]] = []
    t0 = time.monotonic()

    def work(task: dict[str, Any]) -> dict[str, Any]:
        iid = task["instance_id"]
        if stop.is_set():
            return {"instance_id": iid, "error": "interrupted before it started"}
        try:
            result = run_one(policy, task, agent_config, config, run_meta)
        except SweSrlError as e:
            return {"instance_id": iid, "error": str(e)}
        with lock:
            if stop.is_set():
                return {"instance_id": iid, "error": "interrupted"}
            append_jsonl(out / "trajectories.jsonl", result.trajectory.to_dict())
            append_jsonl(out / "predictions.jsonl", result.prediction(model_name))
        return {"instance_id": iid, "exit_reason": result.exit_reason, "steps": result.steps,
                "format_errors": result.format_errors, "replay": result.trajectory.meta.get("replay")}

    from swe_srl.sandbox import SandboxPool

    # SandboxPool installs the sandboxes' signal handlers from this (main) thread: on Ctrl-C
    # the containers are removed at once, running agents end, queued tasks are dropped.
    try:
        for item in SandboxPool(config.workers).imap(work, todo):
            if item.error is not None:  # a bug, not bad input: counted, and the batch goes on
                rec = {"instance_id": item.item["instance_id"], "error": f"{type(item.error).__name__}: {item.error}"}
            else:
                rec = item.value
            if "error" in rec:
                errors.append(rec)
            if on_result is not None:
                on_result(rec)
    except BaseException:
        stop.set()
        raise
    return write_summary(out, ids, errors, {
        "policy": policy_spec, "model_name_or_path": model_name, "mode": config.mode, "workers": config.workers,
        "agent_config": agent_config.to_dict(), "policy_config": run_meta["policy_config"],
        "repos_dir": config.repos_dir, "sandbox": config.sandbox,
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
        write_json(out / "replay_report.json", {"format": "swe-srl.replay-report/v1", "trajectories": replay})
    write_json(out / "summary.json", summary)
    return summary

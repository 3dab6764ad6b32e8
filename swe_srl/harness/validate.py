"""Validate task instances: the gold patch must resolve (every time), the empty
patch must not, and repeated gold runs must agree (else the task is flaky).

Verdicts per instance: ``valid``, ``flaky`` (gold runs disagree; the tests
whose outcome changed are listed), ``gold_fails``, ``empty_resolves``
(FAIL_TO_PASS tests already pass without the fix), ``env_failure`` (the
environment could not be built or found), ``error`` (another infrastructure
failure, or a timeout, in a gold or empty run). Each instance also says
``gold_resolves`` and ``empty_fails`` and which environment route it took.

``validation.json`` lists ``valid_ids``; give it back to ``--instance-ids-file``
(eval, validate) to keep the valid instances only.

It lives in the harness (not in :mod:`swe_srl.tasks`) because it grades each task
with the harness: tasks sit below the harness, and imports only point down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from swe_srl import __version__
from swe_srl.execution.base import Backend, LocalBackend
from swe_srl.formats import TASK_VALIDATION
from swe_srl.harness.report import read_instance_report
from swe_srl.harness.run import EvalConfig, run_evaluation
from swe_srl.io import write_json
from swe_srl.tasks.loading import load_predictions

VALIDATION = TASK_VALIDATION.file


def _outcomes(verdict: dict[str, Any] | None) -> dict[str, bool]:
    """``{test: passed}`` over FAIL_TO_PASS and PASS_TO_PASS from one verdict."""
    out: dict[str, bool] = {}
    status = (verdict or {}).get("tests_status") or {}
    for key in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        part = status.get(key) or {}
        for t in part.get("success", []):
            out[t] = True
        for t in part.get("failure", []):
            out[t] = False
    return out


def verdict_for(task: dict[str, Any], gold: list[dict[str, Any] | None], empty: dict[str, Any] | None) -> dict[str, Any]:
    """Combine the gold runs and the empty run of one task into a verdict."""
    result: dict[str, Any] = {
        "gold_resolved": [bool(g and g.get("resolved")) for g in gold],
        "empty_resolved": bool(empty and empty.get("resolved")),
    }
    result["gold_resolves"] = bool(result["gold_resolved"]) and all(result["gold_resolved"])
    result["empty_fails"] = not result["empty_resolved"]
    routes = sorted({g.get("environment") for g in [*gold, empty] if g and g.get("environment")})
    if routes:
        result["environment"] = routes[0] if len(routes) == 1 else routes
    bad = [g for g in [*gold, empty] if g is None or g.get("status") in ("infra_error", "timeout")]
    if bad:
        env_failed = any(g and g.get("error_kind") == "image_build" for g in bad)
        result["verdict"] = "env_failure" if env_failed else "error"
        result["errors"] = [(g or {}).get("error") or (g or {}).get("status") or "not run" for g in bad]
        return result
    runs = [_outcomes(g) for g in gold]
    flaky = sorted({t for r in runs for t in r if len({rr.get(t) for rr in runs}) > 1})
    empty_out = _outcomes(empty)
    f2p_passing_empty = sorted(t for t in task.get("FAIL_TO_PASS", []) if empty_out.get(t))
    result["flaky_tests"] = flaky
    result["f2p_passing_without_fix"] = f2p_passing_empty
    if flaky or len(set(result["gold_resolved"])) > 1:
        result["verdict"] = "flaky"
    elif not all(result["gold_resolved"]):
        result["verdict"] = "gold_fails"
        result["gold_failures"] = sorted(t for t, ok in runs[0].items() if not ok)
    elif result["empty_resolved"] or f2p_passing_empty:
        result["verdict"] = "empty_resolves"
    else:
        result["verdict"] = "valid"
    return result


def validate_tasks(
    tasks: list[dict[str, Any]],
    out_dir: Path,
    *,
    repeat: int = 1,
    workers: int = 1,
    timeout: float = 1800.0,
    specs_dir: Path | None = None,
    repos_dir: Path | None = None,
    on_result: Callable[[str, str, dict[str, Any], bool], None] | None = None,
    pull: bool | None = None,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """Run gold ``repeat`` times and empty once; write ``out_dir/validation.json``.

    ``backend``: the task runner's backend (:mod:`swe_srl.execution`; default ``workers``
    threads here)."""
    out_dir = Path(out_dir)
    phases = [f"gold-{i + 1}" for i in range(max(1, repeat))] + ["empty"]
    backend = backend or LocalBackend(max(1, workers))
    with backend.session():
        for phase in phases:
            preds = load_predictions("empty" if phase == "empty" else "gold", tasks)
            config = EvalConfig(run_id=f"validate-{phase}", timeout=timeout, workers=workers, specs_dir=specs_dir,
                                repos_dir=repos_dir, pull=pull)
            run_evaluation(tasks, preds, out_dir / phase, config, backend=backend,
                           on_result=(lambda iid, v, skipped, phase=phase: on_result(phase, iid, v, skipped)) if on_result else None)
    verdicts: dict[str, Any] = {}
    for t in tasks:
        iid = t["instance_id"]
        gold = [read_instance_report(out_dir / p, iid) for p in phases[:-1]]
        empty = read_instance_report(out_dir / "empty", iid)
        verdicts[iid] = verdict_for(t, gold, empty)
    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[v["verdict"]] = counts.get(v["verdict"], 0) + 1
    report = {"repeat": repeat, "total": len(tasks), "counts": counts,
              "valid_ids": sorted(i for i, v in verdicts.items() if v["verdict"] == "valid"),
              "instances": verdicts, "timeout_s": timeout,
              "format": TASK_VALIDATION.tag, "swe_srl_version": __version__}
    write_json(out_dir / VALIDATION, report)
    return report

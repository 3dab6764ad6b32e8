"""`swe-srl eval`: grade predictions with the SWE-bench-style harness (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Grade predictions by running the repository's tests in fresh sandboxes.

Writes DIR/<instance_id>/{patch.diff, eval.sh, test_output.txt, report.json} and
DIR/report.json (SWE-bench's run-report keys). Finished instances are skipped on
re-run; --rewrite-reports regrades the saved logs without containers.

Examples:

  swe-srl eval --tasks tasks.jsonl --predictions gold --run-id check

  swe-srl eval --tasks tasks.jsonl --predictions out/predictions.jsonl --run-id exp1 --workers 2

  swe-srl eval --tasks tasks.jsonl --predictions gold --run-id big --backend ray --ray-address HEAD:6379

  swe-srl eval --tasks SWE-bench_Lite/ --split test --predictions preds.jsonl --run-id lite --repos-dir repos/

  swe-srl eval --tasks dev.jsonl --predictions gold --run-id ok --instance-ids-file runs/validate-dev/validation.json
"""

EVAL_FLAGS = {"run_id": "--run-id", "timeout": "--timeout", "workers": "--workers", "specs_dir": "--specs-dir",
              "repos_dir": "--repos-dir", "pull": "--pull", "strict": "--strict"}


def register(app: typer.Typer) -> None:
    @app.command("eval", help=HELP)
    def eval_(
        tasks_file: Path = typer.Option(..., "--tasks", help="Tasks or a SWE-bench dataset: JSON, JSONL, parquet, a dataset folder (save_to_disk or the hub's parquet layout), or a hub name."),
        predictions: str = typer.Option(..., "--predictions", help="Predictions file (SWE-bench format), or gold, or empty."),
        run_id: str = typer.Option(..., "--run-id", help="Name of this run (DIR defaults to runs/<run-id>)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default runs/<run-id>)."),
        workers: int = typer.Option(1, "--workers", min=1, help="Instances evaluated at once."),
        timeout: float = typer.Option(1800.0, "--timeout", help="Seconds the tests of one instance may take."),
        repos_dir: Optional[Path] = typer.Option(None, "--repos-dir", help="DIR/<owner>__<name> is a git repository, bare or not (default: a cache of bare mirrors cloned from the public URL)."),
        specs_dir: Optional[Path] = typer.Option(None, "--specs-dir", help="Environment specs (default sandboxes/specs)."),
        instance_ids: Optional[list[str]] = typer.Option(None, "--instance-ids", help="Instances to run (repeatable, or comma-separated)."),
        instance_ids_file: Optional[Path] = typer.Option(None, "--instance-ids-file", help="Ids to run: one per line, a JSON list, or a `tasks validate` validation.json (its valid ids)."),
        split: Optional[str] = typer.Option(None, "--split", help="Split of a dataset folder or hub dataset (default test, or the only one)."),
        pull: Optional[bool] = typer.Option(None, "--pull/--no-pull", help="Pull a row's official image when it is not present (default: try once, then stop trying)."),
        rewrite_reports: bool = typer.Option(False, "--rewrite-reports", help="Regrade saved logs (no containers)."),
        backend: str = typer.Option("local", "--backend", help="local (--workers threads here) or ray (the Docker nodes of a Ray cluster; per-node concurrency from their CPU and memory)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: the running cluster, else a local one for this run)."),
        strict: bool = typer.Option(True, "--strict/--lenient", help="strict: an instance whose patch looks like it tampers with the test run (report: suspicious) is unresolved; lenient: only flagged."),
    ) -> None:
        """Grade predictions with the SWE-bench-style harness."""
        import re

        from swe_srl.cli.common import per_node as per_node_text
        from swe_srl.cli.common import progress, summary
        from swe_srl.errors import SweSrlError
        from swe_srl.execution.base import make_backend
        from swe_srl.harness.run import TEST_RUN_CPUS, TEST_RUN_MEMORY, EvalConfig, run_evaluation
        from swe_srl.tasks.loading import load_predictions, load_tasks

        if not re.fullmatch(r"[A-Za-z0-9._-]+", run_id):
            raise SweSrlError(f"--run-id {run_id!r}: use letters, digits, '.', '_' and '-' only")
        config = EvalConfig.from_dict(dict(run_id=run_id, timeout=timeout, workers=workers, specs_dir=specs_dir,
                                           repos_dir=repos_dir, pull=pull, strict=strict), "swe-srl eval", names=EVAL_FLAGS)
        runner = make_backend(backend, workers=workers, address=ray_address, task_cpus=TEST_RUN_CPUS,
                              task_memory=TEST_RUN_MEMORY)
        ids = [i.strip() for v in instance_ids or [] for i in v.split(",") if i.strip()] or None
        if instance_ids_file is not None:
            from swe_srl.tasks.loading import read_id_filter

            listed = read_id_filter(instance_ids_file)
            ids = [i for i in ids if i in set(listed)] if ids else listed
        tasks = load_tasks(str(tasks_file), instance_ids=ids, split=split, strict_ids=instance_ids_file is None)
        if not tasks:
            raise SweSrlError(f"{tasks_file}: no task instances" + (" with those --instance-ids" if ids else ""))
        preds = load_predictions(predictions, tasks)
        from swe_srl.harness.run import check_predictions

        check_predictions(preds, predictions)
        duplicates = _duplicate_ids(predictions)
        if duplicates:
            from swe_srl.cli.common import console, shown

            console.print(f"[yellow]warning:[/] {predictions}: {len(duplicates)} instance id(s) given more than once, "
                          f"the last prediction of each is graded: {shown(', '.join(duplicates[:10]))}"
                          + (" ..." if len(duplicates) > 10 else ""), highlight=False, markup=True)
        known = {t["instance_id"] for t in tasks}
        unknown = sorted(set(preds) - known)
        preds = {k: v for k, v in preds.items() if k in known}
        if not preds:
            raise SweSrlError(f"{predictions}: no prediction matches an instance of {tasks_file}")
        if not rewrite_reports:
            from swe_srl.harness.run import check_tasks

            check_tasks([t for t in tasks if t["instance_id"] in preds], specs_dir, repos_dir, pull=pull)
        out_dir = out or Path("runs") / run_id
        counts = {"done": 0, "resolved": 0, "errors": 0, "skipped": 0}
        per_node: dict[str, int] = {}
        with progress() as bar:
            job = bar.add_task("eval", total=len(preds), status="")

            def on_result(iid: str, verdict: dict, skipped: bool) -> None:
                counts["done"] += 1
                counts["skipped"] += int(skipped)
                counts["resolved"] += int(bool(verdict.get("resolved")))
                counts["errors"] += int(verdict.get("status") in ("infra_error", "timeout"))
                if not skipped and verdict.get("node"):
                    per_node[verdict["node"]] = per_node.get(verdict["node"], 0) + 1
                nodes = f" · {per_node_text(per_node)}" if per_node else ""
                bar.update(job, completed=counts["done"],
                           status=f"resolved {counts['resolved']}/{counts['done']} · errors {counts['errors']}{nodes}")

            report = run_evaluation(tasks, preds, out_dir, config, rewrite_reports=rewrite_reports, on_result=on_result,
                                    backend=runner,
                                    report_extra={"tasks": str(tasks_file), "predictions": str(predictions),
                                                  "unknown_prediction_ids": unknown,
                                                  "duplicate_prediction_ids": duplicates, "strict": strict})
        summary(f"eval {run_id}", [
            ("instances", report["total_instances"]),
            ("submitted", report["submitted_instances"]),
            ("resolved", f"{report['resolved_instances']} ({100 * report['resolved_rate']:.1f}%)"),
            ("unresolved", report["unresolved_instances"]),
            ("  partially resolved", report["partially_resolved_instances"]),
            ("  patch did not apply", report["patch_apply_failed_instances"]),
            ("empty patches", report["empty_patch_instances"]),
            ("errors (infra / timeout)", f"{report['infra_failure_instances']} / {report['timeout_instances']}"),
            ("suspicious" + (" (graded unresolved)" if strict else " (flagged only)"),
             report.get("suspicious_instances", 0)),
            ("skipped (finished before)", report["skipped_finished_instances"]),
            *([("instances per node", per_node_text(per_node))] if per_node else []),
            *([("predictions not in the tasks" + (" or not selected" if ids else ""),
                f"{len(unknown)}: {', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))] if unknown else []),
            *([("duplicate prediction ids", len(duplicates))] if duplicates else []),
            ("report", out_dir / "report.json"),
        ])


def _duplicate_ids(source: str) -> list[str]:
    """Instance ids that a predictions file lists more than once (none for gold/empty)."""
    if source in ("gold", "empty"):
        return []
    from swe_srl.io import read_records

    rows = read_records(source)
    seen: dict[str, int] = {}
    for row in rows:
        if isinstance(row, dict) and isinstance(row.get("instance_id"), str):
            seen[row["instance_id"]] = seen.get(row["instance_id"], 0) + 1
    return sorted(i for i, n in seen.items() if n > 1)

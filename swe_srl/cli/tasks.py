"""`swe-srl tasks`: task instances: synthesize | validate | specs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Task instances (SWE-bench schema): synthesize new ones, validate them.

Examples:

  swe-srl tasks synthesize --pypi more-itertools==10.5.0 --out tasks.jsonl --max 3

  swe-srl tasks synthesize --repo ~/src/myproject --out tasks.jsonl --max 5 --workers 2

  swe-srl tasks synthesize --pypi boltons==24.0.0 --out tasks.jsonl --max 10 --backend ray --ray-address HEAD:6379

  swe-srl tasks validate tasks.jsonl --repeat 2

  swe-srl tasks validate tasks.jsonl --repeat 3 --backend ray --ray-address HEAD:6379

  swe-srl tasks specs dev.jsonl --out dev-specs.json

  swe-srl tasks validate dev.jsonl --repos-dir repos/ --repeat 2 --out runs/validate-dev

  swe-srl eval --tasks dev.jsonl --instance-ids-file runs/validate-dev/validation.json --predictions p.jsonl --run-id x
"""


def register(app: typer.Typer) -> None:
    tasks_app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode="rich")
    app.add_typer(tasks_app, name="tasks")

    @tasks_app.command("synthesize")
    def synthesize(
        out: Path = typer.Option(..., "--out", help="Tasks JSONL to write (tasks already in it are kept; re-synthesized ones are replaced)."),
        repo: Optional[Path] = typer.Option(None, "--repo", help="A local git repository (its HEAD is the base)."),
        pypi: Optional[str] = typer.Option(None, "--pypi", help="A PyPI source distribution, NAME==VERSION."),
        max_tasks: int = typer.Option(5, "--max", min=1, help="Stop after this many tasks."),
        max_tries: Optional[int] = typer.Option(None, "--max-tries", min=1, help="Mutations to try at most (default max(20, 10 x --max))."),
        seed: int = typer.Option(0, "--seed", help="Seed of the mutation order."),
        pip: list[str] = typer.Option([], "--pip", help="Extra requirement for the environment (repeatable)."),
        python: str = typer.Option("3.11", "--python", help="Python version of the sandbox."),
        kinds: Optional[str] = typer.Option(None, "--kinds", help="Comma-separated mutation kinds (default: all)."),
        cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Where repository mirrors go (default ~/.cache/swe-srl)."),
        install: list[str] = typer.Option([], "--install", help="Shell command run in /testbed at image build, offline (repeatable), e.g. 'pip install --no-build-isolation -e .'."),
        test_cmd: Optional[str] = typer.Option(None, "--test-cmd", help="Test command (pytest -rA style output; the test files are appended)."),
        workers: int = typer.Option(1, "--workers", min=1, help="Suite runs at once (local backend): one sandbox each."),
        backend: str = typer.Option("local", "--backend", help="local (--workers threads here) or ray (the Docker nodes of a Ray cluster; per-node concurrency from their CPU and memory)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: the running cluster, else a local one for this run)."),
    ) -> None:
        """Make SWE-smith-style instances from procedural bugs (real test runs in sandboxes)."""
        from swe_srl import __version__
        from swe_srl.cli.common import console, progress, summary
        from swe_srl.cli.common import per_node as per_node_text
        from swe_srl.errors import SweSrlError
        from swe_srl.execution.base import make_backend
        from swe_srl.formats import SYNTHESIS_STATS
        from swe_srl.io import write_json, write_jsonl
        from swe_srl.tasks.loading import load_tasks
        from swe_srl.tasks.mutate import MUTATION_KINDS
        from swe_srl.tasks.synthesize import SUITE_CPUS, SUITE_MEMORY, synthesize_pypi, synthesize_repo

        runner = make_backend(backend, workers=workers, address=ray_address, task_cpus=SUITE_CPUS,
                              task_memory=SUITE_MEMORY)
        if (repo is None) == (pypi is None):
            raise SweSrlError("give exactly one of --repo PATH or --pypi NAME==VERSION")
        kind_list = tuple(k.strip() for k in kinds.split(",") if k.strip()) if kinds else MUTATION_KINDS
        unknown = [k for k in kind_list if k not in MUTATION_KINDS]
        if unknown:
            raise SweSrlError(f"--kinds: unknown kind(s) {', '.join(unknown)} (valid: {', '.join(MUTATION_KINDS)})")
        existing = load_tasks(out) if out.is_file() else []
        budget = max_tries if max_tries is not None else max(20, 10 * max_tasks)
        per_node: dict[str, int] = {}
        with progress() as bar:
            job = bar.add_task("synthesize", total=budget, status="starting")

            def on_try(stats) -> None:
                nodes = f" · {per_node_text(per_node)}" if runner.remote else ""
                bar.update(job, completed=stats.tried, status=f"kept {stats.kept} · no-op {stats.no_op} · "
                           f"break-all {stats.broke_everything} · hang {stats.hang}{nodes}")

            def on_run(node: str) -> None:
                per_node[node] = per_node.get(node, 0) + 1

            def log(msg: str) -> None:
                if not msg.startswith("Step "):
                    bar.update(job, status=msg[:70])

            overrides = {**({"install": list(install)} if install else {}), **({"test_cmd": test_cmd} if test_cmd else {})}
            kw = dict(max_tasks=max_tasks, max_tries=max_tries, seed=seed, cache_dir=cache_dir, extra_pip=pip,
                      python=python, kinds=kind_list, log=log, on_try=on_try, on_run=on_run, spec_overrides=overrides,
                      backend=runner)
            if pypi:
                new, stats = synthesize_pypi(pypi, **kw)
            else:
                new, stats = synthesize_repo(repo, **kw)
        new_ids = {t["instance_id"] for t in new}
        repos = {t["repo"] for t in new}
        kept_old = [t for t in existing if t["instance_id"] not in new_ids]
        n = write_jsonl(out, [*kept_old, *new])
        stats_path = out.with_name(out.name + ".stats.json")
        write_json(stats_path, {"source": pypi or str(repo), "repos": sorted(repos), **stats.as_dict(),
                                "options": {"max": max_tasks, "max_tries": max_tries, "seed": seed, "pip": pip, "install": install,
                                            "test_cmd": test_cmd,
                                            "python": python, "kinds": list(kind_list)},
                                "backend": {"name": runner.name, "suite_runs_per_node": dict(sorted(per_node.items()))},
                                "format": SYNTHESIS_STATS.tag, "swe_srl_version": __version__})
        summary("tasks synthesize", [
            ("source", pypi or repo), ("baseline", f"{stats.baseline_passed} passed, {stats.baseline_failed} failed "
                                                    f"in {stats.baseline_s:.1f}s"),
            ("mutations tried", stats.tried), ("kept", stats.kept), ("dropped: no-op", stats.no_op),
            ("dropped: break everything", stats.broke_everything), ("dropped: hang", stats.hang),
            ("kinds kept", ", ".join(f"{k} {v}" for k, v in sorted(stats.by_kind.items())) or "-"),
            *([("suite runs per node", per_node_text(per_node))] if runner.remote else []),
            ("tasks in file", n), ("written", out), ("stats", stats_path),
        ])
        if not new:
            console.print("[yellow]no task kept[/]: try --max-tries or another --seed")

    @tasks_app.command("validate")
    def validate(
        tasks_file: Path = typer.Argument(..., help="Tasks or a SWE-bench dataset (JSON, JSONL, parquet, a dataset folder)."),
        repeat: int = typer.Option(1, "--repeat", min=1, help="Gold runs per instance (>1 flags flaky tests)."),
        split: Optional[str] = typer.Option(None, "--split", help="Split of a dataset folder (default test, or the only one)."),
        instance_ids: Optional[list[str]] = typer.Option(None, "--instance-ids", help="Instances to validate (repeatable, or comma-separated)."),
        instance_ids_file: Optional[Path] = typer.Option(None, "--instance-ids-file", help="Ids: one per line, a JSON list, or an earlier validation.json."),
        pull: Optional[bool] = typer.Option(None, "--pull/--no-pull", help="Pull a row's official image when absent (default: try once)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Folder for the runs and validation.json (default runs/validate-<name>)."),
        workers: int = typer.Option(1, "--workers", min=1),
        timeout: float = typer.Option(1800.0, "--timeout", help="Seconds per test run."),
        repos_dir: Optional[Path] = typer.Option(None, "--repos-dir", help="DIR/<owner>__<name>: a git repository, bare or not."),
        specs_dir: Optional[Path] = typer.Option(None, "--specs-dir", help="Environment specs (default sandboxes/specs)."),
        write_valid: Optional[Path] = typer.Option(None, "--write-valid", help="Also write the valid tasks to this JSONL."),
        backend: str = typer.Option("local", "--backend", help="local (--workers threads here) or ray (the Docker nodes of a Ray cluster)."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster address (default: the running cluster, else a local one for this run)."),
    ) -> None:
        """Run gold (N times) and empty patches; write the verdict per instance."""
        from swe_srl.cli.common import console, progress, summary
        from swe_srl.cli.common import per_node as per_node_text
        from swe_srl.io import write_jsonl
        from swe_srl.tasks.loading import load_tasks
        from swe_srl.harness.validate import VALIDATION, validate_tasks

        from swe_srl.execution.base import make_backend
        from swe_srl.harness.run import TEST_RUN_CPUS, TEST_RUN_MEMORY, check_tasks

        from swe_srl.tasks.loading import read_id_filter

        runner = make_backend(backend, workers=workers, address=ray_address, task_cpus=TEST_RUN_CPUS,
                              task_memory=TEST_RUN_MEMORY)

        ids = [i.strip() for v in instance_ids or [] for i in v.split(",") if i.strip()] or None
        if instance_ids_file is not None:
            listed = read_id_filter(instance_ids_file)
            ids = [i for i in ids if i in set(listed)] if ids else listed
        tasks = load_tasks(tasks_file, instance_ids=ids, split=split, strict_ids=instance_ids_file is None)
        check_tasks(tasks, specs_dir, repos_dir, pull=pull)
        out_dir = out or Path("runs") / f"validate-{tasks_file.stem}"
        total = len(tasks) * (repeat + 1)
        with progress() as bar:
            job = bar.add_task("validate", total=total, status="")
            done = {"n": 0}
            per_node: dict[str, int] = {}

            def on_result(phase: str, iid: str, verdict: dict, skipped: bool) -> None:
                done["n"] += 1
                if not skipped and verdict.get("node"):
                    per_node[verdict["node"]] = per_node.get(verdict["node"], 0) + 1
                nodes = f" · {per_node_text(per_node)}" if per_node else ""
                bar.update(job, completed=done["n"], status=f"{phase}: {iid[:40]} {verdict.get('status')}{nodes}")

            report = validate_tasks(tasks, out_dir, repeat=repeat, workers=workers, timeout=timeout,
                                    specs_dir=specs_dir, repos_dir=repos_dir, on_result=on_result, pull=pull,
                                    backend=runner)
        if write_valid:
            valid = set(report["valid_ids"])
            write_jsonl(write_valid, [t for t in tasks if t["instance_id"] in valid])
        instances = report["instances"]
        bad = [(iid, v) for iid, v in sorted(instances.items()) if v["verdict"] != "valid"]
        for iid, v in bad[:20]:
            console.print(f"[yellow]{v['verdict']}[/] {iid}: {_why(v)}")
        if len(bad) > 20:
            console.print(f"... and {len(bad) - 20} more in {out_dir / VALIDATION}")
        summary("tasks validate", [
            ("instances", report["total"]), ("gold runs each", repeat),
            *[(k, v) for k, v in sorted(report["counts"].items())],
            *([("runs per node", per_node_text(per_node))] if per_node else []),
            ("verdicts", out_dir / VALIDATION), *([("valid tasks", write_valid)] if write_valid else []),
        ])


    @tasks_app.command("specs")
    def specs(
        dataset: Path = typer.Argument(..., help="A SWE-bench dataset (JSON, JSONL, parquet, a dataset folder) or tasks."),
        out: Path = typer.Option(..., "--out", help="JSON file to write: every row's derived spec and route, and a summary per (repo, version)."),
        split: Optional[str] = typer.Option(None, "--split", help="Split of a dataset folder (default test, or the only one)."),
        specs_dir: Optional[Path] = typer.Option(None, "--specs-dir", help="Environment specs (default sandboxes/specs)."),
        check_images: bool = typer.Option(True, "--check-images/--no-check-images", help="Ask Docker whether each row's official image is present (no pulls)."),
    ) -> None:
        """The environment every row gets (inline spec | official image | derived from SWE-bench's tables), or why none."""
        from swe_srl import __version__
        from swe_srl.cli.common import console, summary
        from swe_srl.errors import SweSrlError
        from swe_srl.formats import TASK_SPECS
        from swe_srl.tasks.environment import image_checker, specs_report
        from swe_srl.io import write_json
        from swe_srl.tasks.loading import load_tasks

        tasks = load_tasks(dataset, split=split)
        checker = None
        if check_images and any(t.get("image") for t in tasks):
            try:
                checker = image_checker(False)
                checker("swe-srl/none:probe")  # fails fast when no engine answers
            except SweSrlError as e:
                console.print(f"[yellow]not checking official images[/]: {e}")
                checker = None
        report = specs_report(tasks, specs_dir, image_available=checker)
        report.update({"dataset": str(dataset), "split": split, "images_checked": checker is not None,
                       "format": TASK_SPECS.tag, "swe_srl_version": __version__})
        write_json(out, report)
        rows = []
        for g in report["summary"]:
            why = "; ".join(f"{n}x {r}" for r, n in sorted(g["cannot_derive"].items(), key=lambda kv: -kv[1]))
            rows.append((f"{g['repo']} {g['version']}",
                         f"{g['instances']} rows: derived {g['derived']}, needs image {g['needs_image']}"
                         + (f" · cannot derive: {why}" if why else "")))
        summary("tasks specs", [
            ("rows", report["total"]),
            ("routes", ", ".join(f"{k} {v}" for k, v in sorted(report["by_route"].items()))),
            ("derived specs", report["derived"]),
            ("SWE-bench tables", f"swebench {report['tables']['release']} ({report['tables']['source']})"),
            *rows[:30],
            *([("...", f"{len(rows) - 30} more (repo, version) groups in the file")] if len(rows) > 30 else []),
            ("written", out),
        ])


def _why(verdict: dict) -> str:
    """One line on why a validation verdict is not ``valid``."""
    if verdict.get("errors"):
        return str(verdict["errors"][0]).splitlines()[0][:160]
    if verdict.get("flaky_tests"):
        return "tests that changed outcome between gold runs: " + ", ".join(verdict["flaky_tests"][:3])
    if verdict.get("gold_failures"):
        return "gold run failed: " + ", ".join(verdict["gold_failures"][:3])
    if verdict.get("f2p_passing_without_fix"):
        return "FAIL_TO_PASS passing without the fix: " + ", ".join(verdict["f2p_passing_without_fix"][:3])
    return verdict.get("verdict", "")

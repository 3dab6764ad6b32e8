"""`swe-srl sandbox`: the Docker images and containers the project owns: build | ls | prune."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Docker sandboxes: build images, list and prune what the project owns.

Everything created here carries the label swe-srl.managed=true; ls and prune
never look at, nor touch, anything else.
"""

BUILD_HELP = """Build sandbox images (cached by content hash: an unchanged image is not rebuilt).

Without --tasks: the base image of --python (Debian minbase via debootstrap,
needs root; about a minute the first time). With --tasks: one environment
image per task (spec from the task's inline `spec` or
sandboxes/specs/<owner>__<name>.yaml; repository from `repo_path` or the
mirrors folder), each with a wheelhouse for the target Python, the repository at
base_commit in /testbed and the install commands run. Bad tasks are skipped,
counted and reported; the exit code is non-zero only when nothing was built.

Examples:

  swe-srl sandbox build --base-only                       # the default 3.11 base

  swe-srl sandbox build --python 3.9 --base-only

  swe-srl sandbox build --tasks tasks.jsonl

  swe-srl sandbox build --repo ../myrepo --commit HEAD --spec sandboxes/specs/example__calc.yaml

  swe-srl sandbox build --tasks tasks.jsonl --base-image python:3.12-slim   # any image from a registry
"""

LS_HELP = """List the managed images and containers (label swe-srl.managed=true).

Examples:

  swe-srl sandbox ls

  swe-srl sandbox ls --json
"""

PRUNE_HELP = """Remove managed containers whose owner process is dead (every one with --all) and,
with --images, managed environment images (base images too with --all).
Containers and images without the label swe-srl.managed=true are never touched.

Examples:

  swe-srl sandbox prune                 # containers left by dead processes

  swe-srl sandbox prune --images        # and the environment images

  swe-srl sandbox prune --images --all  # everything the project owns, base images included
"""

PYTHONS = ("3.9", "3.11", "3.13")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(name="sandbox", help=HELP, no_args_is_help=True, rich_markup_mode="rich")
    app.add_typer(sub, name="sandbox")

    @sub.command("build", help=BUILD_HELP)
    def build_cmd(
        python: str = typer.Option("3.11", "--python", help="Python of the base image: 3.9 | 3.11 | 3.13."),
        base_only: bool = typer.Option(False, "--base-only", help="Only make sure the base image exists."),
        base_image: Optional[str] = typer.Option(None, "--base-image", metavar="IMAGE",
                                                 help="Use IMAGE (e.g. python:3.12-slim) instead of the Debian base."),
        tasks: Optional[Path] = typer.Option(None, "--tasks", metavar="TASKS.jsonl",
                                             help="Build the environment image of every task."),
        repo: Optional[Path] = typer.Option(None, "--repo", help="Build one environment image of this git repository."),
        commit: str = typer.Option("HEAD", "--commit", help="With --repo: the base commit."),
        spec_file: Optional[Path] = typer.Option(None, "--spec", help="With --repo: the environment spec (YAML)."),
        repos_dir: Optional[Path] = typer.Option(None, "--repos-dir", help="Folder of repository mirrors for --tasks."),
        force: bool = typer.Option(False, "--force", help="Rebuild even when a cached image matches."),
    ) -> None:
        from swe_srl.cli.common import console, summary
        from swe_srl.errors import SweSrlError

        if python not in PYTHONS and not base_image:
            raise SweSrlError(f"--python {python}: choose one of {', '.join(PYTHONS)} (or give --base-image)")
        log = _logger(console)
        if base_only or (tasks is None and repo is None):
            tag = _build_base(python, base_image, force, log)
            summary("sandbox build", [("base image", tag)])
            return
        if repo is not None:
            _build_one_repo(repo, commit, spec_file, python, base_image, force, log)
            return
        assert tasks is not None
        _build_tasks(tasks, repos_dir, python, base_image, force, log)

    @sub.command("ls", help=LS_HELP)
    def ls_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
        from rich.console import Console
        from rich.table import Table

        from swe_srl.io import dumps
        from swe_srl.sandbox.images import docker_client
        from swe_srl.sandbox.reaper import MANAGED_FILTER, managed_containers
        from swe_srl.sandbox.spec import LABEL_KIND, LABEL_OWNER, LABEL_PYTHON, LABEL_REPO, LABEL_RUN, owner_alive

        client = docker_client()
        images = []
        for im in client.images.list(filters=MANAGED_FILTER):
            lb = im.labels or {}
            for tag in im.tags or [f"<untagged {im.short_id.split(':')[-1]}>"]:  # one row per tag
                images.append({"tag": tag, "id": im.short_id, "kind": lb.get(LABEL_KIND, "?"),
                               "python": lb.get(LABEL_PYTHON, ""), "repo": lb.get(LABEL_REPO, ""),
                               "size_mb": round((im.attrs.get("Size") or 0) / 1e6),
                               "created": (im.attrs.get("Created") or "")[:19]})
        containers = []
        for c in managed_containers(client):
            lb = c.labels
            alive = owner_alive(lb.get(LABEL_OWNER, ""))
            containers.append({"id": c.id[:12], "image": c.image, "status": c.status, "kind": lb.get(LABEL_KIND, "?"),
                               "run": lb.get(LABEL_RUN, ""), "owner": lb.get(LABEL_OWNER, ""),
                               "owner_alive": {True: "yes", False: "no (orphan)", None: "other host"}[alive]})
        if as_json:
            typer.echo(dumps({"images": images, "containers": containers}, indent=True))
            return
        import sys

        out = Console(width=None if sys.stdout.isatty() else 160)
        t = Table(title=f"managed images ({len(images)})", title_justify="left")
        for col in ("tag", "kind", "python", "repo", "size_mb", "created"):
            t.add_column(col, overflow="fold")
        for im in sorted(images, key=lambda x: (x["kind"], x["tag"])):
            t.add_row(*(str(im[c]) for c in ("tag", "kind", "python", "repo", "size_mb", "created")))
        out.print(t)
        t = Table(title=f"managed containers ({len(containers)})", title_justify="left")
        for col in ("id", "image", "status", "kind", "run", "owner", "owner_alive"):
            t.add_column(col, overflow="fold")
        for c in containers:
            t.add_row(*(str(c[k]) for k in ("id", "image", "status", "kind", "run", "owner", "owner_alive")))
        out.print(t)

    @sub.command("prune", help=PRUNE_HELP)
    def prune_cmd(
        images: bool = typer.Option(False, "--images", help="Also remove managed environment images."),
        all_: bool = typer.Option(False, "--all", help="Every managed container (even of live processes); "
                                                       "with --images, base images too."),
    ) -> None:
        from swe_srl.cli.common import summary
        from swe_srl.sandbox.reaper import prune

        report = prune(images=images, all=all_)
        summary("sandbox prune", [
            ("containers removed", len(report.containers)),
            ("containers kept (owner alive)", report.kept_containers),
            ("images removed", len(report.images)),
            ("space reclaimed", f"{report.space_reclaimed / 1e6:.0f} MB"),
        ])


def _logger(console):  # type: ignore[no-untyped-def]
    def log(msg: str) -> None:
        console.print(f"[dim]{msg}[/]", highlight=False, soft_wrap=True)

    return log


def _build_base(python: str, base_image: Optional[str], force: bool, log) -> str:  # type: ignore[no-untyped-def]
    from swe_srl.sandbox.images import ensure_base_image, resolve_base_image
    from swe_srl.sandbox.spec import EnvSpec

    if base_image:
        return resolve_base_image(EnvSpec(python=python, base_image=base_image), log=log)
    return ensure_base_image(python, force=force, log=log)


def _build_one_repo(repo: Path, commit: str, spec_file: Optional[Path], python: str, base_image: Optional[str],
                    force: bool, log) -> None:  # type: ignore[no-untyped-def]
    import time

    from swe_srl.cli.common import summary
    from swe_srl.sandbox.images import build_env_image
    from swe_srl.sandbox.spec import EnvSpec

    spec = EnvSpec.from_yaml(spec_file) if spec_file else EnvSpec(python=python)
    if base_image:
        spec = spec.model_copy(update={"base_image": base_image})
    t0 = time.monotonic()
    tag = build_env_image(spec, repo, commit, force=force, log=log)
    summary("sandbox build", [("image", tag), ("seconds", f"{time.monotonic() - t0:.1f}")])
    typer.echo(tag)


def _build_tasks(tasks_path: Path, repos_dir: Optional[Path], python: str, base_image: Optional[str], force: bool,
                 log) -> None:  # type: ignore[no-untyped-def]
    import time

    from swe_srl.cli.common import console, progress, summary
    from swe_srl.errors import SweSrlError
    from swe_srl.tasks import load_tasks
    from swe_srl.tasks.environment import task_environment

    tasks = load_tasks(tasks_path)
    built: dict[str, str] = {}
    failed: list[tuple[str, str]] = []
    t0 = time.monotonic()
    with progress() as bar:
        job = bar.add_task("build", total=len(tasks), status="")
        for task in tasks:
            iid = str(task.get("instance_id", "?"))
            bar.update(job, status=iid)
            try:
                built[iid] = task_environment(task, repos_dir=repos_dir, base_image=base_image, force=force,
                                              log=log).image
            except SweSrlError as e:
                failed.append((iid, str(e).splitlines()[0]))
                console.print(f"[yellow]skipped[/] {iid}: {str(e).splitlines()[0]}", highlight=False)
            bar.advance(job)
    rows = [("tasks", len(tasks)), ("images", len(set(built.values()))), ("skipped", len(failed)),
            ("seconds", f"{time.monotonic() - t0:.1f}")]
    summary("sandbox build", rows)
    for iid, tag in built.items():
        typer.echo(f"{iid}\t{tag}")
    if tasks and not built:
        raise SweSrlError(f"{tasks_path}: no image could be built ({len(failed)} tasks skipped)")

"""A task's environment, decided in one place: its route, its spec, its repository and the
image built from them.

:func:`environment_for` picks the route of a task or a published SWE-bench row, in order:

1. ``spec``: the task's inline ``spec`` over ``sandboxes/specs/<owner>__<name>.yaml``
   (:meth:`~swe_srl.sandbox.spec.EnvSpec.for_task`);
2. ``image``: the row's official ``image``, when present locally or pullable (the harness
   runs it with the row's ``eval_script``: :mod:`swe_srl.harness.official`);
3. ``derived``: a spec derived from SWE-bench's tables (:func:`swe_srl.tasks.swebench.derive_spec`);
4. otherwise a :class:`SweSrlError` naming why (never a silent skip).

:func:`task_environment` builds the environment image of the spec routes: the spec, the
repository (:func:`~swe_srl.tasks.loading.resolve_repo_path`) and the image
(:func:`~swe_srl.sandbox.images.build_env_image`, tagged with :func:`image_name`). It lives
in the tasks layer, above the sandboxes (which know nothing of tasks) and below the harness,
the agent and the CLI, which call it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from swe_srl.errors import SweSrlError
from swe_srl.sandbox.images import build_env_image
from swe_srl.sandbox.spec import EnvSpec, repo_slug, sandboxes_dir
from swe_srl.tasks.loading import resolve_repo_path
from swe_srl.tasks.swebench import (
    ROUTE_DERIVED, ROUTE_IMAGE, ROUTE_NONE, ROUTE_SPEC, TABLES_RELEASE, CannotDerive, derive_spec, load_tables,
)


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class TaskEnvironment:
    spec: EnvSpec
    repo_path: Path
    image: str


def image_name(task: dict[str, Any]) -> str:
    """The name part of a task's image tag: the repository's name (``owner/name`` -> ``name``).

    >>> image_name({"repo": "acme/calc", "instance_id": "acme__calc-1"})
    'calc'
    """
    return str(task.get("repo") or task.get("instance_id") or "repo").split("/")[-1]


def task_environment(task: dict[str, Any], *, specs_dir: str | Path | None = None,
                     repos_dir: str | Path | None = None, base_image: str | None = None, force: bool = False,
                     log: Callable[[str], None] = _quiet) -> TaskEnvironment:
    """Build (or reuse) the task's environment image; ``base_image`` overrides the spec's."""
    env = environment_for(task, Path(specs_dir) if specs_dir is not None else None)  # spec or derived
    spec = env.spec
    assert spec is not None  # no image route without an image check
    if base_image:
        spec = spec.model_copy(update={"base_image": base_image})
    repo_path = Path(resolve_repo_path(task, repos_dir))
    image = build_env_image(spec, repo_path, task["base_commit"], name=image_name(task), force=force, log=log)
    return TaskEnvironment(spec, repo_path, image)


@dataclass
class Environment:
    """Where one row's tests run."""

    route: str
    """spec | image | derived."""
    spec: EnvSpec | None = None
    image: str | None = None
    log_parser: str = "pytest"
    notes: list[str] = field(default_factory=list)

    @property
    def needs_repository(self) -> bool:
        return self.route != ROUTE_IMAGE


def has_own_spec(task: dict[str, Any], specs_dir: Path | None = None) -> bool:
    """An inline ``spec`` or a ``sandboxes/specs/<owner>__<name>.yaml`` for the task's repository."""
    if task.get("spec") is not None:
        return True
    repo = task.get("repo") or ""
    base = Path(specs_dir) if specs_dir is not None else sandboxes_dir() / "specs"
    return bool(repo) and (base / f"{repo_slug(repo)}.yaml").is_file()


ImageCheck = Callable[[str], bool]


def environment_for(task: dict[str, Any], specs_dir: Path | None = None, *,
                    image_available: ImageCheck | None = None) -> Environment:
    """The environment of one row (routes in the module's order); SweSrlError naming why when none.

    ``image_available(name)`` says whether an official image can be used (present or pulled);
    None skips the image route (no Docker needed)."""
    iid = task.get("instance_id", "?")
    if has_own_spec(task, specs_dir):
        spec = EnvSpec.for_task(task, specs_dir)
        return Environment(ROUTE_SPEC, spec=spec, log_parser=spec.log_parser)
    image = task.get("image")
    notes: list[str] = []
    if image and image_available is not None:
        if image_available(str(image)):
            if not task.get("eval_script"):
                raise SweSrlError(f"task {iid}: image {image} but no eval_script to run in it")
            parser = task.get("log_parser") or task.get("repo") or "pytest"  # the harness knows each repo's parser
            return Environment(ROUTE_IMAGE, image=str(image), log_parser=str(parser))
        notes.append(f"image {image} is not present and cannot be pulled")
    try:
        derived = derive_spec(task)
    except CannotDerive as e:
        base = Path(specs_dir) if specs_dir is not None else sandboxes_dir() / "specs"
        own = base / f"{repo_slug(task.get('repo') or '') or '<owner>__<name>'}.yaml"
        why = f", {'; '.join(notes)}" if notes else ""
        raise SweSrlError(f"task {iid}: no environment spec (no inline `spec`, no {own}{why}) and none can be "
                          f"derived from SWE-bench's tables: {e}") from None
    spec = EnvSpec.from_dict(derived, f"task {iid} derived spec")
    return Environment(ROUTE_DERIVED, spec=spec, log_parser=spec.log_parser, notes=notes)


def image_checker(pull: bool | None) -> ImageCheck:
    """``image_available`` for :func:`environment_for`: present locally, else pulled when ``pull``
    (None: try to pull, and after the first failure stop trying in this process)."""
    from swe_srl.sandbox.images import image_present_or_pulled

    state = {"registry_failed": False}
    seen: dict[str, bool] = {}

    def check(name: str) -> bool:
        if name not in seen:
            may_pull = bool(pull) or (pull is None and not state["registry_failed"])
            ok, pulled_failed = image_present_or_pulled(name, pull=may_pull)
            if pulled_failed and pull is None:
                state["registry_failed"] = True
            seen[name] = ok
        return seen[name]

    return check


# --------------------------------------------------------------------------- `tasks specs`
def specs_report(tasks: Iterable[dict[str, Any]], specs_dir: Path | None = None, *,
                 image_available: ImageCheck | None = None) -> dict[str, Any]:
    """Per row: its route (spec | image | derived | none), the derived spec or why none; per
    (repo, version): counts and the reasons. Rows with an official image also get their derived
    spec (or the reason there is none), so a user sees what works without the image."""
    rows: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    tables = load_tables()
    for task in tasks:
        iid = task["instance_id"]
        entry: dict[str, Any] = {"instance_id": iid, "repo": task.get("repo"), "version": str(task.get("version") or ""),
                                 "image": task.get("image") or None}
        try:
            entry["derived_spec"] = derive_spec(task, tables)
        except CannotDerive as e:
            entry["derived_spec"] = None
            entry["cannot_derive"] = str(e)
        try:
            env = environment_for(task, specs_dir, image_available=image_available)
            entry["route"] = env.route
            if env.route == ROUTE_SPEC and env.spec is not None:
                entry["spec"] = env.spec.to_dict()
            entry["notes"] = env.notes
        except SweSrlError as e:
            entry["route"] = ROUTE_NONE
            entry["reason"] = str(e)
        rows.append(entry)
        key = (entry["repo"] or "", entry["version"])
        g = groups.setdefault(key, {"repo": key[0], "version": key[1], "instances": 0, "derived": 0,
                                    "needs_image": 0, "cannot_derive": {}, "routes": {}})
        g["instances"] += 1
        g["routes"][entry["route"]] = g["routes"].get(entry["route"], 0) + 1
        if entry["derived_spec"] is not None:
            g["derived"] += 1
        else:
            if entry["image"]:
                g["needs_image"] += 1
            reason = entry["cannot_derive"]
            g["cannot_derive"][reason] = g["cannot_derive"].get(reason, 0) + 1
        if entry["derived_spec"] is not None:
            g.setdefault("python", entry["derived_spec"]["python"])
    summary = sorted(groups.values(), key=lambda g: (g["repo"], _version_key(g["version"])))
    return {"tables": {"release": TABLES_RELEASE, "source": tables.source, "sha256": tables.sha256},
            "total": len(rows), "by_route": _count(r["route"] for r in rows),
            "derived": sum(1 for r in rows if r["derived_spec"] is not None),
            "summary": summary, "instances": rows}


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _version_key(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-]", v))

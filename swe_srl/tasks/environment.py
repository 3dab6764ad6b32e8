"""A task's environment, decided in one place: its spec, its repository and the
image built from them.

:func:`task_environment` is the route from a SWE-bench-style task (with its
optional inline ``spec`` and ``repo_path``) to a runnable environment: the
spec (:meth:`~swe_srl.sandbox.spec.EnvSpec.for_task`: the inline spec over
``sandboxes/specs/<owner>__<name>.yaml``), the repository
(:func:`~swe_srl.tasks.loading.resolve_repo_path`) and the image
(:func:`~swe_srl.sandbox.images.build_env_image`, tagged with
:func:`image_name`). It lives in the tasks layer, above the sandboxes (which
know nothing of tasks) and below the harness, the agent and the CLI, which
call it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from swe_srl.sandbox.images import build_env_image
from swe_srl.sandbox.spec import EnvSpec
from swe_srl.tasks.loading import resolve_repo_path


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
    spec = EnvSpec.for_task(task, Path(specs_dir) if specs_dir is not None else None)
    if base_image:
        spec = dataclasses.replace(spec, base_image=base_image)
    repo_path = Path(resolve_repo_path(task, repos_dir))
    image = build_env_image(spec, repo_path, task["base_commit"], name=image_name(task), force=force, log=log)
    return TaskEnvironment(spec, repo_path, image)

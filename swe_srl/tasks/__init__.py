"""Task instances: loading (SWE-bench schema), local repositories, a task's
environment, bug synthesis.

``load_tasks`` and ``resolve_repo_path`` are cheap; synthesis
(``swe_srl.tasks.synthesize``) needs the Docker sandboxes and is imported on use.
Validation grades tasks with the harness, so it sits above it:
:mod:`swe_srl.harness.validate`.
"""

from __future__ import annotations

from swe_srl.tasks.loading import load_predictions, load_tasks, mirror_name, normalize_task, resolve_repo_path

__all__ = ["load_tasks", "load_predictions", "normalize_task", "resolve_repo_path", "mirror_name"]

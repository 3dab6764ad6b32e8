"""Task instances: loading (SWE-bench schema), local repositories, bug synthesis
and validation.

``load_tasks`` and ``resolve_repo_path`` are cheap; synthesis
(``swe_srl.tasks.synthesize``) and validation (``swe_srl.tasks.validate``)
need the Docker sandboxes and are imported on use.
"""

from __future__ import annotations

from swe_srl.tasks.loading import load_predictions, load_tasks, mirror_name, normalize_task, resolve_repo_path

__all__ = ["load_tasks", "load_predictions", "normalize_task", "resolve_repo_path", "mirror_name"]

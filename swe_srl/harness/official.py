"""The official-image route: a SWE-bench row that names its per-instance ``image`` and carries
its ``eval_script`` is graded the way ``swebench.harness.run_evaluation`` grades it.

The official layout (``sweb.eval.*`` images): the repository at the base commit in
``/testbed``, a conda environment ``testbed`` under ``/opt/miniconda3``, commands run as root
in ``/testbed``. The prediction is applied with the harness's apply chain (the same commands
SWE-bench tries, in the same order, from a pristine tree each time), then the row's
``eval_script`` runs unchanged (``bash``, output captured, the test output between its
markers parsed with the row's ``log_parser``). Differences from the official run are the
limits only: ``--network none``, memory and CPU quotas, a process cap, every capability
dropped, and the eval timeout.
"""

from __future__ import annotations

from typing import Any

from swe_srl.errors import SweSrlError
from swe_srl.sandbox.spec import SandboxConfig

OFFICIAL_USER = "root"
OFFICIAL_WORKDIR = "/testbed"


def official_eval_script(task: dict[str, Any]) -> str:
    """The row's own eval script, as published."""
    script = task.get("eval_script")
    if not isinstance(script, str) or not script.strip():
        raise SweSrlError(f"task {task.get('instance_id')}: the image route needs the row's eval_script")
    return script if script.endswith("\n") else script + "\n"


def official_sandbox_config(*, timeout: float, cpus: float, memory: str) -> SandboxConfig:
    """Our limits around the official layout (root in /testbed, as SWE-bench runs it)."""
    return SandboxConfig(network=False, command_timeout=timeout, cpus=cpus, memory=memory,
                         user=OFFICIAL_USER, workdir=OFFICIAL_WORKDIR)

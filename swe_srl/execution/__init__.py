"""One parallel task runner for every per-task workload (``swe-srl eval``,
``swe-srl run``, ``swe-srl tasks validate``, ``swe-srl tasks synthesize``), with
one interrupt policy.

A workload is a :class:`Job`: ``setup()`` once per process or node (load a
policy), ``run(item, ctx)`` once per task, returning a picklable result. A
backend runs a job over items and yields an :class:`Outcome` per item as it
finishes; the caller (the driver) writes the outputs, so what a run writes does
not depend on where its tasks ran.

==========  ===============================================================
``local``   threads in this process, ``workers`` tasks at a time
``ray``     one actor per node of a Ray cluster that advertises ``docker``;
            per-node concurrency from the node's CPU and memory
==========  ===============================================================

Interrupt policy (both backends): on SIGINT/SIGTERM no task is handed out any
more and none is retried, every live sandbox of the run is removed (on every
node), and the driver's loop ends at once with KeyboardInterrupt; whatever the
driver wrote before stays, and a re-run resumes.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Job": "swe_srl.execution.base",
    "TaskContext": "swe_srl.execution.base",
    "Outcome": "swe_srl.execution.base",
    "Backend": "swe_srl.execution.base",
    "LocalBackend": "swe_srl.execution.base",
    "interruptible": "swe_srl.execution.base",
    "make_backend": "swe_srl.execution.base",
    "BACKENDS": "swe_srl.execution.base",
    "RayBackend": "swe_srl.execution.ray_backend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swe_srl.execution' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

"""A job without Docker, for tests and benchmarks of the runner's backends: each task
sleeps, then reports where it ran, which setup it used (setup runs once per process
or node actor, so two tasks on one node report the same ``setup_id``) and how many
tasks of this process were running at once while it ran (``running``)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from swe_srl.execution.base import Job, TaskContext

_running = {"now": 0}
_running_lock = threading.Lock()


@dataclass
class SleepJob(Job):
    seconds: float = 0.1
    fail: tuple[Any, ...] = ()
    """Items whose task raises ``ValueError`` (an error outcome, not a lost node)."""
    crash: tuple[Any, ...] = ()
    """Items whose task kills its own process (as a dead node or an out-of-memory kill would)."""
    crash_once_dir: str | None = None
    """With it, a ``crash`` item kills its process only the first time (a marker file per item here)."""
    name = "sleep"

    def setup(self) -> str:
        return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, item: Any, ctx: TaskContext) -> dict[str, Any]:
        if item in self.fail:
            raise ValueError(f"task {item!r} fails")
        if item in self.crash:
            marker = os.path.join(self.crash_once_dir, f"crashed-{item}") if self.crash_once_dir else None
            if marker is None or not os.path.exists(marker):
                if marker is not None:
                    open(marker, "w").close()
                os._exit(1)
        with _running_lock:
            _running["now"] += 1
            running = _running["now"]
        try:
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline and not ctx.stopping:
                time.sleep(min(0.05, self.seconds))
                with _running_lock:
                    running = max(running, _running["now"])
        finally:
            with _running_lock:
                _running["now"] -= 1
        return {"item": item, "pid": os.getpid(), "setup_id": ctx.state, "node": ctx.node, "stopped": ctx.stopping,
                "running": running}


LOADS_ENV = "SWE_SRL_COUNT_POLICY_LOADS"


def count_policy_loads() -> None:
    """A Ray ``worker_process_setup_hook`` (``"swe_srl.execution.fakes.count_policy_loads"``) for
    tests: from then on every :func:`swe_srl.policy.load_policy` call in this process appends
    ``PID SPEC`` to the file named by ``$SWE_SRL_COUNT_POLICY_LOADS``, so a test counts the
    loads of every node of a cluster."""
    import swe_srl.policy as policy

    path = os.environ.get(LOADS_ENV)
    original = policy.load_policy
    if not path or getattr(original, "counted", False):
        return

    def load_policy(spec: str, **opts: Any) -> Any:
        with open(path, "a") as fh:
            fh.write(f"{os.getpid()} {spec}\n")
        return original(spec, **opts)

    load_policy.counted = True  # type: ignore[attr-defined]
    policy.load_policy = load_policy

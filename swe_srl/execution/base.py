"""The task runner's parts: :class:`Job`, :class:`Outcome`, the interrupt policy
(:func:`interruptible`) and the local backend (threads in this process).

Results travel back to the driver, which writes the outputs: a job's ``run``
returns data (a verdict and log texts, a trajectory and a prediction) and the
caller of :meth:`Backend.imap` turns each :class:`Outcome` into files. An
exception raised by ``run`` is that task's outcome (``error``), never the end
of the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Generic, Iterable, Iterator, Protocol, TypeVar

from swe_srl.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

BACKENDS = ("local", "ray")


@dataclass
class TaskContext:
    """What a running task may look at: the run's stop flag, where it runs, and the
    state its job's :meth:`Job.setup` returned on this node (a loaded policy ...)."""

    stop: threading.Event
    node: str = "local"
    state: Any = None

    @property
    def stopping(self) -> bool:
        """True once the run was interrupted: start nothing new, retry nothing."""
        return self.stop.is_set()


class Job(Generic[T, R]):
    """A per-task workload. Instances are shipped to Ray nodes by pickling: keep
    them to plain data (configs, paths), and load heavy things in :meth:`setup`."""

    name = "job"

    def setup(self) -> Any:
        """Once per process (local) or per node actor (ray), before any task; the value
        is ``ctx.state``."""
        return None

    def teardown(self, state: Any) -> None:
        """After the last task of this process or node actor."""

    def run(self, item: T, ctx: TaskContext) -> R:
        raise NotImplementedError

    def label(self, item: T) -> str:
        """A short name for the item in errors and progress (its instance id)."""
        if isinstance(item, dict) and "instance_id" in item:
            return str(item["instance_id"])
        if isinstance(item, tuple) and item and isinstance(item[0], dict):
            return str(item[0].get("instance_id", "?"))
        return repr(item)[:60]


@dataclass
class Outcome(Generic[T, R]):
    """One item's result, in completion order."""

    index: int
    item: T
    value: R | None = None
    error: str | None = None
    """``Type: message`` when ``run`` raised (or the task lost its node too often)."""
    exception: BaseException | None = None
    """The exception itself (local backend only; remote ones arrive as text)."""
    traceback: str | None = None
    node: str = "local"
    attempts: int = 1
    retries: list[dict[str, str]] = field(default_factory=list)
    """One entry per node lost under this task (``node``, ``error``); the task ran again elsewhere."""

    @property
    def ok(self) -> bool:
        return self.error is None


class Backend(Protocol):
    name: str
    remote: bool
    """True when tasks may run on other machines (their files come back through results)."""

    def imap(self, job: Job[T, R], items: Iterable[T]) -> Iterator[Outcome[T, R]]: ...

    def describe(self) -> dict[str, Any]: ...

    def session(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the backend's resources (a cluster connection) over several ``imap`` calls."""
        ...


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


def run_guarded(job: Job[T, R], item: T, ctx: TaskContext) -> tuple[R | None, str | None, str | None]:
    """``(value, error, traceback)`` of one task: a bug in one task is that task's outcome."""
    try:
        return job.run(item, ctx), None, None
    except Exception as e:
        return None, _error_text(e), traceback.format_exc()[-4000:]


@contextlib.contextmanager
def interruptible(stop: threading.Event) -> Iterator[None]:
    """The interrupt policy. While the body runs, SIGINT/SIGTERM first set ``stop`` (tasks
    then start no sandbox and retry nothing), then go to the sandbox reaper's handler, which
    removes this process's live sandboxes at once (so tasks blocked in a long command
    return) and re-raises the signal's default (KeyboardInterrupt for SIGINT) in the driver.
    Handlers are installed from the main thread only; elsewhere the body just runs."""
    from swe_srl.sandbox import reaper

    reaper.install_handlers()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        prev = previous.get(signum)
        if callable(prev):
            prev(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, prev in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, prev)


class LocalBackend:
    """Threads in this process, at most ``workers`` tasks in flight (submission is lazy)."""

    name = "local"
    remote = False

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "workers": self.workers}

    def session(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext(self)

    def imap(self, job: Job[T, R], items: Iterable[T]) -> Iterator[Outcome[T, R]]:
        stop = threading.Event()
        it = iter(enumerate(items))
        with interruptible(stop):
            state = job.setup()
            ctx = TaskContext(stop, "local", state)
            ex = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=job.name)
            pending: dict[Future, tuple[int, T]] = {}

            def submit() -> bool:
                if stop.is_set():
                    return False
                try:
                    idx, item = next(it)
                except StopIteration:
                    return False
                pending[ex.submit(run_guarded, job, item, ctx)] = (idx, item)
                return True

            try:
                for _ in range(self.workers):
                    if not submit():
                        break
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        idx, item = pending.pop(fut)
                        exc = fut.exception()
                        if exc is not None:  # not from run (run_guarded catches Exception): re-raised
                            raise exc
                        value, error, tb = fut.result()
                        yield Outcome(idx, item, value, error, None, tb)
                        submit()
            except BaseException:
                # interrupted (or the consumer stopped): nothing new starts, queued tasks are dropped;
                # tasks in flight see ``stop`` and their sandboxes are gone already
                stop.set()
                for fut in pending:
                    fut.cancel()
                ex.shutdown(wait=False, cancel_futures=True)
                raise
            finally:
                if not pending:
                    ex.shutdown(wait=True)
                    job.teardown(state)


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.I)


def parse_memory(text: str | int | float) -> int:
    """``"4g"`` -> bytes (Docker's units: b, k, m, g, t; powers of 1024)."""
    if isinstance(text, (int, float)):
        return int(text)
    m = _MEMORY.match(str(text))
    if not m:
        raise ConfigError(f"memory {text!r}: expected a number with an optional unit (k, m, g, t), e.g. 4g")
    return int(float(m.group(1)) * 1024 ** "bkmgt".index((m.group(2) or "b").lower()))


def make_backend(name: str = "local", *, workers: int = 1, address: str | None = None,
                 task_cpus: float = 1.0, task_memory: str | int = "2g") -> Backend:
    """The backend named ``name``: ``local`` (``workers`` threads) or ``ray`` (``address``:
    a cluster's address, ``auto``, or None for a running cluster or else a local one)."""
    if name == "local":
        if address:
            raise ConfigError("--ray-address needs --backend ray")
        return LocalBackend(workers)
    if name == "ray":
        from swe_srl.execution.ray_backend import RayBackend

        return RayBackend(address, task_cpus=task_cpus, task_memory=parse_memory(task_memory))
    raise ConfigError(f"--backend {name!r}: valid backends: {', '.join(BACKENDS)}")


"""The Ray backend of the task runner: one task = one unit of work, run on a node
of a Ray cluster that advertises the ``docker`` resource, with that node's own
Docker engine (images are built and reused there by the same content hash as on
one machine; a per-node file lock makes one build per image per node at a time).

Design:

- one actor per Docker node (pinned with a node-affinity strategy), started with
  the job: it removes what dead drivers left on the node (the reaper), runs the
  job's ``setup`` once (so an in-process policy loads once per node, not once per
  task) and then runs tasks in threads, ``slots`` at a time;
- ``slots`` per node come from the node's resources: ``min(CPU / task_cpus,
  memory / task_memory)`` (at least 1), so nodes of different sizes run different
  numbers of tasks at once; :meth:`RayBackend.describe` reports per node its
  resources, slots, tasks run and ``peak`` (the most it ran at once);
- the driver keeps the queue and hands a task to a node with a free slot, so
  Ctrl-C cancels queued tasks simply by not handing them out; items are pulled
  from the caller's iterable only then (synthesis decides what to try next from
  the results so far); the driver receives each result and writes the outputs
  itself;
- a task whose node (or actor) dies goes back to the front of the queue and runs
  on another node, at most ``max_attempts`` times in all; each loss is recorded
  in the outcome's ``retries``; past that, the task ends as an error and the run
  goes on;
- on interrupt every actor is told to stop (no new sandbox, no retry) and to
  remove its live sandboxes, then killed; the containers of an actor that dies
  without cleaning up (a dead driver, a dead node) stop by themselves when their
  owner's session closes, and the next reaper pass on that node removes them.

Ray is imported only when this backend is used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from swe_srl.errors import SweSrlError
from swe_srl.execution.base import Job, Outcome, TaskContext, interruptible, run_guarded

RESOURCE = "docker"
NODE_WAIT_S = 60.0
"""How long a run whose nodes all died waits for a Docker node to join before the rest of its tasks fail."""
POLL_S = 0.5
REFRESH_S = 10.0
MAX_ACTOR_STARTS = 3
"""Node actors started per node and run: a node whose actor keeps dying (killed for memory,
a setup that crashes) is given up after this many."""


class NodeWorker:
    """Runs tasks of one job on one node (a Ray actor; see :func:`_actor_class`)."""

    def __init__(self, job: Job, node: str):
        from swe_srl.sandbox import reaper

        self.node = node
        self.job = job
        self.stop = threading.Event()
        self.reaped = len(reaper.reap_orphans())  # what dead drivers left on this node
        self.state = job.setup()

    def ready(self) -> dict[str, Any]:
        import socket

        return {"pid": os.getpid(), "host": socket.gethostname(), "reaped": self.reaped}

    def run(self, item: Any) -> tuple[Any, str | None, str | None]:
        if self.stop.is_set():
            return None, "interrupted: the run was stopped before this task started", None
        return run_guarded(self.job, item, TaskContext(self.stop, self.node, self.state))

    def abort(self) -> int:
        """Stop: nothing new starts, and this node's live sandboxes of the run are removed."""
        from swe_srl.sandbox import reaper

        self.stop.set()
        return reaper.close_all()

    def finish(self) -> None:
        self.job.teardown(self.state)


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        import ray

        cls = type("NodeWorker", (NodeWorker,), {
            "ready": ray.method(concurrency_group="control")(NodeWorker.ready),
            "abort": ray.method(concurrency_group="control")(NodeWorker.abort),
            "finish": ray.method(concurrency_group="control")(NodeWorker.finish),
        })
        _ACTOR = ray.remote(num_cpus=0, max_restarts=0, concurrency_groups={"control": 2})(cls)
    return _ACTOR


@dataclass
class _Node:
    id: str
    label: str
    slots: int
    cpus: float = 0.0
    memory: int = 0
    """What the node advertises (``ray start --num-cpus``, ``--memory``; bytes)."""
    actor: Any = None
    ready_ref: Any = None
    up: bool = False
    busy: int = 0
    peak: int = 0
    """The most tasks this node ran at once (never above ``slots``)."""
    done: int = 0
    starts: int = 0


@dataclass
class _Pending:
    index: int
    item: Any
    attempts: int = 0
    retries: list[dict[str, str]] = field(default_factory=list)


class _Queue:
    """The tasks not handed out yet: tasks to run again first, then the items, pulled one at a
    time as a slot frees up (never ahead: an item iterator may decide what comes next from the
    results it has seen)."""

    def __init__(self, items: Iterable[Any]):
        self._items = iter(enumerate(items))
        self._again: deque[_Pending] = deque()
        self._next: _Pending | None = None
        self._ended = False

    def peek(self) -> _Pending | None:
        if self._next is None and not self._ended:
            try:
                self._next = _Pending(*next(self._items))
            except StopIteration:
                self._ended = True
        return self._next

    def left(self) -> bool:
        """False once no task is left to hand out (the items may end at the next pull)."""
        return bool(self._again) or self._next is not None or not self._ended

    def pull(self) -> _Pending | None:
        if self._again:
            return self._again.popleft()
        p, self._next = self.peek(), None
        return p

    def retry(self, p: _Pending) -> None:
        self._again.appendleft(p)


def _lost_errors() -> tuple[type[BaseException], ...]:
    from ray import exceptions as rex

    return (rex.RayActorError, rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError,
            rex.LocalRayletDiedError, rex.OutOfMemoryError)


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A ``HOST:PORT`` address must answer a TCP connect (Ray itself retries for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        raise SweSrlError(f"--ray-address {address}: nothing answers there ({e.strerror or e}); "
                          f"start the head with `ray start --head --port={port}`") from None


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}"


class RayBackend:
    """Tasks on the Docker nodes of a Ray cluster.

    ``address``: a cluster address (``HOST:PORT``, ``ray://...``) or ``auto``; None: the
    cluster this machine belongs to (``RAY_ADDRESS``, or one started with ``ray start``),
    else a local one started for the run (this machine, with the ``docker`` resource).
    ``slots_per_node`` overrides the per-node concurrency computed from the resources.
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, *, task_cpus: float = 1.0, task_memory: int = 2 << 30,
                 slots_per_node: int | None = None, max_attempts: int = 3, resource: str = RESOURCE):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise SweSrlError("--backend ray needs Ray: pip install 'ray[default]'") from None
        if max_attempts < 1:
            raise SweSrlError("max_attempts must be at least 1")
        self.address = address
        self.task_cpus = task_cpus
        self.task_memory = task_memory
        self.slots_per_node = slots_per_node
        self.max_attempts = max_attempts
        self.resource = resource
        self.nodes: dict[str, _Node] = {}
        self.node_errors: dict[str, str] = {}
        self.connected_to: str | None = None
        self._held = False

    @contextlib.contextmanager
    def session(self) -> Iterator["RayBackend"]:
        """One connection for several runs (``tasks validate``'s phases): a local cluster
        started for the run is started once."""
        connected_here = self._connect()
        self._held = True
        try:
            yield self
        finally:
            self._held = False
            if connected_here:
                import ray

                ray.shutdown()

    # ------------------------------------------------------------------ cluster
    def _connect(self) -> bool:
        """Connect the driver; True when this call did (and so must disconnect)."""
        import ray

        if ray.is_initialized():
            self.connected_to = self.connected_to or "current"
            return False
        kw = dict(logging_level=logging.WARNING, log_to_driver=False, include_dashboard=False)
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address and address != "auto":
            _check_reachable(address)
        try:
            if address:
                ray.init(address=address, **kw)
                self.connected_to = address
                return True
            try:
                ray.init(address="auto", **kw)
                self.connected_to = "auto"
                return True
            except ConnectionError:
                pass
            ray.init(resources={self.resource: 1}, **kw)  # this machine, for this run only
            self.connected_to = "local"
            return True
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise SweSrlError(f"cannot connect to the Ray cluster at {address or 'auto'}: "
                              f"{str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}") from None

    def _slots(self, resources: dict[str, float]) -> int:
        if self.slots_per_node:
            return self.slots_per_node
        by_cpu = resources.get("CPU", 1.0) / self.task_cpus if self.task_cpus > 0 else float("inf")
        by_mem = resources.get("memory", float("inf")) / self.task_memory if self.task_memory > 0 else float("inf")
        n = min(by_cpu, by_mem)
        return max(1, int(n)) if n != float("inf") else 1

    def _discover(self, job: Job) -> list[_Node]:
        """Start an actor on every live Docker node that has none (a new node, or one whose
        actor died while the node lives on), at most ``MAX_ACTOR_STARTS`` times per node."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        new = []
        for n in ray.nodes():
            nid = n.get("NodeID")
            if not n.get("Alive") or (n.get("Resources") or {}).get(self.resource, 0) <= 0:
                continue
            res = n.get("Resources") or {}
            node = self.nodes.get(nid) or _Node(nid, f"{n.get('NodeName') or n.get('NodeManagerAddress')}#{nid[:6]}",
                                                self._slots(res), res.get("CPU", 0.0), int(res.get("memory", 0)))
            if node.actor is not None or node.starts >= MAX_ACTOR_STARTS:
                continue
            node.starts += 1
            node.actor = _actor_class().options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False),
                max_concurrency=node.slots, name=None,
            ).remote(job, node.label)
            node.ready_ref = node.actor.ready.remote()
            self.nodes[nid] = node
            new.append(node)
        return new

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.connected_to or self.address or "auto",
                "task_request": {"cpus": self.task_cpus, "memory": self.task_memory},
                "nodes": {n.label: {"slots": n.slots, "tasks": n.done, "peak": n.peak, "cpus": n.cpus,
                                    "memory": n.memory} for n in self.nodes.values()},
                **({"node_errors": dict(self.node_errors)} if self.node_errors else {})}

    # ------------------------------------------------------------------ running
    def imap(self, job: Job, items: Iterable[Any]) -> Iterator[Outcome]:
        import ray

        queue = _Queue(items)
        if queue.peek() is None:
            return
        stop = threading.Event()
        connected_here = self._connect()
        self.nodes, self.node_errors = {}, {}
        lost = _lost_errors()
        inflight: dict[Any, tuple[_Pending, _Node, Any]] = {}
        try:
            with interruptible(stop):
                self._discover(job)
                if not self.nodes:
                    raise SweSrlError(f"no live node of the Ray cluster advertises the {self.resource!r} resource "
                                      f"(start nodes with: ray start ... --resources '{{\"{self.resource}\": 1}}')")
                last_refresh = no_node_since = time.monotonic()
                while (queue.left() and not stop.is_set()) or inflight:  # once stopped, queued tasks never start
                    for node in sorted(self.nodes.values(), key=lambda n: n.busy - n.slots):
                        while node.up and node.busy < node.slots and not stop.is_set() and (p := queue.pull()):
                            p.attempts += 1
                            inflight[node.actor.run.remote(p.item)] = (p, node, node.actor)
                            node.busy += 1
                            node.peak = max(node.peak, node.busy)
                    starting = {n.ready_ref: n for n in self.nodes.values() if n.ready_ref is not None}
                    waiting = [*inflight, *starting]
                    if waiting:
                        ready, _ = ray.wait(waiting, num_returns=1, timeout=POLL_S)
                    else:
                        ready = []
                        time.sleep(POLL_S)
                    for ref in ready:
                        if ref in starting:
                            self._started(starting[ref], lost)
                            continue
                        p, node, actor = inflight.pop(ref)
                        node.busy -= 1
                        try:
                            value, error, tb = ray.get(ref)
                        except lost as e:
                            self._lose(node, actor, e)
                            last_refresh = 0.0  # look for a node (or a new actor) at once
                            p.retries.append({"node": node.label, "error": _short(e)})
                            if p.attempts < self.max_attempts:
                                queue.retry(p)
                                continue
                            value, error, tb = None, (f"lost its node {p.attempts} times (last: {node.label}: "
                                                      f"{_short(e)})"), None
                        except ray.exceptions.RayError as e:  # e.g. a result that cannot be unpickled
                            value, error, tb = None, _short(e), None
                        node.done += 1
                        yield Outcome(p.index, p.item, value, error, None, tb, node.label, p.attempts,
                                      list(p.retries))
                    now = time.monotonic()
                    alive = [n for n in self.nodes.values() if n.actor is not None]
                    if alive:
                        no_node_since = now
                    if queue.left() and (now - last_refresh > REFRESH_S or not alive):
                        last_refresh = now
                        self._discover(job)
                    if queue.left() and not alive and not inflight and now - no_node_since > NODE_WAIT_S:
                        while p := queue.pull():  # no Docker node left: the rest ends as errors, reported
                            yield Outcome(p.index, p.item, None, f"no live node with the {self.resource!r} resource "
                                          f"for {NODE_WAIT_S:g} s", None, None, "-", p.attempts, list(p.retries))
        except BaseException:
            stop.set()
            self._abort()
            raise
        finally:
            self._shutdown(connected_here, graceful=not stop.is_set())

    def _started(self, node: _Node, lost: tuple[type[BaseException], ...]) -> None:
        import ray

        ref, node.ready_ref = node.ready_ref, None
        try:
            ray.get(ref)
            node.up = True
        except (*lost, ray.exceptions.RayError) as e:
            self.node_errors[node.label] = _short(getattr(e, "cause", None) or e)
            node.actor = None
            node.starts = MAX_ACTOR_STARTS  # a node where the job cannot start is not tried again
            if not any(n.up or n.ready_ref is not None for n in self.nodes.values()):
                raise SweSrlError(f"no Ray node could start the job (first: {node.label}: "
                                  f"{self.node_errors[node.label]})") from None

    def _lose(self, node: _Node, actor: Any, e: BaseException) -> None:
        """``actor`` (the one the lost task ran on) is gone: forget it, once."""
        import ray

        if node.actor is actor:
            self.node_errors[node.label] = f"lost ({node.starts}): {_short(e)}"
            try:
                ray.kill(node.actor, no_restart=True)
            except Exception:  # the node is gone: there is nothing left to kill
                logging.getLogger(__name__).debug("kill of a lost actor on %s failed", node.label, exc_info=True)
            node.actor, node.up = None, False

    def _abort(self) -> None:
        """Every node: stop handing out work, remove its live sandboxes (bounded wait)."""
        import ray

        refs = [n.actor.abort.remote() for n in self.nodes.values() if n.actor is not None]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=15)

    def _shutdown(self, disconnect: bool, graceful: bool) -> None:
        import ray

        actors = [n.actor for n in self.nodes.values() if n.actor is not None]
        if actors and ray.is_initialized():
            if graceful:  # let the job release what setup loaded (a vLLM engine ...)
                done = [a.finish.remote() for a in actors]
                ray.wait(done, num_returns=len(done), timeout=30)
            for a in actors:
                ray.kill(a, no_restart=True)
        for n in self.nodes.values():
            n.actor = None
        if disconnect and not self._held and ray.is_initialized():
            ray.shutdown()

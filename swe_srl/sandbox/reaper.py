"""Hygiene: no container outlives the process that started it.

- Live sandboxes are registered; ``atexit`` and handlers for SIGINT, SIGTERM
  and SIGHUP close them (the handlers then chain to whatever was installed
  before: a callable is called, the default action is re-raised).
- A process killed with SIGKILL cannot clean up: its agent notices the closed
  pipe and stops its container, and the next process that starts a sandbox
  removes every managed container whose owner (label ``swe-srl.owner`` =
  host:pid:start-time) is gone (:func:`reap_orphans`).
- :func:`prune` (``swe-srl sandbox prune``) removes managed containers and
  images, never anything without ``swe-srl.managed=true``.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from swe_srl.sandbox.spec import CONTAINER_KINDS, LABEL_KIND, LABEL_MANAGED, LABEL_OWNER, owner_alive

log = logging.getLogger(__name__)

_live: dict[str, Any] = {}
_live_lock = threading.RLock()  # re-entrant: a signal handler may interrupt a holder in the main thread
_atexit_installed = False
_signals_installed = False
_reaped = False
_reap_lock = threading.Lock()
_previous: dict[int, Any] = {}
MANAGED_FILTER = {"label": f"{LABEL_MANAGED}=true"}


@dataclass
class ManagedContainer:
    id: str
    image: str
    state: str
    status: str
    labels: dict[str, str]


def managed_containers(client: Any) -> list[ManagedContainer]:
    """Containers the project started (not merely containers of its images, which inherit the
    labels). One list call, no per-container inspect: containers may vanish meanwhile."""
    out = []
    for c in client.api.containers(all=True, filters=MANAGED_FILTER):
        labels = c.get("Labels") or {}
        if labels.get(LABEL_MANAGED) == "true" and labels.get(LABEL_KIND) in CONTAINER_KINDS \
                and labels.get(LABEL_OWNER):
            out.append(ManagedContainer(c["Id"], c.get("Image", "?"), c.get("State", "?"), c.get("Status", ""), labels))
    return out


def _remove(client: Any, container_id: str) -> bool:
    import docker

    try:
        client.api.remove_container(container_id, force=True)
        return True
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as e:
        if "already in progress" in str(e):
            return False
        raise

def register(sandbox: Any) -> None:
    with _live_lock:
        _live[sandbox.container_id] = (os.getpid(), sandbox)
    install_handlers()


def unregister(sandbox: Any) -> None:
    with _live_lock:
        _live.pop(sandbox.container_id, None)


def live_sandboxes() -> list[Any]:
    """This process's live sandboxes (a forked child does not own its parent's)."""
    me = os.getpid()
    with _live_lock:
        return [sb for pid, sb in _live.values() if pid == me]


def close_all() -> int:
    """Remove every live sandbox of this process (in parallel); returns how many."""
    sandboxes = live_sandboxes()
    if not sandboxes:
        return 0
    with ThreadPoolExecutor(max_workers=min(8, len(sandboxes))) as ex:
        list(ex.map(lambda sb: sb.abort(), sandboxes))
    return len(sandboxes)


def _handler(signum: int, frame: Any) -> None:
    close_all()
    prev = _previous.get(signum, signal.SIG_DFL)
    if callable(prev):
        prev(signum, frame)
    elif prev == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN: the signal was ignored before us; keep ignoring it.


def install_handlers() -> None:
    """Install the atexit hook and (from the main thread only) the signal handlers, once each.

    Called when a sandbox starts and by the task runner (:mod:`swe_srl.execution`) in the
    caller's thread, so handlers are in place even when every sandbox starts in a worker thread."""
    global _atexit_installed, _signals_installed
    if not _atexit_installed:
        _atexit_installed = True
        atexit.register(close_all)
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    _signals_installed = True
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)
        if prev is _handler:
            continue
        _previous[sig] = prev
        signal.signal(sig, _handler)


def reap_orphans(client: Any | None = None) -> list[str]:
    """Remove managed containers whose owner process (on this host) is dead. Returns their ids."""
    from swe_srl.sandbox.images import docker_client

    client = client or docker_client()
    removed = []
    for c in managed_containers(client):
        if owner_alive(c.labels.get(LABEL_OWNER, "")) is False and _remove(client, c.id):
            removed.append(c.id)
    return removed


def reap_once(client: Any | None = None) -> list[str]:
    """:func:`reap_orphans`, once per process (called when the first sandbox starts)."""
    global _reaped
    with _reap_lock:
        if _reaped:
            return []
        _reaped = True
        return reap_orphans(client)


@dataclass
class PruneReport:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    kept_containers: int = 0
    space_reclaimed: int = 0


def prune(*, images: bool = False, all: bool = False, client: Any | None = None) -> PruneReport:
    """Remove managed containers (orphaned: their owner process is dead; every one with ``all``) and, with ``images``,
    managed environment and builder images (base images too with ``all``). Nothing else."""
    import docker

    from swe_srl.sandbox.images import docker_client

    client = client or docker_client()
    report = PruneReport()
    for c in managed_containers(client):
        # A live owner's container may be between create and start: only --all touches it.
        stale = owner_alive(c.labels.get(LABEL_OWNER, "")) is False
        if all or stale:
            if _remove(client, c.id):
                report.containers.append(c.id)
        else:
            report.kept_containers += 1
    if images:
        managed = client.images.list(all=True, filters=MANAGED_FILTER)
        order = {"env": 0, "builder": 1, "base": 2}
        managed.sort(key=lambda im: order.get((im.labels or {}).get(LABEL_KIND, "env"), 0))
        for im in managed:
            labels = im.labels or {}
            if labels.get(LABEL_MANAGED) != "true":
                continue
            if labels.get(LABEL_KIND) == "base" and not all:
                continue
            try:
                client.images.remove(im.id, force=len(im.tags) > 1)  # an image in use is kept
                report.images.append(im.tags[0] if im.tags else im.short_id)
                report.space_reclaimed += int(im.attrs.get("Size") or 0)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as e:  # in use by a container we were told to keep
                log.warning("kept image %s: %s", im.short_id, e)
    return report

"""``DockerSandbox``: one container, one persistent shell, the tools, reset and checkpoints.

Security: ``--network none`` unless asked, memory (swap included), CPU and
process-count limits, an unprivileged user, every capability dropped,
``no-new-privileges``, no host mounts, ``--init`` reaping zombies. The
container is removed on :meth:`close`, on interpreter exit, on SIGINT/SIGTERM,
and (when the owner was SIGKILLed) by its own agent or the next process's
reaper.

Failures of an action are :class:`CommandResult` values; only infrastructure
failures (no engine, a dead container) raise :class:`SandboxError`.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

from swe_srl.sandbox import reaper
from swe_srl.sandbox.base import AgentSandbox
from swe_srl.sandbox.session import AgentSession
from swe_srl.sandbox.spec import (
    LABEL_BASE_COMMIT, LABEL_KIND, LABEL_MANAGED, LABEL_OWNER, LABEL_RUN, SandboxConfig, SandboxError, owner_label,
)


class DockerSandbox(AgentSandbox):
    """A repository workspace in a container. Use :meth:`start` (a context manager)."""

    def __init__(self, container: Any, session: AgentSession | None, config: SandboxConfig, image: str, run_id: str,
                 *, base_commit: str | None = None, stop_file: str = ""):
        self.container = container
        self.container_id: str = container.id
        self.session = session  # type: ignore[assignment]
        self.config = config
        self.image = image
        self.run_id = run_id
        self.base_commit: str | None = base_commit
        self.ready_s: float = 0.0
        self._stop_file = stop_file
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(cls, image: str, config: SandboxConfig | None = None, *, run_id: str | None = None) -> "DockerSandbox":
        """Start a container of ``image`` and its shell session; returns when the shell answers."""
        import docker

        t0 = time.monotonic()
        config = config or SandboxConfig()
        run_id = run_id or f"adhoc-{uuid.uuid4().hex[:8]}"
        client = _client()
        reaper.reap_once(client)
        try:
            img = client.images.get(image)
        except docker.errors.ImageNotFound:
            raise SandboxError(f"image {image} not found (build it with `swe-srl sandbox build`)") from None
        labels = {LABEL_MANAGED: "true", LABEL_KIND: "sandbox", LABEL_RUN: run_id, LABEL_OWNER: owner_label()}
        base_commit = ((img.attrs.get("Config") or {}).get("Labels") or {}).get(LABEL_BASE_COMMIT)
        # The main process runs as root (no capabilities) so the sandbox user cannot kill it; it
        # exits when the stop file appears (created by the agent when its owner vanished).
        stop_file = f"/tmp/.swe-srl-stop-{uuid.uuid4().hex}"
        try:
            container = client.containers.run(
                image, ["/bin/sh", "-c", 'while [ ! -e "$0" ]; do sleep 1; done', stop_file], detach=True,
                init=True, user="0", labels=labels, working_dir=config.workdir,
                network_mode="bridge" if config.network else "none",
                mem_limit=config.memory, memswap_limit=config.memory, nano_cpus=int(config.cpus * 1e9),
                pids_limit=config.pids_limit, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                auto_remove=True, hostname="sandbox", stdin_open=False, tty=False,
            )
        except docker.errors.DockerException as e:
            raise SandboxError(f"cannot start a container of {image}: {_short(e)}") from None
        try:
            sandbox = cls(container, None, config, image, run_id, base_commit=base_commit, stop_file=stop_file)
            sandbox.session = sandbox._new_session()
        except BaseException:
            _remove(client, container.id)
            raise
        reaper.register(sandbox)
        sandbox.ready_s = time.monotonic() - t0
        return sandbox

    def _new_session(self) -> AgentSession:
        # SWE_SRL_SANDBOX_SELF_DESTRUCT=0 keeps a container whose owner died (to test the reaper).
        keep = os.environ.get("SWE_SRL_SANDBOX_SELF_DESTRUCT", "1") == "0"
        session = AgentSession(self.container_id, user=self.config.user, workdir=self.config.workdir,
                               base_commit=self.base_commit, stop_file="" if keep else self._stop_file)
        try:
            session.hello()
        except BaseException:
            session.kill()
            raise
        if self.base_commit is None:
            self.base_commit = session.info.get("base_commit")
        return session

    def close(self) -> None:
        """Stop the session and remove the container (idempotent, never raises for a gone container)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.session is not None:
                self.session.close()
        finally:
            _remove(_client(), self.container_id)
            reaper.unregister(self)

    def abort(self) -> None:
        """Kill the session and remove the container without waiting on the session's lock
        (used by signal handlers, which may interrupt a request in progress)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.session is not None:
                self.session.kill()
        finally:
            _remove(_client(), self.container_id)
            reaper.unregister(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"DockerSandbox({self.image!r}, container={self.container_id[:12]}, run={self.run_id!r})"

    def _check_alive(self) -> None:
        import docker

        try:
            state = _client().api.inspect_container(self.container_id)["State"]
        except docker.errors.NotFound:
            raise SandboxError(f"sandbox {self.container_id[:12]}: the container is gone") from None
        if state.get("OOMKilled") or not state.get("Running"):
            raise SandboxError(f"sandbox {self.container_id[:12]}: the container stopped "
                               f"(OOMKilled={state.get('OOMKilled')}, exit {state.get('ExitCode')})")


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:300]


_local = threading.local()


def _client() -> Any:
    """One docker-py client per thread (requests sessions are not shared across threads; a
    thread's client goes away with the thread)."""
    from swe_srl.sandbox.images import docker_client

    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = docker_client()
    return client


def _remove(client: Any, container_id: str) -> None:
    import docker

    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e) and "No such container" not in str(e):
            raise SandboxError(f"cannot remove container {container_id[:12]}: {_short(e)}") from None

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

import base64
import time
import uuid
from typing import Any

from swe_srl.sandbox import reaper
from swe_srl.sandbox.session import AgentSession, _AgentError
from swe_srl.sandbox.spec import (
    LABEL_BASE_COMMIT, LABEL_KIND, LABEL_MANAGED, LABEL_OWNER, LABEL_RUN, CommandResult, SandboxConfig,
    SandboxError, owner_label,
)


class DockerSandbox:
    """A repository workspace in a container. Use :meth:`start` (a context manager)."""

    def __init__(self, container: Any, session: AgentSession, config: SandboxConfig, image: str, run_id: str):
        self.container = container
        self.container_id: str = container.id
        self.session = session
        self.config = config
        self.image = image
        self.run_id = run_id
        self.base_commit: str | None = session.info.get("base_commit")
        self.ready_s: float = 0.0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def start(cls, image: str, config: SandboxConfig | None = None, *, run_id: str | None = None) -> "DockerSandbox":
        """Start a container of ``image`` and its shell session; returns when the shell answers."""
        import docker

        from swe_srl.sandbox.images import docker_client

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
        try:
            container = client.containers.run(
                image, ["sleep", "infinity"], detach=True, init=True, user=config.user, labels=labels,
                working_dir=config.workdir, network_mode="bridge" if config.network else "none",
                mem_limit=config.memory, memswap_limit=config.memory, nano_cpus=int(config.cpus * 1e9),
                pids_limit=config.pids_limit, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                auto_remove=True, hostname="sandbox", stdin_open=False, tty=False,
            )
        except docker.errors.DockerException as e:
            raise SandboxError(f"cannot start a container of {image}: {_short(e)}") from None
        session = None
        try:
            session = AgentSession(container.id, user=config.user, workdir=config.workdir, base_commit=base_commit)
            session.hello()
            sandbox = cls(container, session, config, image, run_id)
        except BaseException:
            if session is not None:
                session.kill()
            _remove(client, container.id)
            raise
        reaper.register(sandbox)
        sandbox.ready_s = time.monotonic() - t0
        return sandbox

    def __enter__(self) -> "DockerSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the session and remove the container (idempotent, never raises for a gone container)."""
        if self._closed:
            return
        self._closed = True
        try:
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
            self.session.kill()
        finally:
            _remove(_client(), self.container_id)
            reaper.unregister(self)

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"DockerSandbox({self.image!r}, container={self.container_id[:12]}, run={self.run_id!r})"

    # ------------------------------------------------------------------ commands
    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` in the persistent shell (cwd and variables persist)."""
        timeout = self.config.command_timeout if timeout is None else float(timeout)
        resp = self._request("run", deadline_s=timeout + 30.0, cmd=command, timeout=timeout,
                             max_chars=self.config.max_output_chars)
        return CommandResult(output=resp["output"], exit_code=resp["exit_code"], timed_out=resp["timed_out"],
                             truncated=resp["truncated"], duration_s=resp["duration_s"])

    def editor(self, args: dict[str, Any]) -> CommandResult:
        """``str_replace_editor`` (view | create | str_replace | insert | undo_edit)."""
        t0 = time.monotonic()
        resp = self._request("editor", args=_jsonable(args))
        return CommandResult(output=resp["output"], exit_code=resp["exit_code"],
                             duration_s=time.monotonic() - t0)

    def execute(self, action: Any) -> CommandResult:
        """Run an :class:`~swe_srl.trajectories.models.Action`: bash, str_replace_editor or submit."""
        tool = getattr(action, "tool", None)
        args = getattr(action, "args", None) or {}
        if tool == "bash":
            timeout = args.get("timeout")
            return self.run(str(args.get("command", "")), timeout=float(timeout) if timeout else None)
        if tool == "str_replace_editor":
            return self.editor(args)
        if tool == "submit":
            t0 = time.monotonic()
            try:
                patch = self.diff()
            except SandboxError as e:
                return CommandResult(output=str(e), exit_code=1, duration_s=time.monotonic() - t0)
            return CommandResult(output=patch, exit_code=0, duration_s=time.monotonic() - t0)
        return CommandResult(
            output=f"Unknown tool {tool!r}: the available tools are bash, str_replace_editor and submit.",
            exit_code=127)

    # ------------------------------------------------------------------ files
    def read_file(self, path: str) -> bytes:
        """Bytes of ``path`` (relative to the shell's cwd). Raises FileNotFoundError/SandboxError."""
        try:
            resp = self._request("read", path=path)
        except _AgentError as e:
            raise _file_error(str(e), path) from None
        return base64.b64decode(resp["data"])

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write ``data`` to ``path`` as the sandbox user (parent folders created)."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        try:
            self._request("write", path=path, data=base64.b64encode(raw).decode())
        except _AgentError as e:
            raise _file_error(str(e), path) from None

    # ------------------------------------------------------------------ repository state
    def diff(self) -> str:
        """The working tree against the base commit, new files included (the user's index untouched)."""
        return self._repo_request("diff")["diff"]

    def reset(self) -> None:
        """Back to the base commit: tracked files restored, new files removed, a fresh shell."""
        self._repo_request("reset", deadline_s=300.0)

    def checkpoint(self) -> str:
        """Snapshot the work tree, HEAD, the shell's cwd and exported variables, the editor's undo history."""
        return self._repo_request("checkpoint", deadline_s=300.0)["checkpoint"]

    def restore(self, checkpoint: str) -> None:
        """Return to ``checkpoint`` (files outside the repository are not part of it)."""
        self._repo_request("restore", deadline_s=300.0, checkpoint=checkpoint)

    # ------------------------------------------------------------------ internals
    def _request(self, op: str, *, deadline_s: float = 60.0, **fields: Any) -> dict[str, Any]:
        if self._closed:
            raise SandboxError(f"{self!r} is closed")
        try:
            return self.session.request(op, deadline_s=deadline_s, **fields)
        except SandboxError:
            self._check_container()
            raise

    def _repo_request(self, op: str, **kw: Any) -> dict[str, Any]:
        try:
            return self._request(op, **kw)
        except _AgentError as e:
            raise SandboxError(f"{op}: {e}") from None

    def _check_container(self) -> None:
        import docker

        try:
            state = _client().api.inspect_container(self.container_id)["State"]
        except docker.errors.NotFound:
            raise SandboxError(f"sandbox {self.container_id[:12]}: the container is gone") from None
        if state.get("OOMKilled") or not state.get("Running"):
            raise SandboxError(f"sandbox {self.container_id[:12]}: the container stopped "
                               f"(OOMKilled={state.get('OOMKilled')}, exit {state.get('ExitCode')})")


def _jsonable(args: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items() if v is not None}


def _file_error(message: str, path: str) -> Exception:
    if "No such file" in message or "FileNotFoundError" in message:
        return FileNotFoundError(f"{path}: no such file in the sandbox")
    if "IsADirectory" in message:
        return IsADirectoryError(f"{path}: is a directory")
    if "Permission" in message:
        return PermissionError(f"{path}: permission denied in the sandbox")
    return SandboxError(f"{path}: {message}")


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:300]


_clients: dict[int, Any] = {}


def _client() -> Any:
    """One docker-py client per thread (requests sessions are not shared across threads)."""
    import threading

    from swe_srl.sandbox.images import docker_client

    key = threading.get_ident()
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = docker_client()
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

"""``DockerSandbox``: one container, one persistent shell, the tools, reset and checkpoints.

Security: ``--network none`` unless asked, memory (swap included), CPU and
process-count limits, an unprivileged user, every capability dropped,
``no-new-privileges``, no host mounts, ``--init`` reaping zombies. The
container is removed on :meth:`close`, on interpreter exit, on SIGINT/SIGTERM,
and (when the owner was SIGKILLed) by its own agent or the next process's
reaper.

Disk: the writable layer is capped with ``--storage-opt size=`` where the
storage driver supports it (overlay2 on xfs with ``pquota``, btrfs, zfs,
devicemapper); elsewhere (overlay2 on ext4, the usual case) a watchdog thread
reads the container's writable-layer size (``SizeRw``) every
``disk_check_s`` seconds and, past ``disk``, kills every process of the
sandbox user and marks the sandbox: the running command's result says so
(it fires again only when the layer grows further).
``/tmp`` is a tmpfs of ``tmp_size`` in both cases. :attr:`disk_limit` says
which applies.

:meth:`run_guarded` runs one command outside the persistent shell, for
graders: in a fresh ``docker exec`` under a non-dumpable wrapper (processes of
the sandbox user cannot ptrace it or open its descriptors), which reports the
exit status on a channel the command cannot write, kills every process of the
sandbox user when the command ends or times out, and whose output the host
reads with a cap (head and tail kept).

Failures of an action are :class:`CommandResult` values; only infrastructure
failures (no engine, a dead container) raise :class:`SandboxError`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from swe_srl.sandbox import reaper
from swe_srl.sandbox.base import AgentSandbox
from swe_srl.sandbox.session import AgentSession
from swe_srl.sandbox.spec import (
    LABEL_BASE_COMMIT, LABEL_KIND, LABEL_MANAGED, LABEL_OWNER, LABEL_RUN, CommandResult, SandboxConfig, SandboxError,
    owner_label, parse_size,
)

# Runs in the container as the sandbox user: `python3 -c GUARD TIMEOUT` with the
# bash script on stdin. Non-dumpable first (same-user processes can then neither
# ptrace it nor open /proc/<pid>/fd), the script's stdout and stderr are this
# process's stdout, and the verdict (exit status, timeout) goes to this process's
# stderr, which the script never holds. When the script ends or times out, every
# process of the user (but this one) is killed until none is left.
GUARD = r"""
import json, os, signal, sys, time
try:
    import ctypes
    guarded = ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) == 0
except Exception:
    guarded = False
timeout = float(sys.argv[1])
script = sys.stdin.buffer.read()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(1, 2)
    os.setsid()
    os.execvp("bash", ["bash", "-c", script.decode("utf-8", "surrogateescape")])
deadline = time.time() + timeout
status, timed_out = None, False
while status is None:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        status = st
        break
    if time.time() > deadline:
        timed_out = True
        os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
        break
    time.sleep(0.02)

def others():
    # live (not zombie) processes of this user but this one: kill(-1) succeeds while any other process exists
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open("/proc/%s/status" % name) as fh:
                text = fh.read()
        except (OSError, IOError):
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if fields.get("State", "").split()[:1] != ["Z"] and fields.get("Uid", "").split()[:1] == [str(os.getuid())]:
            out.append(int(name))
    return out


end = time.time() + 10
while time.time() < end:
    try:
        os.kill(-1 if os.getuid() else -pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except OSError:
        pass
    if not os.getuid() or not others():
        break
    time.sleep(0.005)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
sys.stdout.flush()
os.write(2, (json.dumps({"exit_code": code, "timed_out": timed_out, "guarded": guarded}) + "\n").encode())
"""
KILL_USER = r"""
import os, signal, time
def others():
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open("/proc/%s/status" % name) as fh:
                    fields = dict(line.split(":", 1) for line in fh.read().splitlines() if ":" in line)
            except (OSError, IOError):
                continue
            if fields.get("State", "").split()[:1] != ["Z"] and fields.get("Uid", "").split()[:1] == [str(os.getuid())]:
                out.append(name)
    return out
end = time.time() + 10
while os.getuid() and others() and time.time() < end:
    os.kill(-1, signal.SIGKILL)
    time.sleep(0.005)
"""
DROPPED = "\n[swe-srl: {n} bytes of output dropped here]\n"


@dataclass
class GuardedRun:
    """What :meth:`DockerSandbox.run_guarded` saw. ``exit_code`` comes from the
    guard (None when the guard itself was killed or never answered)."""

    output: bytes
    exit_code: int | None
    timed_out: bool
    dropped_bytes: int
    duration_s: float
    guarded: bool


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
        self.disk_limit: str = "none"
        """How writes are bounded: ``storage-opt`` (the driver enforces ``disk``), ``watchdog`` or ``none``."""
        self.disk_exceeded: int | None = None
        """Bytes in the writable layer when the watchdog fired (None: it never did)."""
        self._watchdog_stop = threading.Event()
        self._killing = threading.Lock()  # held while the watchdog kills: no new session meanwhile

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
        kwargs: dict[str, Any] = {}
        if config.tmp_size:
            kwargs["tmpfs"] = {"/tmp": f"rw,nosuid,nodev,size={parse_size(config.tmp_size, 'tmp_size')},mode=1777"}
        disk_limit = "none"
        if config.disk and _storage_opt_supported(client):
            kwargs["storage_opt"] = {"size": str(config.disk)}
            disk_limit = "storage-opt"
        elif config.disk:
            disk_limit = "watchdog"
        def run() -> Any:
            return client.containers.run(
                image, ["/bin/sh", "-c", 'while [ ! -e "$0" ]; do sleep 1; done', stop_file], detach=True,
                init=True, user="0", labels=labels, working_dir=config.workdir,
                network_mode="bridge" if config.network else "none",
                mem_limit=config.memory, memswap_limit=config.memory, nano_cpus=int(config.cpus * 1e9),
                pids_limit=config.pids_limit, cap_drop=["ALL"], security_opt=["no-new-privileges"],
                auto_remove=True, hostname="sandbox", stdin_open=False, tty=False, **kwargs,
            )

        try:
            try:
                container = run()
            except docker.errors.APIError as e:
                if "storage_opt" not in kwargs or "storage" not in str(e).lower():
                    raise
                _storage_opt[0] = False  # the driver refused the size option: fall back to the watchdog
                del kwargs["storage_opt"]
                disk_limit = "watchdog"
                container = run()
        except docker.errors.DockerException as e:
            raise SandboxError(f"cannot start a container of {image}: {_short(e)}") from None
        try:
            sandbox = cls(container, None, config, image, run_id, base_commit=base_commit, stop_file=stop_file)
            sandbox.disk_limit = disk_limit
            sandbox.session = sandbox._new_session()
        except BaseException:
            _remove(client, container.id)
            raise
        reaper.register(sandbox)
        if disk_limit == "watchdog":
            threading.Thread(target=sandbox._watch_disk, name=f"disk-{container.id[:12]}", daemon=True).start()
        sandbox.ready_s = time.monotonic() - t0
        return sandbox

    def _new_session(self) -> AgentSession:
        with self._killing:
            pass
        # SWE_SRL_SANDBOX_SELF_DESTRUCT=0 keeps a container whose owner died (to test the reaper).
        keep = os.environ.get("SWE_SRL_SANDBOX_SELF_DESTRUCT", "1") == "0"
        session = AgentSession(self.container_id, user=self.config.user, workdir=self.config.workdir,
                               base_commit=self.base_commit, stop_file="" if keep else self._stop_file,
                               contained=True)
        try:
            session.hello()
        except BaseException:
            session.kill()
            raise
        if self.base_commit is None:
            self.base_commit = session.info.get("base_commit")
        return session

    # ------------------------------------------------------------------ guarded runs and limits
    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        before = self.disk_exceeded
        result = super().run(command, timeout)
        if self.disk_exceeded is not None and self.disk_exceeded != before:
            result.output += (f"\nThe sandbox exceeded its disk quota ({self.disk_exceeded:,} bytes written, "
                              f"limit {self.config.disk}): every process of the sandbox user was killed.")
            result.exit_code = None
        return result

    def run_guarded(self, script: str, *, timeout: float, max_bytes: int = 16 << 20,
                    head_bytes: int = 1 << 20) -> GuardedRun:
        """Run a bash ``script`` as the sandbox user in a fresh, guarded process
        (see the module docstring); keeps the first ``head_bytes`` and the last
        ``max_bytes - head_bytes`` of its output. The persistent shell and
        every other process of the user are gone afterwards (a later request
        starts a new session)."""
        if self._closed:
            raise SandboxError(f"{self!r} is closed")
        argv = ["docker", "exec", "-i", "-u", self.config.user, "-w", self.config.workdir, self.container_id,
                "python3", "-c", GUARD, repr(float(timeout))]
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    bufsize=0, start_new_session=True)
        except FileNotFoundError:
            raise SandboxError("docker: command not found (guarded runs need the Docker command-line client)") from None
        try:
            proc.stdin.write(script.encode("utf-8", "surrogateescape"))  # type: ignore[union-attr]
            proc.stdin.close()  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass
        head, tail = bytearray(), bytearray()
        dropped = 0
        keep_tail = max(0, max_bytes - head_bytes)
        err = bytearray()
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()  # type: ignore[union-attr]
        open_fds = {out_fd, err_fd}
        deadline = time.monotonic() + timeout + 30.0
        host_timeout = False
        while open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                host_timeout = True
                self.kill_user_processes()
                proc.kill()
                break
            ready, _, _ = select.select(list(open_fds), [], [], min(left, 1.0))
            for fd in ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    open_fds.discard(fd)
                elif fd == err_fd:
                    if len(err) < 1 << 16:
                        err.extend(chunk)
                else:
                    if len(head) < head_bytes:
                        take = head_bytes - len(head)
                        head.extend(chunk[:take])
                        chunk = chunk[take:]
                    if chunk:
                        tail.extend(chunk)
                        if len(tail) > keep_tail:
                            cut = len(tail) - keep_tail
                            dropped += cut
                            del tail[:cut]
        proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()
        self._check_alive()
        verdict: dict[str, Any] = {}
        for line in reversed(bytes(err).decode("utf-8", "replace").splitlines()):
            try:
                verdict = json.loads(line)
                break
            except ValueError:
                continue
        if not verdict and not host_timeout:
            # the wrapper always reports how the tests ended; silence means it died with its container
            raise SandboxError(f"container {self.container_id[:12]}: the guarded test run ended without reporting an exit status "
                               "(the container was removed or died)")
        output = bytes(head) + (DROPPED.format(n=dropped).encode() if dropped else b"") + bytes(tail)
        code = verdict.get("exit_code") if isinstance(verdict.get("exit_code"), int) else None
        return GuardedRun(output=output, exit_code=code, timed_out=host_timeout or bool(verdict.get("timed_out")),
                          dropped_bytes=dropped, duration_s=time.monotonic() - t0,
                          guarded=bool(verdict.get("guarded")))

    def kill_user_processes(self) -> None:
        """SIGKILL every process of the sandbox user (the persistent shell included)."""
        try:
            subprocess.run(["docker", "exec", "-u", self.config.user, self.container_id, "python3", "-c", KILL_USER],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def _watch_disk(self) -> None:
        """The disk watchdog (see the module docstring)."""
        import docker

        limit = parse_size(self.config.disk, "disk")
        fired_at = limit
        client = None
        while not self._watchdog_stop.wait(self.config.disk_check_s):
            try:
                client = client or _client()
                found = client.api.containers(all=True, size=True, filters={"id": self.container_id})
                if not found:
                    return  # the container is gone
                size = int(found[0].get("SizeRw") or 0)
            except (docker.errors.DockerException, OSError, ValueError):
                return  # the container is gone
            if size > fired_at:  # over the limit, and grown since the last kill
                with self._killing:
                    self.disk_exceeded = size
                    self.kill_user_processes()
                    found = client.api.containers(all=True, size=True, filters={"id": self.container_id})
                    after = int(found[0].get("SizeRw") or 0) if found else size
                fired_at = max(size, after) + limit // 10

    def close(self) -> None:
        """Stop the session and remove the container (idempotent, never raises for a gone container)."""
        if self._closed:
            return
        self._closed = True
        self._watchdog_stop.set()
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
        self._watchdog_stop.set()
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


_storage_opt: dict[int, bool] = {}


def _storage_opt_supported(client: Any) -> bool:
    """Whether the engine's storage driver takes ``--storage-opt size`` (asked once per process)."""
    import docker

    if 0 not in _storage_opt:
        try:
            info = client.info()
        except (docker.errors.DockerException, OSError):
            info = {}
        driver = info.get("Driver", "")
        backing = dict(info.get("DriverStatus") or []).get("Backing Filesystem", "")
        # overlay2 needs xfs mounted with pquota, which `info` does not show: tried, and refused if not
        _storage_opt[0] = driver in ("btrfs", "zfs", "devicemapper") or (driver == "overlay2" and backing == "xfs")
    return _storage_opt[0]


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

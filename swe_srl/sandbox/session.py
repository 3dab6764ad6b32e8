"""Host side of the in-container tool server protocol (see ``tool_server.py``).

One ``docker exec -i`` process per sandbox carries JSON lines both ways; a
command costs one write and one read on local pipes (well under a millisecond
of overhead), against about 50 ms for a fresh ``docker exec``. The host never
waits forever: every request has a deadline (the command's own timeout plus a
grace period), after which the session is declared dead (:class:`SandboxError`).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from swe_srl.sandbox.spec import SandboxError

AGENT_SOURCE = (Path(__file__).with_name("tool_server.py")).read_text()
# The agent's source travels as the first line on stdin, so `ps` in the sandbox shows one short line.
BOOTSTRAP = "import sys,json;exec(compile(json.loads(sys.stdin.buffer.readline()),'swe-srl-agent','exec'))"
GRACE_S = 30.0


class AgentSession:
    """A running agent inside one container."""

    def __init__(self, container_id: str, *, user: str, workdir: str, base_commit: str | None,
                 stop_file: str = "", docker: str = "docker", argv_prefix: list[str] | None = None,
                 contained: bool = False):
        """``contained``: the agent is alone with its user in a container, so on a
        timeout or reset it kills every process of that user (never on a host)."""
        self.container_id = container_id
        if argv_prefix is None:
            argv_prefix = [docker, "exec", "-i", "-u", user, container_id]
        argv = [*argv_prefix, "python3", "-c", BOOTSTRAP, workdir, base_commit or "", stop_file,
                "contained" if contained else ""]
        self._lock = threading.Lock()
        self._buf = b""
        self._seq = 0
        self._eof = False  # the agent closed its output: dead even if not reaped yet
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, bufsize=0, start_new_session=True)
        except FileNotFoundError:
            raise SandboxError(f"{argv[0]}: command not found (the sandbox session needs the Docker "
                               "command-line client and python3 in the image)") from None
        try:
            self.proc.stdin.write(json.dumps(AGENT_SOURCE).encode() + b"\n")  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            pass  # reported by the first request with the process's stderr
        self.info: dict[str, Any] = {}

    def hello(self, timeout: float = 60.0) -> dict[str, Any]:
        self.info = self.request("hello", deadline_s=timeout)
        return self.info

    def alive(self) -> bool:
        return not self._eof and self.proc.poll() is None

    def request(self, op: str, *, deadline_s: float = GRACE_S, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its answer (at most ``deadline_s`` seconds)."""
        with self._lock:
            if self.proc.poll() is not None:
                raise SandboxError(f"sandbox {self.container_id[:12]}: the session has ended{self._stderr()}")
            self._seq += 1
            payload = json.dumps({"op": op, "id": self._seq, **fields}).encode() + b"\n"
            try:
                self.proc.stdin.write(payload)  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                raise SandboxError(f"sandbox {self.container_id[:12]}: the session has ended{self._stderr()}") from None
            line = self._readline(time.monotonic() + deadline_s)
        try:
            resp = json.loads(line)
        except ValueError:
            text = line.decode("utf-8", "replace").strip()[:300]
            if self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    pass
            raise SandboxError(f"sandbox {self.container_id[:12]}: the session did not start: {text}"
                               f"{self._stderr()}") from None
        if "error" in resp and op != "hello":
            raise _AgentError(resp["error"])
        if "error" in resp:
            raise SandboxError(f"sandbox {self.container_id[:12]}: {resp['error']}")
        return resp

    def _readline(self, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line, self._buf = self._buf[:nl], self._buf[nl + 1:]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise SandboxError(f"sandbox {self.container_id[:12]}: no answer from the session in time")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                # The output closes a moment before the process can be reaped: without this wait
                # a caller asking alive() right now could be told yes and not replace the session.
                self._eof = True
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                raise SandboxError(f"sandbox {self.container_id[:12]}: the session has ended{self._stderr()}")
            self._buf += chunk

    def _stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        try:
            err = self.proc.stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f" ({err.splitlines()[-1]})" if err else ""

    def close(self) -> None:
        """Say goodbye (the agent then exits without stopping the container) and reap the process."""
        if self.proc.poll() is None:
            try:
                with self._lock:
                    self.proc.stdin.write(b'{"op": "bye"}\n')  # type: ignore[union-attr]
                    self.proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError, ValueError):
                pass
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass


class _AgentError(Exception):
    """The agent could not carry out a request (a bad path, a missing repository...)."""

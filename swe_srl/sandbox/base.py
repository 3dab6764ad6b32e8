"""Behaviour shared by the sandboxes that talk to the in-container tool server (``tool_server.py``):
commands, the editor, files, diff, reset, checkpoint/restore and ``execute``.
Subclasses provide ``start``/``close`` and :meth:`_check_alive`."""

from __future__ import annotations

import base64
import time
from typing import Any

from swe_srl.sandbox.session import AgentSession, _AgentError
from swe_srl.sandbox.spec import CommandResult, SandboxConfig, SandboxError


class AgentSandbox:
    """A workspace driven through one :class:`AgentSession`."""

    session: AgentSession
    config: SandboxConfig
    _closed: bool = False

    @property
    def workdir(self) -> str:
        """Where the repository lives (``/testbed`` in containers)."""
        return self.config.workdir

    def __enter__(self) -> "AgentSandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_alive(self) -> None:
        """Raise :class:`SandboxError` with the reason when the workspace is gone."""

    # ------------------------------------------------------------------ commands
    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run ``command`` in the persistent shell (cwd and variables persist)."""
        timeout = self.config.command_timeout if timeout is None else float(timeout)
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        resp = self._request("run", deadline_s=timeout + 30.0, cmd=command, timeout=timeout,
                             max_chars=self.config.max_output_chars)
        return CommandResult(output=resp["output"], exit_code=resp["exit_code"], timed_out=resp["timed_out"],
                             truncated=resp["truncated"], duration_s=resp["duration_s"])

    def editor(self, args: dict[str, Any]) -> CommandResult:
        """``str_replace_editor`` (view | create | str_replace | insert | undo_edit)."""
        t0 = time.monotonic()
        from swe_srl.text import truncate_middle

        resp = self._request("editor", args=_jsonable(args))
        output = truncate_middle(resp["output"], self.config.max_output_chars)
        return CommandResult(output=output, exit_code=resp["exit_code"], truncated=len(output) != len(resp["output"]),
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
        """Bytes of ``path`` (relative paths: to the workdir). Raises FileNotFoundError/SandboxError."""
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
        except SandboxError as e:
            self._check_alive()  # raises when the workspace itself is gone
            if self.session.alive():
                raise
            # The agent was killed from inside (e.g. `killall python3`): start a new session.
            self.session.kill()
            self.session = self._new_session()
            if op == "run":
                return {"output": f"The sandbox's session was killed ({e}); a new one was started: cwd, "
                                  "variables and the editor's undo history were reset.",
                        "exit_code": None, "timed_out": False, "truncated": False, "duration_s": 0.0}
            return self.session.request(op, deadline_s=deadline_s, **fields)

    def _new_session(self) -> AgentSession:  # pragma: no cover - overridden
        raise NotImplementedError

    def _repo_request(self, op: str, **kw: Any) -> dict[str, Any]:
        try:
            return self._request(op, **kw)
        except _AgentError as e:
            raise SandboxError(f"{op}: {e}") from None


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



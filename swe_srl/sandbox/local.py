"""``LocalSandbox``: the same agent, shell and tools on a throw-away clone in a
temporary folder on this machine, with NO isolation (no container, no limits,
the host's network and user).

It exists for fast unit tests of code that drives a sandbox, and for trusted
replays; it runs the same conformance suite as :class:`DockerSandbox`. Never
give it a policy's commands on a machine you care about.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from swe_srl.sandbox.base import AgentSandbox
from swe_srl.sandbox.session import AgentSession
from swe_srl.sandbox.spec import SandboxConfig, SandboxError


class LocalSandbox(AgentSandbox):
    """A clone of ``repo_path`` at ``base_commit`` in a temporary folder, driven by a local agent."""

    def __init__(self, root: Path, session: AgentSession | None, config: SandboxConfig, base_commit: str):
        self.root = root
        self.session = session  # type: ignore[assignment]
        self.config = config
        self.base_commit: str | None = base_commit
        self.container_id = f"local-{root.name}"
        self._closed = False

    @classmethod
    def start(cls, repo_path: str | Path, base_commit: str = "HEAD", config: SandboxConfig | None = None,
              **_: Any) -> "LocalSandbox":
        from swe_srl.sandbox.images import resolve_commit, snapshot_repo

        commit = resolve_commit(repo_path, base_commit)
        root = Path(tempfile.mkdtemp(prefix="swe-srl-local-"))
        workdir = root / "testbed"
        try:
            snapshot_repo(repo_path, commit, workdir)
            config = (config or SandboxConfig()).model_copy(update={"workdir": str(workdir)})
            sandbox = cls(root, None, config, commit)
            sandbox.session = sandbox._new_session()
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return sandbox

    def _new_session(self) -> AgentSession:
        session = AgentSession(self.container_id, user="", workdir=self.config.workdir, base_commit=self.base_commit,
                               argv_prefix=[])
        try:
            session.hello()
        except BaseException:
            session.kill()
            raise
        return session

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.session is not None:
                self.session.close()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def abort(self) -> None:
        self.close()

    def _check_alive(self) -> None:
        if not self.root.is_dir():
            raise SandboxError(f"{self.root}: the local sandbox folder is gone")

    def __repr__(self) -> str:
        return f"LocalSandbox({str(self.root)!r})"


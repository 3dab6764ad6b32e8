"""The host side of the agent protocol (``AgentSession``), against processes that
misbehave in ways a real agent can: here, output closed while the process lingers."""

from __future__ import annotations

import pytest

from swe_srl.sandbox.session import AgentSession
from swe_srl.sandbox.spec import SandboxError


def test_a_session_whose_output_closed_is_dead_before_it_is_reaped():
    # The process closes its stdout, keeps draining stdin (as a dying agent's children may),
    # and exits a second later. The sandbox asks alive() right after "the session has ended"
    # to decide whether to start a new session: the answer must already be no.
    session = AgentSession("test", user="", workdir="/", base_commit=None,
                           argv_prefix=["sh", "-c", "exec 1>&-; cat >/dev/null & sleep 1", "sh"])
    try:
        with pytest.raises(SandboxError, match="the session has ended"):
            session.request("run", deadline_s=10, cmd="true", timeout=1)
        assert not session.alive()
    finally:
        session.kill()

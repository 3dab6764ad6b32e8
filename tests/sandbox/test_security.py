"""Isolation and hygiene of DockerSandbox: limits hold against hostile commands, and no
container outlives its owner (exit, signals, SIGKILL + reaper); prune touches only ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from swe_srl.sandbox import DockerSandbox, SandboxConfig
from swe_srl.sandbox.spec import LABEL_KIND, LABEL_MANAGED, LABEL_OWNER

pytestmark = pytest.mark.docker

LIMITED = SandboxConfig(memory="256m", pids_limit=64, cpus=1.0)


@pytest.fixture(scope="module")
def limited(env_image):
    sb = DockerSandbox.start(env_image, LIMITED, run_id="pytest-security")
    yield sb
    sb.close()


def test_unprivileged_no_capabilities_no_mounts(limited, docker_engine):
    r = limited.run("id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status")
    lines = r.output.split()
    assert lines[0] == "1000"
    assert "0000000000000000" in lines and lines[-1] == "1"
    info = docker_engine.api.inspect_container(limited.container_id)
    assert info["Mounts"] == []
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none" and host["PidsLimit"] == 64 and host["Memory"] == 256 * 2**20
    assert host["MemorySwap"] == host["Memory"] and host["CapDrop"] == ["ALL"]


def test_network_refused(limited):
    assert limited.run("ls /sys/class/net").output.split() == ["lo"]
    r = limited.run("python3 -c \"import socket; socket.create_connection(('pypi.org', 443), timeout=3)\"",
                    timeout=20)
    assert r.exit_code != 0 and ("gaierror" in r.output or "unreachable" in r.output)


def test_fork_bomb_is_contained(limited, docker_engine):
    limited.run(":(){ :|:& };:", timeout=3)  # returns at once: the bomb runs in the background
    time.sleep(2)
    stats = docker_engine.api.stats(limited.container_id, stream=False)
    assert 0 < stats["pids_stats"]["current"] <= LIMITED.pids_limit
    t0 = time.monotonic()
    limited.reset()  # a fresh shell: the whole session of the old one is killed
    assert time.monotonic() - t0 < 20
    after = limited.run("echo alive; ls /proc | grep -c '^[0-9]'", timeout=30)
    alive, nprocs = after.output.split()[-2:]
    assert alive == "alive" and int(nprocs) < 10
    r = limited.run("bomb() { bomb | bomb; }; bomb", timeout=2)  # in the foreground: the timeout kills it
    assert r.timed_out
    assert limited.run("echo ok", timeout=30).output.endswith("ok\n")


def test_memory_hog_is_killed_and_the_sandbox_survives(limited, docker_engine):
    r = limited.run("python3 -c 'x = bytearray(1024 * 1024 * 1024); print(len(x))'", timeout=60)
    assert r.exit_code != 0 and "1073741824" not in r.output
    assert limited.run("echo still-here").output == "still-here\n"
    assert docker_engine.api.inspect_container(limited.container_id)["State"]["Running"]


CHILD = textwrap.dedent("""
    import os, signal, sys, time
    from swe_srl.sandbox import DockerSandbox
    sb = DockerSandbox.start(sys.argv[1], run_id="pytest-child")
    print(sb.container_id, flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
""")


def _child(image: str, how: str, **env: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, image, how], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    cid = proc.stdout.readline().strip()
    assert len(cid) == 64, cid
    return proc, cid


def _exists(client, cid: str) -> bool:
    import docker

    try:
        client.api.inspect_container(cid)
        return True
    except docker.errors.NotFound:
        return False


def _wait_gone(client, cid: str, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _exists(client, cid):
            return True
        time.sleep(0.2)
    return False


def test_container_of_a_sigkilled_parent_is_reaped(env_image, docker_engine, limited):
    from swe_srl.sandbox.reaper import reap_orphans

    proc, cid = _child(env_image, "kill", SWE_SRL_SANDBOX_SELF_DESTRUCT="0")
    assert proc.wait(10) == -signal.SIGKILL
    # On a shared engine another process's reaper (this same code) may get there first.
    present = _exists(docker_engine, cid)
    removed = reap_orphans(docker_engine)
    assert not _exists(docker_engine, cid)
    assert cid in removed or not present
    assert limited.container_id not in removed and _exists(docker_engine, limited.container_id)


def test_container_of_a_sigkilled_parent_stops_itself(env_image, docker_engine):
    proc, cid = _child(env_image, "kill")
    assert proc.wait(10) == -signal.SIGKILL
    assert _wait_gone(docker_engine, cid, 20)


def test_sigterm_removes_the_containers(env_image, docker_engine):
    proc, cid = _child(env_image, "sleep")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == -signal.SIGTERM
    assert not _exists(docker_engine, cid)


def test_sigint_removes_the_containers(env_image, docker_engine):
    proc, cid = _child(env_image, "sleep")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) != 0
    assert not _exists(docker_engine, cid)


def test_prune_leaves_foreign_containers_alone(env_image, docker_engine):
    from swe_srl.sandbox.reaper import prune

    foreign = docker_engine.containers.run(env_image, ["sleep", "120"], detach=True, network_mode="none",
                                           labels={"someone.else": "yes"})
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = docker_engine.containers.run(
        env_image, ["sleep", "120"], detach=True, network_mode="none",
        labels={LABEL_MANAGED: "true", LABEL_KIND: "sandbox", LABEL_OWNER: f"{os.uname().nodename}:{dead.pid}:1"})
    try:
        report = prune()
        assert not _exists(docker_engine, orphan.id)  # by us, or by another process's reaper meanwhile
        assert foreign.id not in report.containers and _exists(docker_engine, foreign.id)
    finally:
        foreign.remove(force=True)
        if _exists(docker_engine, orphan.id):
            orphan.remove(force=True)

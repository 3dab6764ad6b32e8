"""The task runner (swe_srl.execution) on this machine: bounded concurrency, one
failure is one task's outcome, setup runs once, and the interrupt policy (stop
handing out tasks, tell running ones, re-raise at once). The Ray backend's tests
are in tests/ray/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from swe_srl.errors import ConfigError
from swe_srl.execution import Job, LocalBackend, make_backend
from swe_srl.execution.base import parse_memory


class Sleepy(Job):
    name = "sleepy"

    def __init__(self, seconds: float = 0.2):
        self.seconds = seconds
        self.setups = 0
        self.live = 0
        self.peak = 0
        self.started: list[int] = []
        self.saw_stop: list[int] = []
        self.lock = threading.Lock()

    def setup(self):
        self.setups += 1
        return "state"

    def run(self, item, ctx):
        with self.lock:
            self.live += 1
            self.peak = max(self.peak, self.live)
            self.started.append(item)
        try:
            if item == 3:
                raise ValueError("boom")
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline:
                if ctx.stopping:
                    self.saw_stop.append(item)
                    return None
                time.sleep(0.01)
            return (item, ctx.state, ctx.node)
        finally:
            with self.lock:
                self.live -= 1


def test_local_backend_bounds_concurrency_runs_setup_once_and_isolates_failures():
    job = Sleepy(0.1)
    outcomes = list(LocalBackend(3).imap(job, range(8)))
    assert sorted(o.index for o in outcomes) == list(range(8))
    by_item = {o.item: o for o in outcomes}
    assert by_item[3].error == "ValueError: boom" and "Traceback" in by_item[3].traceback
    assert all(by_item[i].value == (i, "state", "local") for i in range(8) if i != 3)
    assert job.setups == 1 and job.peak == 3


def test_interrupt_stops_handing_out_tasks_and_tells_running_ones():
    job = Sleepy(5.0)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    seen = []
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        for outcome in LocalBackend(2).imap(job, range(10)):
            seen.append(outcome)
    assert time.monotonic() - t0 < 3  # at once, not after the 5 s tasks
    assert seen == [] and job.started == [0, 1]  # queued tasks never started
    deadline = time.monotonic() + 3
    while len(job.saw_stop) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(job.saw_stop) == [0, 1]  # the running ones were told to stop
    assert signal.getsignal(signal.SIGINT) is not None  # handlers restored (the reaper's stays)


def test_backend_choice_errors_are_one_line():
    with pytest.raises(ConfigError, match="valid backends: local, ray"):
        make_backend("spark")
    with pytest.raises(ConfigError, match="--ray-address needs --backend ray"):
        make_backend("local", address="127.0.0.1:6379")
    with pytest.raises(ConfigError, match="at least 1"):
        LocalBackend(0)
    assert parse_memory("4g") == 4 << 30 and parse_memory("512m") == 512 << 20 and parse_memory(1000) == 1000
    with pytest.raises(ConfigError, match="memory 'lots'"):
        parse_memory("lots")


@pytest.mark.parametrize("cmd", [["eval", "--tasks", "t.jsonl", "--predictions", "gold", "--run-id", "x"],
                                 ["tasks", "validate", "t.jsonl"], ["tasks", "synthesize", "--repo", ".", "--out", "o.jsonl"]])
def test_cli_rejects_an_unknown_backend_in_one_line(tmp_path, cmd):
    (tmp_path / "t.jsonl").write_text('{"instance_id": "a", "repo": "o/n", "base_commit": "abc", '
                                      '"problem_statement": "p", "patch": "", "spec": {}}\n')
    r = subprocess.run([sys.executable, "-m", "swe_srl", *cmd, "--backend", "spark"], cwd=tmp_path,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 1 and "valid backends: local, ray" in r.stderr and "Traceback" not in r.stderr


def test_ray_address_where_nothing_answers_is_a_one_line_error_at_once():
    import socket

    from swe_srl.errors import SweSrlError
    from swe_srl.execution import RayBackend
    from swe_srl.execution.fakes import SleepJob

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    t0 = time.monotonic()
    with pytest.raises(SweSrlError, match=f"--ray-address 127.0.0.1:{port}: nothing answers there"):
        list(RayBackend(f"127.0.0.1:{port}").imap(SleepJob(), [1]))
    assert time.monotonic() - t0 < 10

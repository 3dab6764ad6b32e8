"""Environment images (cache, labels, repository snapshot), the task runner over sandboxes, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from swe_srl.errors import SweSrlError
from swe_srl.sandbox import EnvSpec
from swe_srl.sandbox.spec import LABEL_BASE_COMMIT, LABEL_HASH, LABEL_MANAGED

ROOT = Path(__file__).resolve().parents[2]


def swe_srl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swe_srl", *args], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600)


def test_env_spec_for_task(tmp_path):
    (tmp_path / "acme__calc.yaml").write_text("python: '3.9'\npip_packages: [pytest==7.4.0]\ntest_cmd: pytest -x\n")
    spec = EnvSpec.for_task({"instance_id": "i", "repo": "acme/calc", "spec": {"test_cmd": "pytest -q"}}, tmp_path)
    assert (spec.python, spec.pip_packages, spec.test_cmd) == ("3.9", ["pytest==7.4.0"], "pytest -q")
    with pytest.raises(SweSrlError, match="no environment spec"):
        EnvSpec.for_task({"instance_id": "i", "repo": "acme/other"}, tmp_path)
    with pytest.raises(SweSrlError, match=r"task i spec: pip_pakages: unknown key; valid: .*did you mean pip_packages"):
        EnvSpec.for_task({"instance_id": "i", "repo": "acme/other", "spec": {"pip_pakages": []}}, tmp_path)


def test_repository_specs_are_valid():
    for path in sorted((ROOT / "sandboxes" / "specs").glob("*.yaml")):
        EnvSpec.from_yaml(path)


@pytest.mark.docker
def test_env_image_is_cached_labelled_and_holds_only_the_base_history(env_image, env_spec, tiny_repo, docker_engine):
    from swe_srl.sandbox import DockerSandbox, build_env_image

    repo, base, later = tiny_repo
    before = docker_engine.images.get(env_image).id
    assert build_env_image(env_spec, repo, base, name="calc-test") == env_image
    assert docker_engine.images.get(env_image).id == before, "an unchanged image must come from the cache"
    labels = docker_engine.images.get(env_image).labels
    assert labels[LABEL_MANAGED] == "true" and labels[LABEL_BASE_COMMIT] == base and len(labels[LABEL_HASH]) == 64
    with DockerSandbox.start(env_image) as sb:
        r = sb.run(f"stat -c %U /testbed /testbed/calc/__init__.py; git rev-parse HEAD; "
                   f"git cat-file -e {later} 2>/dev/null && echo LEAK || echo no-future; git log --all --oneline | wc -l")
        assert r.output.split() == ["swe", "swe", base, "no-future", "1"]
        assert sb.base_commit == base


def test_snapshot_from_a_bare_mirror_keeps_only_the_base_history(tiny_repo, tmp_path):
    from swe_srl.sandbox.images import snapshot_repo

    repo, base, later = tiny_repo
    mirror = tmp_path / "calc.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)
    dest = tmp_path / "testbed"
    snapshot_repo(mirror, base, dest)
    git = lambda *a: subprocess.run(["git", *a], cwd=dest, stdout=subprocess.PIPE, text=True)  # noqa: E731
    assert git("rev-parse", "HEAD").stdout.strip() == base
    assert git("cat-file", "-e", later).returncode != 0
    assert git("for-each-ref").stdout == "" and git("status", "--porcelain").stdout == ""


@pytest.mark.docker
def test_bad_commit_is_a_clear_error(tiny_repo, env_spec):
    from swe_srl.sandbox import SandboxError, build_env_image

    with pytest.raises(SandboxError, match="commit 0000000 not found"):
        build_env_image(env_spec, tiny_repo[0], "0000000")


class _SandboxJob:
    """A task-runner job that starts a sandbox of ``image`` per item and calls ``work(sandbox, item)``."""

    name = "sandbox"

    def __init__(self, image, work):
        self.image, self.work = image, work

    def setup(self):
        return None

    def teardown(self, state):
        pass

    def run(self, item, ctx):
        from swe_srl.sandbox import DockerSandbox

        with DockerSandbox.start(self.image) as sb:
            return self.work(sb, item)


@pytest.mark.docker
def test_runner_bounds_concurrency_and_isolates_failures(env_image):
    from swe_srl.execution import LocalBackend

    live, peak, lock = [0], [0], threading.Lock()

    def work(sb, item):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        try:
            if item == "bad":
                raise ValueError("boom")
            sb.run(f"echo {item} > mine.txt")
            time.sleep(1.0)
            return sb.read_file("mine.txt").decode().strip(), sb.diff().count("new file")
        finally:
            with lock:
                live[0] -= 1

    results = {o.item: o for o in LocalBackend(2).imap(_SandboxJob(env_image, work), ["a", "bad", "c", "d"])}
    assert [results[k].value for k in "acd"] == [("a", 1), ("c", 1), ("d", 1)]
    assert results["bad"].error == "ValueError: boom" and results["bad"].value is None
    assert peak[0] == 2


@pytest.mark.docker
def test_cli_build_ls_prune(env_image, tiny_repo, tmp_path):
    repo, base, _ = tiny_repo
    spec = tmp_path / "spec.yaml"
    spec.write_text("python: '3.11'\npip_packages: [pytest]\ninstall: ['pip install --no-build-isolation -e .']\n")
    r = swe_srl("sandbox", "build", "--repo", str(repo), "--commit", base, "--spec", str(spec))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1].startswith("swe-srl/env:calc-")
    tasks = tmp_path / "tasks.jsonl"
    good = {"instance_id": "calc-1", "repo": "example/calc", "base_commit": base, "repo_path": str(repo),
            "problem_statement": "x", "spec": {"pip_packages": ["pytest"],
                                               "install": ["pip install --no-build-isolation -e ."]}}
    bad = {**good, "instance_id": "calc-2", "base_commit": "0" * 40}
    tasks.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    r = swe_srl("sandbox", "build", "--tasks", str(tasks))
    assert r.returncode == 0, r.stderr
    assert "calc-1\tswe-srl/env:calc-" in r.stdout and "skipped" in r.stderr and "calc-2" in r.stderr
    r = swe_srl("sandbox", "ls", "--json")
    assert r.returncode == 0, r.stderr
    listing = json.loads(r.stdout)
    assert env_image in {im["tag"] for im in listing["images"]}
    assert {im["kind"] for im in listing["images"]} >= {"base", "env"}
    r = swe_srl("sandbox", "prune")
    assert r.returncode == 0 and "containers removed" in r.stdout
    r = swe_srl("sandbox", "build", "--python", "2.7")
    assert r.returncode == 1 and "choose one of 3.9, 3.11, 3.13" in r.stderr
    for cmd in ("build", "ls", "prune"):
        assert "Examples:" in swe_srl("sandbox", cmd, "--help").stdout


def test_owner_labels_tell_live_dead_and_foreign_owners():
    import os

    from swe_srl.sandbox.spec import owner_alive, owner_label

    assert owner_alive(owner_label()) is True
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert owner_alive(owner_label(dead.pid)) is False
    host, pid, start = owner_label().rsplit(":", 2)
    assert owner_alive(f"{host}:{os.getpid()}:{int(start) + 1}") is False  # a reused pid
    assert owner_alive(f"some-other-host:{os.getpid()}:{start}") is None
    assert owner_alive("garbage") is False

"""The sandbox runs the Python a task's spec asks for: the base image of the
matching Debian release (3.9 bullseye, 3.13 trixie; 3.11 bookworm is what every
other Docker test uses), built with debootstrap on first use, with the task's
packages from a wheelhouse built for that Python. The gold patch of the calc task
resolves on each, and the sandbox's ``python`` is that version."""

from __future__ import annotations

import json

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.mark.parametrize(("python", "release"), [("3.9", "bullseye"), ("3.13", "trixie")])
def test_gold_resolves_on_the_python_the_spec_asks_for(python, release, calc_task, docker_engine, tmp_path):
    from swe_srl.harness.run import EvalConfig, run_evaluation
    from swe_srl.sandbox.images import base_image_tag

    task = {**calc_task, "instance_id": f"local__calc-py{python.replace('.', '')}",
            "spec": {**calc_task["spec"], "python": python}}
    preds = {task["instance_id"]: {"instance_id": task["instance_id"], "model_name_or_path": "gold",
                                   "model_patch": task["patch"]}}
    report = run_evaluation([task], preds, tmp_path, EvalConfig(run_id=f"py{python}", timeout=120))
    assert report["resolved_ids"] == [task["instance_id"]], json.dumps(report)[:2000]
    from swe_srl.agent.runner import RunConfig, prepare_task
    from swe_srl.sandbox import DockerSandbox

    image, config = prepare_task(task, RunConfig())  # the image the harness just built: cached
    with DockerSandbox.start(image, config, run_id="pytest") as sb:
        assert sb.run("python --version").output.startswith(f"Python {python}.")
    base = docker_engine.images.get(base_image_tag(python))
    os_release = docker_engine.containers.run(base.id, ["cat", "/etc/os-release"], remove=True, network_disabled=True)
    assert f"VERSION_CODENAME={release}" in os_release.decode()

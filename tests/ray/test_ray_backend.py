"""The Ray backend on a two-node Ray cluster on this machine (a head with one CPU and
4 GiB, a second node with two CPUs and 8 GiB, the ``docker`` resource each, started
with Ray's own cluster utilities): tasks spread over both nodes with one setup per
node; each node runs as many tasks at once as its CPUs and memory allow, never more;
an eval of the calc tasks gives the same verdicts and files as the local backend;
``tasks synthesize`` gives the local backend's tasks and statistics; an in-process
policy loads once per node, not once per task; a driver killed mid-run leaves no
container and the re-run resumes; a worker node stopped mid-run loses and
duplicates nothing (its task is retried on the other node, and the retry
recorded). One cluster for the module; the node test goes last."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import ray

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WRONG = ("diff --git a/calc/__init__.py b/calc/__init__.py\n--- a/calc/__init__.py\n+++ b/calc/__init__.py\n"
         "@@ -4,4 +4,4 @@ def add(a, b):\n \n \n def sub(a, b):\n-    return a - b\n+    return a * b\n")


GIB = 1 << 30
HEAD_MEMORY, WORKER_MEMORY = 4 * GIB, 8 * GIB  # what each node advertises (Ray's logical "memory")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Ray's memory monitor kills workers when the whole machine is above 95% memory (other
    # processes included): off here, so a busy shared machine does not decide these tests.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "memory": HEAD_MEMORY, "resources": {"docker": 1},
                                                      "_system_config": {"memory_monitor_refresh_ms": 0}})
    worker = c.add_node(num_cpus=2, memory=WORKER_MEMORY, resources={"docker": 1})
    c.wait_for_nodes()
    yield c, worker
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def _tasks(calc_task: dict, names: list[str]) -> list[dict]:
    return [dict(calc_task, instance_id=f"local__calc-{n}") for n in names]


def _run_containers(run_id: str) -> list[str]:
    return subprocess.run(["docker", "ps", "-aq", "--filter", f"label=swe-srl.run={run_id}"],
                          stdout=subprocess.PIPE, text=True).stdout.split()


def _wait_no_containers(run_id: str, seconds: float = 60) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _run_containers(run_id)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def test_tasks_spread_over_both_nodes_with_one_setup_per_node(cluster):
    from swe_srl.execution import RayBackend
    from swe_srl.execution.fakes import SleepJob

    c, _ = cluster
    backend = RayBackend(c.address)
    # tasks long enough (8 x 1 s over 3 slots) that a node whose worker starts late on a loaded
    # machine still gets some
    outcomes = list(backend.imap(SleepJob(1.0, fail=(3,)), range(8)))
    assert sorted(o.index for o in outcomes) == list(range(8))
    assert [o.error for o in outcomes if not o.ok] == ["ValueError: task 3 fails"]
    by_node = collections.defaultdict(set)
    for o in outcomes:
        if o.ok:
            by_node[o.node].add(o.value["setup_id"])
            assert o.value["node"] == o.node and o.attempts == 1 and not o.retries
    assert len(by_node) == 2 and all(len(ids) == 1 for ids in by_node.values())  # setup once per node
    assert sorted(n["slots"] for n in backend.describe()["nodes"].values()) == [1, 2]  # 1 and 2 CPUs
    assert not ray.is_initialized()  # the driver disconnected (the cluster stays)


def test_a_task_whose_worker_dies_is_retried_and_one_that_keeps_killing_it_ends_as_an_error(cluster, tmp_path):
    from swe_srl.execution import RayBackend
    from swe_srl.execution.fakes import SleepJob

    c, _ = cluster
    # one task at a time per node: a crash then takes only its own task down (with two at once
    # on the 2-CPU node, the other one is lost with it and retried too)
    once = RayBackend(c.address, slots_per_node=1)
    outcomes = {o.item: o for o in once.imap(SleepJob(0.2, crash=(2,), crash_once_dir=str(tmp_path)), range(6))}
    assert sorted(outcomes) == list(range(6)) and all(o.ok for o in outcomes.values())
    assert outcomes[2].attempts == 2 and len(outcomes[2].retries) == 1  # the retry is recorded
    assert all(o.attempts == 1 for i, o in outcomes.items() if i != 2)
    always = {o.item: o for o in RayBackend(c.address, max_attempts=2, slots_per_node=1).imap(SleepJob(0.2, crash=(1,)), range(4))}
    assert sorted(always) == list(range(4))
    assert always[1].error.startswith("lost its node 2 times") and len(always[1].retries) == 2
    assert all(always[i].ok for i in (0, 2, 3))  # the run went on


def test_eval_gives_the_local_backends_verdicts_and_files(cluster, calc_task, calc_image, tmp_path):
    from swe_srl.execution import RayBackend
    from swe_srl.harness.report import read_instance_report
    from swe_srl.harness.run import EvalConfig, run_evaluation

    c, _ = cluster
    tasks = _tasks(calc_task, ["gold-1", "gold-2", "empty", "wrong"])
    preds = {t["instance_id"]: {"instance_id": t["instance_id"], "model_name_or_path": "m",
                                "model_patch": {"gold": t["patch"], "empty": "", "wrong": WRONG}[
                                    t["instance_id"].split("-")[-1] if "gold" not in t["instance_id"] else "gold"]}
             for t in tasks}
    local = run_evaluation(tasks, preds, tmp_path / "local", EvalConfig(run_id="parity-local", workers=2, timeout=120))
    remote = run_evaluation(tasks, preds, tmp_path / "ray", EvalConfig(run_id="parity-ray", timeout=120),
                            backend=RayBackend(c.address))
    for key in ("resolved_ids", "unresolved_ids", "empty_patch_ids", "error_ids", "completed_instances"):
        assert local[key] == remote[key], key
    assert local["resolved_ids"] == ["local__calc-gold-1", "local__calc-gold-2"]
    assert remote["backend"]["name"] == "ray" and sum(n["tasks"] for n in remote["backend"]["nodes"].values()) == 4
    for t in tasks:
        iid = t["instance_id"]
        lv, rv = read_instance_report(tmp_path / "local", iid), read_instance_report(tmp_path / "ray", iid)
        for key in ("status", "resolved", "patch_successfully_applied", "tests_status", "apply_method"):
            assert lv.get(key) == rv.get(key), (iid, key)
        assert rv["node"] in remote["backend"]["nodes"]
        files = sorted(p.name for p in (tmp_path / "local" / iid).iterdir())
        assert files == sorted(p.name for p in (tmp_path / "ray" / iid).iterdir())
        for name in ("patch.diff", "eval.sh"):
            assert (tmp_path / "local" / iid / name).read_bytes() == (tmp_path / "ray" / iid / name).read_bytes()
    wrong = read_instance_report(tmp_path / "ray", "local__calc-wrong")
    assert wrong["tests_status"]["PASS_TO_PASS"]["failure"] == ["tests/test_calc.py::test_sub"]


def test_killed_driver_leaves_no_container_and_the_rerun_resumes(cluster, calc_task, calc_image, tmp_path):
    from swe_srl.harness.report import read_instance_report
    from swe_srl.io import write_jsonl

    c, _ = cluster
    write_jsonl(tmp_path / "tasks.jsonl", _tasks(calc_task, [f"k{i}" for i in range(6)]))
    run_id = f"ray-killed-{os.getpid()}"
    out = tmp_path / "out"
    args = [sys.executable, "-m", "swe_srl", "eval", "--tasks", str(tmp_path / "tasks.jsonl"), "--predictions", "gold",
            "--run-id", run_id, "--out", str(out), "--backend", "ray", "--ray-address", c.address]
    proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while not list(out.glob("*/report.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/report.json")}
    assert 1 <= len(finished) < 6
    # The run's node actors died with it: their sandboxes stop when their session closes; one caught
    # between start and session has a dead owner, so the node's reaper removes it (the re-run's start).
    from swe_srl.sandbox.spec import LABEL_OWNER, owner_alive

    for cid in _wait_no_containers(run_id, 30):
        owner = subprocess.run(["docker", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL_OWNER}"}}}}', cid],
                               stdout=subprocess.PIPE, text=True).stdout.strip()
        assert owner and owner_alive(owner) is False, (cid, owner)
    again = subprocess.run(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert again.returncode == 0, again.stdout[-3000:]
    assert "instances per node" in again.stdout
    assert _run_containers(run_id) == []  # reaped at the re-run's start, or gone before
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_instances"] == 6 and report["skipped_finished_instances"] == len(finished)
    for iid, mtime in finished.items():
        assert (out / iid / "report.json").stat().st_mtime_ns == mtime  # not redone
        assert read_instance_report(out, iid)["resolved"]


def test_each_node_runs_as_many_tasks_at_once_as_its_cpus_and_memory_allow(cluster):
    from swe_srl.execution import RayBackend
    from swe_srl.execution.fakes import SleepJob

    c, _ = cluster
    # CPU-bound (1 GiB a task): the head 1 at once, the 2-CPU node 2
    backend = RayBackend(c.address, task_cpus=1, task_memory=GIB)
    outcomes = list(backend.imap(SleepJob(1.0), range(16)))  # ~6 s: long enough for a late-starting worker
    assert sorted(o.index for o in outcomes) == list(range(16)) and all(o.ok for o in outcomes)
    nodes = backend.describe()["nodes"]
    assert sorted((n["cpus"], n["memory"], n["slots"]) for n in nodes.values()) == [
        (1.0, HEAD_MEMORY, 1), (2.0, WORKER_MEMORY, 2)]
    ran: dict[str, list[dict]] = collections.defaultdict(list)
    for o in outcomes:
        ran[o.node].append(o.value)
    for label, n in nodes.items():
        assert n["tasks"] == len(ran[label]) > 0  # the per-node count the progress and summary show
        assert n["peak"] == n["slots"]  # the driver filled the node's slots, and never went past them
        # what the node's own process saw: never more tasks running at once than its slots
        assert max(v["running"] for v in ran[label]) <= n["slots"]
    # memory-bound (5 GiB a task): 4 GiB and 8 GiB advertised give one task at a time on each node
    backend = RayBackend(c.address, task_cpus=1, task_memory=5 * GIB)
    outcomes = list(backend.imap(SleepJob(0.2), range(6)))
    assert all(o.ok for o in outcomes)
    nodes = backend.describe()["nodes"]
    assert [(n["slots"], n["peak"]) for n in nodes.values()] == [(1, 1), (1, 1)]
    assert all(o.value["running"] == 1 for o in outcomes)
    assert backend.describe()["task_request"] == {"cpus": 1, "memory": 5 * GIB}


def _harness_calc_files() -> tuple[str, str]:
    """The small calc repository of the harness's synthesis test (its source and tests)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "harness" / "test_e2e_docker.py"
    spec = importlib.util.spec_from_file_location("swe_srl_tests_e2e_docker", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CALC, module.CALC_TESTS


def test_synthesize_on_the_cluster_gives_the_local_backends_tasks_and_stats(cluster, docker_engine, tmp_path):
    c, _ = cluster
    repo = tmp_path / "raysynth"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("")
    source, tests = _harness_calc_files()
    (repo / "pkg" / "calc.py").write_text(source)
    (repo / "tests" / "test_calc.py").write_text(tests)
    env = {**os.environ, "COLUMNS": "200", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "calc"]):
        subprocess.run(["git", *cmd], cwd=repo, env=env, check=True)
    runs = {}
    for name, extra in (("local", []), ("ray", ["--backend", "ray", "--ray-address", c.address])):
        # separate caches: separate journals, so each backend runs every suite run itself
        res = subprocess.run([sys.executable, "-m", "swe_srl", "tasks", "synthesize", "--repo", str(repo), "--out",
                              str(tmp_path / f"{name}.jsonl"), "--max", "3", "--max-tries", "8",
                              "--cache-dir", str(tmp_path / f"cache-{name}"),
                              "--test-cmd", "python -m pytest -rA --tb=short -p no:cacheprovider", *extra],
                             cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900,
                             env=env)
        assert res.returncode == 0, res.stdout[-3000:]
        tasks = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        stats = json.loads((tmp_path / f"{name}.jsonl.stats.json").read_text())
        runs[name] = (tasks, stats, res.stdout)
    (local, local_stats, _), (remote, remote_stats, out) = runs["local"], runs["ray"]
    assert local, "no task kept"
    key = ("instance_id", "base_commit", "patch", "FAIL_TO_PASS", "PASS_TO_PASS", "test_files", "problem_statement",
           "spec", "meta")
    assert [[t[k] for k in key] for t in remote] == [[t[k] for k in key] for t in local]
    same = lambda st: {k: v for k, v in st.items() if k not in ("baseline_s", "sandbox_restarts", "backend")}  # noqa: E731
    assert same(remote_stats) == same(local_stats)
    assert remote_stats["from_journal"] == 0 and remote_stats["format"] == "swe-srl.synthesis-stats/v1"
    per_node = remote_stats["backend"]["suite_runs_per_node"]
    assert remote_stats["backend"]["name"] == "ray" and len(per_node) == 2
    assert sum(per_node.values()) >= 1 + remote_stats["tried"]  # the baseline, every try (and some wasted)
    assert local_stats["backend"]["name"] == "local" and list(local_stats["backend"]["suite_runs_per_node"]) == ["local"]
    assert "suite runs per node" in out
    labels = subprocess.run(["docker", "ps", "-a", "--filter", "label=swe-srl.run", "--format",
                             '{{.Label "swe-srl.run"}}'], stdout=subprocess.PIPE, text=True).stdout.split()
    assert not [x for x in labels if x.startswith("synth-local__raysynth")]  # every suite sandbox removed


def test_an_in_process_policy_loads_once_per_node_not_once_per_task(cluster, calc_task, calc_image, tmp_path):
    from swe_srl.agent.runner import run_tasks
    from swe_srl.execution import RayBackend
    from swe_srl.execution.fakes import LOADS_ENV
    from swe_srl.io import write_jsonl
    from swe_srl.trajectories.models import Action, Step, Trajectory

    c, _ = cluster
    tasks = _tasks(calc_task, [f"p{i}" for i in range(6)])
    fix = Step(Action("bash", {"command": "sed -i '2s/a - b/a + b/' calc/__init__.py"}), "fix", "")
    rec = tmp_path / "rec.jsonl"
    write_jsonl(rec, [Trajectory(id=t["instance_id"], source_format="x", instance_id=t["instance_id"], steps=[fix],
                                 patch=t["patch"]).to_dict() for t in tasks])
    loads = tmp_path / "loads.txt"
    # every process of this driver's job counts its load_policy calls (the backend joins this connection)
    ray.init(address=c.address, log_to_driver=False, runtime_env={
        "worker_process_setup_hook": "swe_srl.execution.fakes.count_policy_loads",
        "env_vars": {LOADS_ENV: str(loads)}})
    try:
        result = run_tasks(tasks, None, tmp_path / "out", policy_spec=f"replay:{rec}", backend=RayBackend(c.address))
    finally:
        ray.shutdown()
    assert result["completed"] == 6 and not result["errors"], result["errors"]
    nodes = {label: n for label, n in result["config"]["backend"]["nodes"].items() if n["tasks"]}
    assert len(nodes) == 2 and sum(n["tasks"] for n in nodes.values()) == 6
    lines = loads.read_text().splitlines()
    assert len(lines) == len(nodes), lines  # once per node actor: 2 loads for 6 tasks
    assert len({line.split()[0] for line in lines}) == 2 and all(line.endswith(f"replay:{rec}") for line in lines)


def test_stopping_a_worker_node_mid_run_loses_and_duplicates_nothing(cluster, calc_task, calc_image, tmp_path):
    import psutil

    from swe_srl.execution import RayBackend
    from swe_srl.harness.report import read_instance_report
    from swe_srl.harness.run import EvalConfig, run_evaluation
    from swe_srl.sandbox.spec import LABEL_OWNER

    c, worker = cluster
    raylet = worker.all_processes["raylet"][0].process.pid
    run_id = f"ray-node-{os.getpid()}"
    tasks = _tasks(calc_task, [f"n{i}" for i in range(6)])
    preds = {t["instance_id"]: {"instance_id": t["instance_id"], "model_name_or_path": "m", "model_patch": t["patch"]}
             for t in tasks}
    removed = threading.Event()

    def on_worker(pid: int) -> bool:
        try:
            return raylet in {p.pid for p in psutil.Process(pid).parents()}
        except psutil.NoSuchProcess:
            return False

    def stop_worker_when_it_runs_a_task() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            ids = _run_containers(run_id)
            owners = subprocess.run(["docker", "inspect", "-f", f'{{{{index .Config.Labels "{LABEL_OWNER}"}}}}', *ids],
                                    stdout=subprocess.PIPE, text=True).stdout.split() if ids else []
            if any(on_worker(int(o.rsplit(":", 2)[1])) for o in owners):
                c.remove_node(worker, allow_graceful=False)
                removed.set()
                return
            time.sleep(0.1)

    seen: list[str] = []
    killer = threading.Thread(target=stop_worker_when_it_runs_a_task, daemon=True)
    killer.start()
    report = run_evaluation(tasks, preds, tmp_path, EvalConfig(run_id=run_id, timeout=120),
                            on_result=lambda iid, v, skipped: seen.append(iid), backend=RayBackend(c.address))
    killer.join(timeout=5)
    assert removed.is_set(), "the worker node never ran a task"
    assert sorted(seen) == sorted(t["instance_id"] for t in tasks)  # each instance once: nothing lost, nothing twice
    assert report["resolved_instances"] == 6 and report["error_ids"] == []
    retried = [read_instance_report(tmp_path, t["instance_id"]) for t in tasks]
    retried = [v for v in retried if v.get("node_retries")]
    assert retried, "no task was retried after its node stopped"
    for v in retried:
        assert v["resolved"] and v["node"] != v["node_retries"][0]["node"]
    assert _wait_no_containers(run_id) == []

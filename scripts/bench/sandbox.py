#!/usr/bin/env python
"""Benchmark of the Docker sandboxes (issue 3).

Design choices:
- everything is measured in the same run on the same image, so ratios hold on a
  noisy shared machine: the persistent session's per-command round trip beside a
  plain `docker exec <container> true` of the same no-op command;
- the image is a tiny repository's environment image built (once, then cached) from
  a deterministic git repository made in a temporary folder;
- medians, not means (one slow outlier on a 2-core machine says little);
- throughput: N sandboxes, one thread each, running `echo` for a fixed time.

Keys written by --json PATH: ready_s, session_overhead_ms, docker_exec_overhead_ms,
overhead_ratio, reset_s, checkpoint_s, restore_s, docker_commit_s,
throughput {"1": cmds/s, "2": ..., "4": ...}.

Usage: .venv/bin/python scripts/bench/sandbox.py [--json out/bench/sandbox.json] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def make_repo(root: Path) -> tuple[Path, str]:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    repo = root / "benchrepo"
    (repo / "pkg").mkdir(parents=True)
    for i in range(50):
        (repo / "pkg" / f"mod{i}.py").write_text("".join(f"def f{j}(x):\n    return x + {j}\n\n" for j in range(40)))
    (repo / "README.md").write_text("bench\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, stdout=subprocess.PIPE, text=True)
    return repo, sha.stdout.strip()


def median_time(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput measurement")
    args = ap.parse_args()

    from swe_srl.io import write_json
    from swe_srl.sandbox import DockerSandbox, EnvSpec, build_env_image

    reps = 3 if args.quick else 7
    with tempfile.TemporaryDirectory() as tmp:
        repo, sha = make_repo(Path(tmp))
        t0 = time.perf_counter()
        image = build_env_image(EnvSpec(), repo, sha, name="bench")
        build_s = time.perf_counter() - t0

    # ready: from the request to the first command's result
    ready = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with DockerSandbox.start(image, run_id="bench") as sb:
            sb.run("true")
            ready.append(time.perf_counter() - t0)
    ready_s = statistics.median(ready)

    with DockerSandbox.start(image, run_id="bench") as sb:
        for _ in range(20):
            sb.run("true")  # warm-up
        n = 100 if args.quick else 500
        session_ms = median_time(lambda: sb.run("true"), n) * 1000
        exec_ms = median_time(lambda: subprocess.run(["docker", "exec", sb.container_id, "true"], check=True),
                              10 if args.quick else 30) * 1000

        def dirty() -> None:
            sb.run("for i in 1 2 3 4 5; do echo x >> pkg/mod$i.py; done; echo new > NEW.txt; mkdir -p d && touch d/f")

        resets = []
        for _ in range(reps):
            dirty()
            t0 = time.perf_counter()
            sb.reset()
            resets.append(time.perf_counter() - t0)
        reset_s = statistics.median(resets)
        dirty()
        checkpoint_s = median_time(sb.checkpoint, reps)
        ck = sb.checkpoint()
        restore_s = median_time(lambda: sb.restore(ck), reps)
        # the alternative we did not take: `docker commit` (a restore would then need a new container)
        from swe_srl.sandbox.docker_sandbox import _client

        client = _client()
        t0 = time.perf_counter()
        snap = client.api.commit(sb.container_id, repository="swe-srl/bench-commit", tag="tmp",
                                 conf={"Labels": {"swe-srl.managed": "true", "swe-srl.kind": "env"}})
        docker_commit_s = time.perf_counter() - t0
        client.images.remove(snap["Id"], force=True)

    throughput: dict[str, float] = {}
    for conc in (1, 2, 4):
        sandboxes = [DockerSandbox.start(image, run_id="bench") for _ in range(conc)]
        try:
            counts = [0] * conc
            stop = time.perf_counter() + args.seconds

            def worker(i: int) -> None:
                while time.perf_counter() < stop:
                    sandboxes[i].run("echo x")
                    counts[i] += 1

            threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            throughput[str(conc)] = round(sum(counts) / (time.perf_counter() - t0), 1)
        finally:
            for s in sandboxes:
                s.close()

    figures = {
        "ready_s": round(ready_s, 3),
        "session_overhead_ms": round(session_ms, 3),
        "docker_exec_overhead_ms": round(exec_ms, 1),
        "overhead_ratio": round(exec_ms / session_ms, 1),
        "reset_s": round(reset_s, 4),
        "checkpoint_s": round(checkpoint_s, 4),
        "restore_s": round(restore_s, 4),
        "docker_commit_s": round(docker_commit_s, 3),
        "throughput": throughput,
        "image_build_or_cache_s": round(build_s, 2),
        "image": image,
    }
    rows = [
        ("container ready (request -> first result)", f"{ready_s:.3f} s", "goal < 1 s"),
        ("per-command overhead, persistent session", f"{session_ms:.3f} ms", "goal < 2 ms"),
        ("per-command overhead, plain docker exec", f"{exec_ms:.1f} ms", f"x{exec_ms / session_ms:.0f} slower"),
        ("reset (50-file repo, 7 paths dirty)", f"{reset_s * 1000:.1f} ms", "goal < 300 ms"),
        ("checkpoint / restore", f"{checkpoint_s * 1000:.1f} / {restore_s * 1000:.1f} ms", ""),
        ("docker commit (the alternative, not used)", f"{docker_commit_s * 1000:.0f} ms", "+ a new container"),
    ] + [(f"throughput, {k} sandbox(es)", f"{v:.0f} commands/s", "") for k, v in throughput.items()]
    width = max(len(r[0]) for r in rows)
    print("sandbox benchmark")
    for name, value, note in rows:
        print(f"  {name:<{width}}  {value:>14}  {note}")
    if args.json:
        write_json(args.json, figures)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

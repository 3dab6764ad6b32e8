"""SWE-smith-style task synthesis, offline: procedural bugs in a real repository.

1. The repository: a local git repository (its HEAD), or a PyPI source
   distribution (``--pypi NAME==VERSION``: ``pip download --no-binary``,
   unpacked, committed as the base of a bare mirror
   ``<cache>/repos/pypi__<name>.git``, tag ``pypi-<version>``). Commits are
   made with a fixed author and date, so the same input gives the same shas
   (and the sandbox images stay cached across runs).
2. The suite runs once in a sandbox (the baseline).
3. Mutations (:mod:`swe_srl.tasks.mutate`) are tried one at a time in the same
   sandbox: write the mutated file, rerun the suite (under a timeout), put the
   file back. A bug is kept when it breaks at least one baseline-passing test
   while others still pass; no-ops, break-everything bugs and hangs are dropped
   and counted.
4. Each kept bug becomes a root commit (no parent: the fix is not in the
   history an agent can see) tagged ``swe-srl/<instance_id>``; the task's
   ``base_commit`` is that commit, ``patch`` the fix (the reverse of the bug),
   ``test_patch`` empty (SWE-smith's convention) with ``test_files`` the test
   files whose tests fail; ``FAIL_TO_PASS`` are the broken tests,
   ``PASS_TO_PASS`` the other passing tests of those files.

``synthesize_pypi("more-itertools==10.5.0", max_tasks=3)`` is the helper tests
and other stages reuse; outputs are cached by the mirror and image caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from swe_srl.errors import SweSrlError
from swe_srl.harness import eval_script as es
from swe_srl.harness.log_parsers import PASSED, XFAIL, status_map_parser
from swe_srl.tasks.mutate import KINDS, sample_sites
from swe_srl.tasks.statement import write_problem_statement

SYNTHESIS_TEST_CMD = "python -m pytest --no-header -rA --tb=short -p no:cacheprovider"
DEFAULT_PIP = ["pytest==8.3.5"]
# Bump when what a journal entry holds changes (e.g. the problem-statement writer).
JOURNAL_VERSION = 2
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "swe-srl", "GIT_AUTHOR_EMAIL": "swe-srl@localhost", "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
    "GIT_COMMITTER_NAME": "swe-srl", "GIT_COMMITTER_EMAIL": "swe-srl@localhost",
    "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}
_SKIP_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "bench", "scripts",
              "tools", "build", "dist", ".github", "requirements"}
_SKIP_FILES = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py", "__main__.py", "_version.py",
               "version.py"}

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def cache_root() -> Path:
    """Where mirrors and downloads are cached (``SWE_SRL_CACHE``, else ``~/.cache/swe-srl``)."""
    root = Path(os.environ.get("SWE_SRL_CACHE", Path.home() / ".cache" / "swe-srl"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def git(args: list[str], cwd: Path | str, *, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
    full_env = {**os.environ, **_GIT_ENV, **(env or {})}
    proc = subprocess.run(["git", *args], cwd=cwd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=full_env)
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SweSrlError(f"git {' '.join(args[:2])} in {cwd} failed: {msg[-1] if msg else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------- repositories
def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_requirement(requirement: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!_-]+)\s*", requirement)
    if not m:
        raise SweSrlError(f"--pypi {requirement!r}: expected NAME==VERSION (an exact version)")
    return m.group(1), m.group(2)


def _commit_dir(mirror: Path, src: Path, message: str, tag: str) -> str:
    """Commit the files of ``src`` as a root commit in the bare ``mirror``; tag it."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(src), "GIT_DIR": str(mirror)}
        git(["add", "-A", "-f", "."], src, env=env)
        tree = git(["write-tree"], src, env=env).strip()
    sha = git(["commit-tree", tree, "-m", message], mirror).strip()
    git(["update-ref", f"refs/tags/{tag}", sha], mirror)
    return sha


def _tag_sha(mirror: Path, tag: str) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], cwd=mirror,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def _ensure_bare(mirror: Path) -> None:
    if not (mirror / "HEAD").is_file():
        mirror.mkdir(parents=True, exist_ok=True)
        git(["init", "-q", "--bare", "."], mirror)


def _unpack(archive: Path, dest: Path) -> Path:
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(dest, filter="data")
    entries = [p for p in dest.iterdir()]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else dest


def prepare_pypi(requirement: str, *, cache_dir: Path | None = None, log: Log = _quiet) -> tuple[Path, str, str, str]:
    """``(mirror, base_commit, name, version)`` for a PyPI sdist, downloaded once."""
    name, version = parse_requirement(requirement)
    norm = _normalize(name)
    root = Path(cache_dir) if cache_dir else cache_root()
    mirror = root / "repos" / f"pypi__{norm}.git"
    tag = f"pypi-{version}"
    if (mirror / "HEAD").is_file():
        sha = _tag_sha(mirror, tag)
        if sha:
            return mirror, sha, norm, version
    with tempfile.TemporaryDirectory(prefix="swe-srl-sdist-") as tmp:
        dl = Path(tmp) / "dl"
        log(f"pip download --no-binary :all: {name}=={version}")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
             "--no-binary", ":all:", "-d", str(dl), f"{name}=={version}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        archives = [p for p in dl.glob("*") if p.name.endswith((".tar.gz", ".zip", ".tar.bz2", ".tgz"))] if dl.exists() else []
        if proc.returncode != 0 or not archives:
            tail = proc.stdout.strip().splitlines()[-1:] or ["no source distribution"]
            raise SweSrlError(f"--pypi {requirement}: cannot download the source distribution ({tail[0]})")
        src = _unpack(archives[0], Path(tmp) / "src")
        _ensure_bare(mirror)
        sha = _commit_dir(mirror, src, f"{name} {version} (PyPI sdist)", tag)
    return mirror, sha, norm, version


def prepare_local(path: str | Path) -> tuple[Path, str, str]:
    """``(repo, base_commit, name)`` for a local git repository (its HEAD)."""
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise SweSrlError(f"--repo {path}: no such directory")
    try:
        sha = git(["rev-parse", "--verify", "HEAD^{commit}"], p).strip()
    except SweSrlError:
        raise SweSrlError(f"--repo {path}: not a git repository with a commit") from None
    return p, sha, p.name.removesuffix(".git")


# --------------------------------------------------------------------------- files
def is_test_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return path.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py") or (
        name.startswith("test") and any(part in ("tests", "test") for part in PurePosixPath(path).parts[:-1])))


def is_source_file(path: str) -> bool:
    pp = PurePosixPath(path)
    if not path.endswith(".py") or is_test_file(path) or pp.name in _SKIP_FILES:
        return False
    return not any(part in _SKIP_DIRS or part.startswith(".") for part in pp.parts[:-1])


def list_files(repo: Path, commit: str) -> list[str]:
    return [f for f in git(["ls-tree", "-r", "--name-only", commit], repo).splitlines() if f]


def read_blob(repo: Path, commit: str, path: str) -> str:
    return git(["show", f"{commit}:{path}"], repo)


def _file_mode(repo: Path, commit: str, path: str) -> str:
    out = git(["ls-tree", commit, "--", path], repo).split()
    return out[0] if out else "100644"


def commit_bug(repo: Path, base: str, path: str, mutated: str, message: str, tag: str) -> str:
    """A root commit with ``base``'s tree and ``path`` replaced by ``mutated``."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        git(["read-tree", base], repo, env=env)
        blob = git(["hash-object", "-w", "--stdin"], repo, input=mutated.encode()).strip()
        git(["update-index", "--cacheinfo", f"{_file_mode(repo, base, path)},{blob},{path}"], repo, env=env)
        tree = git(["write-tree"], repo, env=env).strip()
    sha = git(["commit-tree", tree, "-m", message], repo).strip()
    git(["update-ref", f"refs/tags/{tag}", sha], repo)
    return sha


# --------------------------------------------------------------------------- synthesis
@dataclass
class SynthesisStats:
    tried: int = 0
    kept: int = 0
    no_op: int = 0
    broke_everything: int = 0
    hang: int = 0
    from_journal: int = 0
    not_rendered: int = 0
    sandbox_restarts: int = 0
    same_function: int = 0
    baseline_passed: int = 0
    baseline_failed: int = 0
    baseline_s: float = 0.0
    sites: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    dropped_examples: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_spec(extra_pip: list[str] | None = None, *, python: str = "3.11", src_layout: bool = False) -> dict[str, Any]:
    cmd = SYNTHESIS_TEST_CMD if not src_layout else f"PYTHONPATH=src {SYNTHESIS_TEST_CMD}"
    return {"python": python, "pip_packages": [*DEFAULT_PIP, *(extra_pip or [])], "install": [],
            "test_cmd": cmd, "log_parser": "pytest"}


def _passing(status: str) -> bool:
    return status in (PASSED, XFAIL)


def synthesize(
    repo_path: Path,
    base_commit: str,
    *,
    repo: str,
    label: str,
    spec: dict[str, Any],
    max_tasks: int = 5,
    max_tries: int | None = None,
    seed: int = 0,
    run_timeout: float | None = None,
    kinds: tuple[str, ...] = KINDS,
    log: Log = _quiet,
    on_kept: Callable[[dict[str, Any]], None] | None = None,
    on_try: Callable[[SynthesisStats], None] | None = None,
    version: str = "",
    journal_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], SynthesisStats]:
    """Synthesize up to ``max_tasks`` tasks from ``repo_path`` at ``base_commit``.

    With ``journal_dir``, the outcome of every suite run is journaled there and
    reused by later calls (same commit, spec and test command)."""
    from swe_srl.sandbox import DockerSandbox, EnvSpec, SandboxConfig, build_env_image

    stats = SynthesisStats()
    env_spec = EnvSpec.from_dict(spec, f"{repo} spec")
    parse = status_map_parser(env_spec.log_parser)
    files = list_files(repo_path, base_commit)
    test_files = sorted(f for f in files if is_test_file(f))
    sources = {f: read_blob(repo_path, base_commit, f) for f in files if is_source_file(f)}
    if not test_files:
        raise SweSrlError(f"{repo}: no test files (test_*.py / *_test.py) at {base_commit[:12]}")
    if not sources:
        raise SweSrlError(f"{repo}: no Python source files to mutate at {base_commit[:12]}")
    cmd = es.test_command(env_spec.test_cmd, test_files)
    out_file = "/tmp/swe_srl_synth_output.txt"
    tasks: list[dict[str, Any]] = []
    max_tries = max_tries if max_tries is not None else max(20, 10 * max_tasks)
    config = SandboxConfig(network=env_spec.network, memory="4g", command_timeout=600)
    journal = Journal(journal_dir / f"{hashlib.sha256(repr((JOURNAL_VERSION, base_commit, spec, cmd)).encode()).hexdigest()[:16]}.jsonl"
                      if journal_dir else None)
    from swe_srl.sandbox import SandboxError

    state: dict[str, Any] = {"sb": None, "image": None}

    def sandbox() -> Any:
        if state["sb"] is None:
            if state["image"] is None:
                log(f"building the environment image of {repo}")
                state["image"] = build_env_image(env_spec, repo_path, base_commit, name=label.split(".")[0], log=log)
            state["sb"] = DockerSandbox.start(state["image"], config, run_id=f"synth-{label}")
            state["sb"].run("export PYTHONDONTWRITEBYTECODE=1")
        return state["sb"]

    def run_suite(timeout: float, mutation: Any = None) -> tuple[dict[str, str], str, bool, float]:
        """One run of the suite (with ``mutation`` applied); a sandbox that dies
        under it is replaced and the run retried once."""
        for attempt in (1, 2):
            sb = sandbox()
            try:
                if mutation is not None:
                    sb.write_file(mutation.path, mutation.mutated)
                t = time.monotonic()
                res = sb.run(f"{cmd} > {out_file} 2>&1", timeout=timeout)
                dt = time.monotonic() - t
                text = sb.read_file(out_file).decode("utf-8", "replace")
                if mutation is not None:
                    sb.write_file(mutation.path, mutation.original)
                return parse(text), text, res.timed_out, dt
            except SandboxError:
                stats.sandbox_restarts += 1
                with contextlib.suppress(Exception):
                    state["sb"].close()
                state["sb"] = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    try:
        baseline = journal.get("baseline")
        if baseline is None:
            log("baseline run of the test suite")
            base_status, base_log, timed_out, base_s = run_suite(run_timeout or 900)
            if timed_out:
                raise SweSrlError(f"{repo}: the test suite did not finish in the baseline run")
            baseline = {"status": base_status, "s": base_s, "tail": "\n".join(base_log.strip().splitlines()[-5:])}
            if any(_passing(v) for v in base_status.values()):
                journal.add("baseline", baseline)
        base_status = baseline["status"]
        baseline_pass = {t for t, v in base_status.items() if _passing(v)}
        stats.baseline_passed = len(baseline_pass)
        stats.baseline_failed = sum(1 for v in base_status.values() if v in ("FAILED", "ERROR"))
        stats.baseline_s = round(baseline["s"], 2)
        if not baseline_pass:
            raise SweSrlError(f"{repo}: no test passes at the base commit; see the test command {cmd!r}\n"
                              + baseline["tail"])
        timeout = run_timeout or max(30.0, 5 * baseline["s"] + 10)
        sites = sample_sites(sources, seed=seed, kinds=kinds)
        stats.sites = len(sites)
        kept_functions: set[tuple[str, str]] = set()
        for site in sites:
            if len(tasks) >= max_tasks or stats.tried >= max_tries:
                break
            if (site.path, site.function) in kept_functions:
                stats.same_function += 1
                continue
            mutation = site.render()
            if mutation is None:
                stats.not_rendered += 1
                continue
            stats.tried += 1
            key = hashlib.sha256(f"{mutation.path}\0{mutation.mutated}".encode()).hexdigest()
            outcome = journal.get(key)
            if outcome is None:
                status, text, hung, _ = run_suite(timeout, mutation)
                broken = sorted(t for t in baseline_pass if not _passing(status.get(t, "")))
                if hung:
                    outcome = {"outcome": "hang"}
                elif not broken:
                    outcome = {"outcome": "no_op"}
                elif len(broken) == len(baseline_pass):
                    outcome = {"outcome": "broke_everything"}
                else:
                    outcome = {"outcome": "kept", "broken": broken,
                               "problem_statement": write_problem_statement(
                                   function=mutation.function, path=mutation.path, fail_to_pass=broken, log=text,
                                   project=repo)}
                journal.add(key, outcome)
            else:
                stats.from_journal += 1
            if on_try:
                on_try(stats)
            kind = outcome["outcome"]
            if kind != "kept":
                setattr(stats, kind, getattr(stats, kind) + 1)
                if kind != "no_op":
                    stats.dropped_examples.append({"reason": kind, "mutation": mutation.description})
                continue
            broken = outcome["broken"]
            targets = sorted({t.split("::", 1)[0] for t in broken})
            p2p = sorted(t for t in baseline_pass - set(broken) if t.split("::", 1)[0] in targets)
            iid = f"{label}.{mutation.kind}__{key[:8]}"
            bug = commit_bug(repo_path, base_commit, mutation.path, mutation.mutated, f"{repo}: {iid}", f"swe-srl/{iid}")
            fix = git(["diff", "--no-color", "--no-ext-diff", bug, base_commit], repo_path)
            task = {
                "instance_id": iid,
                "repo": repo,
                "base_commit": bug,
                "patch": fix,
                "test_patch": "",
                "problem_statement": outcome["problem_statement"],
                "hints_text": "",
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "version": version,
                "environment_setup_commit": base_commit,
                "FAIL_TO_PASS": broken,
                "PASS_TO_PASS": p2p,
                "test_files": targets,
                "repo_path": str(repo_path),
                "spec": dict(spec),
                "meta": {"source": "swe-srl synthesize", "mutation": mutation.kind, "file": mutation.path,
                         "function": mutation.function, "line": mutation.line, "description": mutation.description,
                         "original_commit": base_commit},
            }
            tasks.append(task)
            kept_functions.add((mutation.path, mutation.function))
            stats.kept += 1
            stats.by_kind[mutation.kind] = stats.by_kind.get(mutation.kind, 0) + 1
            log(f"kept {iid}: {len(broken)} failing, {len(p2p)} passing")
            if on_kept:
                on_kept(task)
    finally:
        if state["sb"] is not None:
            state["sb"].close()
    return tasks, stats


class Journal:
    """Outcomes of the suite runs already made (JSONL, appended as they come), so
    an interrupted or repeated synthesis resumes without rerunning them."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, Any] = {}
        if path is not None and path.is_file():
            from swe_srl.io import iter_jsonl

            for _, row in iter_jsonl(path, strict=False):
                if isinstance(row, dict) and "key" in row:
                    self.entries[row["key"]] = row["value"]

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def add(self, key: str, value: Any) -> None:
        self.entries[key] = value
        if self.path is not None:
            from swe_srl.io import append_jsonl

            append_jsonl(self.path, {"key": key, "value": value})


def _src_layout(repo: Path, commit: str) -> bool:
    files = list_files(repo, commit)
    return any(f.startswith("src/") and f.endswith("/__init__.py") for f in files) and not any(
        f.count("/") == 1 and f.endswith("/__init__.py") and not f.startswith(("tests/", "test/")) for f in files)


def synthesize_pypi(
    requirement: str,
    *,
    max_tasks: int = 3,
    max_tries: int | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    extra_pip: list[str] | None = None,
    python: str = "3.11",
    kinds: tuple[str, ...] = KINDS,
    log: Log = _quiet,
    spec_overrides: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[list[dict[str, Any]], SynthesisStats]:
    """Tasks from a PyPI sdist (``NAME==VERSION``); the mirror is cached under ``cache_dir``."""
    mirror, base, name, version = prepare_pypi(requirement, cache_dir=cache_dir, log=log)
    spec = {**default_spec(extra_pip, python=python, src_layout=_src_layout(mirror, base)), **(spec_overrides or {})}
    kw.setdefault("journal_dir", (Path(cache_dir) if cache_dir else cache_root()) / "synth-journal")
    return synthesize(mirror, base, repo=f"pypi/{name}", label=f"pypi__{name}.{version}", spec=spec,
                      max_tasks=max_tasks, max_tries=max_tries, seed=seed, kinds=kinds, log=log, version=version, **kw)


def synthesize_repo(
    path: str | Path,
    *,
    max_tasks: int = 3,
    max_tries: int | None = None,
    seed: int = 0,
    cache_dir: Path | None = None,
    extra_pip: list[str] | None = None,
    python: str = "3.11",
    spec: dict[str, Any] | None = None,
    kinds: tuple[str, ...] = KINDS,
    log: Log = _quiet,
    spec_overrides: dict[str, Any] | None = None,
    **kw: Any,
) -> tuple[list[dict[str, Any]], SynthesisStats]:
    """Tasks from a local git repository (HEAD). The bug commits go to a bare
    mirror ``<cache>/repos/local__<name>.git`` so the repository is left untouched."""
    src, head, name = prepare_local(path)
    root = Path(cache_dir) if cache_dir else cache_root()
    mirror = root / "repos" / f"local__{name}.git"
    _ensure_bare(mirror)
    git(["fetch", "-q", "--no-tags", str(src), f"+{head}:refs/tags/local-{head[:12]}"], mirror)
    spec = spec or {**default_spec(extra_pip, python=python, src_layout=_src_layout(mirror, head)),
                    **(spec_overrides or {})}
    kw.setdefault("journal_dir", root / "synth-journal")
    return synthesize(mirror, head, repo=f"local/{name}", label=f"local__{name}.{head[:7]}", spec=spec,
                      max_tasks=max_tasks, max_tries=max_tries, seed=seed, kinds=kinds, log=log, version=head[:7], **kw)


def synthesize_pypi_cached(
    requirements: list[str] | tuple[str, ...],
    *,
    max_tasks: int = 2,
    seed: int = 0,
    cache_dir: Path | None = None,
    log: Log = _quiet,
) -> list[dict[str, Any]]:
    """Tasks from several PyPI sdists, cached as JSONL in ``<cache>/tasks/``.

    The cached file is reused while every task's mirror still holds its base
    commit (commits are deterministic, so a rebuilt mirror matches). This is
    the fixture other stages' tests use::

        from swe_srl.tasks.synthesize import synthesize_pypi_cached
        tasks = synthesize_pypi_cached(["boltons==24.0.0", "more-itertools==10.5.0"], max_tasks=2)
    """
    from swe_srl.io import write_jsonl
    from swe_srl.tasks.loading import load_tasks

    root = Path(cache_dir) if cache_dir else cache_root()
    key = hashlib.sha256(repr((JOURNAL_VERSION, sorted(requirements), max_tasks, seed, KINDS, SYNTHESIS_TEST_CMD, DEFAULT_PIP)).encode()).hexdigest()[:12]
    path = root / "tasks" / f"synth-{key}.jsonl"
    if path.is_file():
        tasks = load_tasks(path)
        ok = all(Path(t["repo_path"]).exists() and subprocess.run(
            ["git", "cat-file", "-e", f"{t['base_commit']}^{{commit}}"], cwd=t["repo_path"],
            stderr=subprocess.DEVNULL).returncode == 0 for t in tasks)
        if ok and tasks:
            return tasks
    tasks: list[dict[str, Any]] = []
    for req in requirements:
        new, _ = synthesize_pypi(req, max_tasks=max_tasks, seed=seed, cache_dir=cache_dir, log=log)
        tasks += new
    write_jsonl(path, tasks)
    return tasks

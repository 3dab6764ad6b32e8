"""SWE-smith-style task synthesis, offline: procedural bugs in a real repository.

1. The repository: a local git repository (its HEAD), or a PyPI source
   distribution (``--pypi NAME==VERSION``), as a bare mirror in the cache
   (:mod:`swe_srl.tasks.mirrors`). Commits are made with a fixed author and
   date (:mod:`swe_srl.git`), so the same input gives the same shas (and the
   sandbox images stay cached across runs).
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

:class:`Synthesis` runs these steps for one repository (``read_repository``,
``baseline``, ``try_mutation``, ``make_task``). ``synthesize_pypi("more-itertools==10.5.0",
max_tasks=3)`` is the helper tests and other stages reuse; outputs are cached by the
mirror and image caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from swe_srl.errors import SweSrlError
from swe_srl.git import commit_file, git, git_ok, list_files, read_blob
from swe_srl.io import append_jsonl, iter_jsonl, write_jsonl
from swe_srl.paths import cache_root
from swe_srl.sandbox import DockerSandbox, EnvSpec, SandboxConfig, SandboxError, build_env_image
from swe_srl.tasks.loading import load_tasks
from swe_srl.tasks.mirrors import local_mirror, pypi_mirror, src_layout
from swe_srl.tasks.mutate import KINDS, Mutation, sample_sites
from swe_srl.tasks.statement import write_problem_statement
from swe_srl.testsuite import PASSED, XFAIL, status_map_parser, test_command

SYNTHESIS_TEST_CMD = "python -m pytest --no-header -rA --tb=short -p no:cacheprovider"
DEFAULT_PIP = ["pytest==8.3.5"]
# Bump when what a journal entry holds changes (e.g. the problem-statement writer).
JOURNAL_VERSION = 2
_SKIP_DIRS = {"tests", "test", "testing", "docs", "doc", "examples", "example", "benchmarks", "bench", "scripts",
              "tools", "build", "dist", ".github", "requirements"}
_SKIP_FILES = {"setup.py", "conftest.py", "noxfile.py", "tasks.py", "fabfile.py", "__main__.py", "_version.py",
               "version.py"}
OUTPUT_FILE = "/tmp/swe_srl_synth_output.txt"  # in the sandbox: the suite's log of one run

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


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


class _Suite:
    """The repository's test suite in one sandbox, started on first use; a
    sandbox that dies under a run is replaced and the run retried once."""

    def __init__(self, spec: EnvSpec, repo_path: Path, base_commit: str, label: str, command: str,
                 stats: SynthesisStats, log: Log):
        self.spec, self.repo_path, self.base_commit, self.label = spec, repo_path, base_commit, label
        self.command, self.stats, self.log = command, stats, log
        self.parse = status_map_parser(spec.log_parser)
        self.config = SandboxConfig(network=spec.network, memory="4g", command_timeout=600)
        self.image: str | None = None
        self.sandbox: Any = None

    def _started(self) -> Any:
        if self.sandbox is None:
            if self.image is None:
                self.log(f"building the environment image of {self.label.split('.')[0]}")
                self.image = build_env_image(self.spec, self.repo_path, self.base_commit,
                                             name=self.label.split(".")[0], log=self.log)
            self.sandbox = DockerSandbox.start(self.image, self.config, run_id=f"synth-{self.label}")
            self.sandbox.run("export PYTHONDONTWRITEBYTECODE=1")
        return self.sandbox

    def run(self, timeout: float, mutation: Mutation | None = None) -> tuple[dict[str, str], str, bool, float]:
        """``(status map, log, timed out, seconds)`` of one run, ``mutation`` applied (and put back)."""
        for attempt in (1, 2):
            sb = self._started()
            try:
                if mutation is not None:
                    sb.write_file(mutation.path, mutation.mutated)
                t = time.monotonic()
                res = sb.run(f"{self.command} > {OUTPUT_FILE} 2>&1", timeout=timeout)
                dt = time.monotonic() - t
                text = sb.read_file(OUTPUT_FILE).decode("utf-8", "replace")
                if mutation is not None:
                    sb.write_file(mutation.path, mutation.original)
                return self.parse(text), text, res.timed_out, dt
            except SandboxError:
                self.stats.sandbox_restarts += 1
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.sandbox is not None:
            with contextlib.suppress(SandboxError):
                self.sandbox.close()
            self.sandbox = None


class Synthesis:
    """Synthesize up to ``max_tasks`` tasks from ``repo_path`` at ``base_commit``:
    ``Synthesis(...).run() -> (tasks, stats)``.

    The steps, each a method: :meth:`read_repository` (test and source files),
    :meth:`baseline` (the suite once, unmutated), then for each sampled mutation
    site :meth:`try_mutation` (one suite run, judged: kept, no-op, broke
    everything or hang) and, for a kept bug, :meth:`make_task`. With
    ``journal_dir``, the outcome of every suite run is journaled there and
    reused by later runs (same commit, spec and test command)."""

    def __init__(
        self,
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
    ):
        self.repo_path, self.base_commit, self.repo, self.label = repo_path, base_commit, repo, label
        self.spec = spec
        self.env_spec = EnvSpec.from_dict(spec, f"{repo} spec")
        self.max_tasks, self.seed, self.run_timeout, self.kinds = max_tasks, seed, run_timeout, kinds
        self.max_tries = max_tries if max_tries is not None else max(20, 10 * max_tasks)
        self.log, self.on_kept, self.on_try, self.version = log, on_kept, on_try, version
        self.journal_dir = journal_dir
        self.stats = SynthesisStats()
        self.tasks: list[dict[str, Any]] = []
        self.test_files: list[str] = []
        self.sources: dict[str, str] = {}
        self.baseline_pass: set[str] = set()
        self.timeout = 0.0
        self.command = ""  # the suite's command line (the spec's, with the test files)

    # -- the steps ----------------------------------------------------------------------------------
    def read_repository(self) -> None:
        """The test files and the Python sources to mutate at the base commit."""
        files = list_files(self.repo_path, self.base_commit)
        self.test_files = sorted(f for f in files if is_test_file(f))
        self.sources = {f: read_blob(self.repo_path, self.base_commit, f) for f in files if is_source_file(f)}
        if not self.test_files:
            raise SweSrlError(f"{self.repo}: no test files (test_*.py / *_test.py) at {self.base_commit[:12]}")
        if not self.sources:
            raise SweSrlError(f"{self.repo}: no Python source files to mutate at {self.base_commit[:12]}")

    def baseline(self) -> None:
        """Run the suite once unmutated: the tests that pass, and the timeout of later runs."""
        baseline = self.journal.get("baseline")
        if baseline is None:
            self.log("baseline run of the test suite")
            status, text, timed_out, seconds = self.suite.run(self.run_timeout or 900)
            if timed_out:
                raise SweSrlError(f"{self.repo}: the test suite did not finish in the baseline run")
            baseline = {"status": status, "s": seconds, "tail": "\n".join(text.strip().splitlines()[-5:])}
            if any(_passing(v) for v in status.values()):
                self.journal.add("baseline", baseline)
        status = baseline["status"]
        self.baseline_pass = {t for t, v in status.items() if _passing(v)}
        self.stats.baseline_passed = len(self.baseline_pass)
        self.stats.baseline_failed = sum(1 for v in status.values() if v in ("FAILED", "ERROR"))
        self.stats.baseline_s = round(baseline["s"], 2)
        if not self.baseline_pass:
            raise SweSrlError(f"{self.repo}: no test passes at the base commit; see the test command "
                              f"{self.command!r}\n" + baseline["tail"])
        self.timeout = self.run_timeout or max(30.0, 5 * baseline["s"] + 10)

    def try_mutation(self, mutation: Mutation, key: str) -> dict[str, Any]:
        """The outcome of the suite under ``mutation`` (journaled): ``kept`` (with the broken tests
        and a problem statement), ``no_op``, ``broke_everything`` or ``hang``."""
        outcome = self.journal.get(key)
        if outcome is not None:
            self.stats.from_journal += 1
            return outcome
        status, text, hung, _ = self.suite.run(self.timeout, mutation)
        broken = sorted(t for t in self.baseline_pass if not _passing(status.get(t, "")))
        if hung:
            outcome = {"outcome": "hang"}
        elif not broken:
            outcome = {"outcome": "no_op"}
        elif len(broken) == len(self.baseline_pass):
            outcome = {"outcome": "broke_everything"}
        else:
            outcome = {"outcome": "kept", "broken": broken,
                       "problem_statement": write_problem_statement(
                           function=mutation.function, path=mutation.path, fail_to_pass=broken, log=text,
                           project=self.repo)}
        self.journal.add(key, outcome)
        return outcome

    def make_task(self, mutation: Mutation, key: str, outcome: dict[str, Any]) -> dict[str, Any]:
        """The task of a kept bug: a root commit with the bug (tagged), the fix as its patch."""
        broken = outcome["broken"]
        targets = sorted({t.split("::", 1)[0] for t in broken})
        p2p = sorted(t for t in self.baseline_pass - set(broken) if t.split("::", 1)[0] in targets)
        iid = f"{self.label}.{mutation.kind}__{key[:8]}"
        bug = commit_file(self.repo_path, self.base_commit, mutation.path, mutation.mutated,
                          f"{self.repo}: {iid}", f"swe-srl/{iid}")
        fix = git(["diff", "--no-color", "--no-ext-diff", bug, self.base_commit], self.repo_path)
        return {
            "instance_id": iid,
            "repo": self.repo,
            "base_commit": bug,
            "patch": fix,
            "test_patch": "",
            "problem_statement": outcome["problem_statement"],
            "hints_text": "",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "version": self.version,
            "environment_setup_commit": self.base_commit,
            "FAIL_TO_PASS": broken,
            "PASS_TO_PASS": p2p,
            "test_files": targets,
            "repo_path": str(self.repo_path),
            "spec": dict(self.spec),
            "meta": {"source": "swe-srl synthesize", "mutation": mutation.kind, "file": mutation.path,
                     "function": mutation.function, "line": mutation.line, "description": mutation.description,
                     "original_commit": self.base_commit},
        }

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> tuple[list[dict[str, Any]], SynthesisStats]:
        self.read_repository()
        self.command = test_command(self.env_spec.test_cmd, self.test_files)
        journal_key = hashlib.sha256(repr((JOURNAL_VERSION, self.base_commit, self.spec, self.command)).encode())
        self.journal = Journal(self.journal_dir / f"{journal_key.hexdigest()[:16]}.jsonl" if self.journal_dir else None)
        self.suite = _Suite(self.env_spec, self.repo_path, self.base_commit, self.label, self.command, self.stats,
                            self.log)
        try:
            self.baseline()
            sites = sample_sites(self.sources, seed=self.seed, kinds=self.kinds)
            self.stats.sites = len(sites)
            kept_functions: set[tuple[str, str]] = set()
            for site in sites:
                if len(self.tasks) >= self.max_tasks or self.stats.tried >= self.max_tries:
                    break
                if (site.path, site.function) in kept_functions:
                    self.stats.same_function += 1
                    continue
                mutation = site.render()
                if mutation is None:
                    self.stats.not_rendered += 1
                    continue
                self.stats.tried += 1
                key = hashlib.sha256(f"{mutation.path}\0{mutation.mutated}".encode()).hexdigest()
                outcome = self.try_mutation(mutation, key)
                if self.on_try:
                    self.on_try(self.stats)
                kind = outcome["outcome"]
                if kind != "kept":
                    setattr(self.stats, kind, getattr(self.stats, kind) + 1)
                    if kind != "no_op":
                        self.stats.dropped_examples.append({"reason": kind, "mutation": mutation.description})
                    continue
                task = self.make_task(mutation, key, outcome)
                self.tasks.append(task)
                kept_functions.add((mutation.path, mutation.function))
                self.stats.kept += 1
                self.stats.by_kind[mutation.kind] = self.stats.by_kind.get(mutation.kind, 0) + 1
                self.log(f"kept {task['instance_id']}: {len(task['FAIL_TO_PASS'])} failing, "
                         f"{len(task['PASS_TO_PASS'])} passing")
                if self.on_kept:
                    self.on_kept(task)
        finally:
            self.suite.close()
        return self.tasks, self.stats


class Journal:
    """Outcomes of the suite runs already made (JSONL, appended as they come), so
    an interrupted or repeated synthesis resumes without rerunning them."""

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, Any] = {}
        if path is not None and path.is_file():
            for _, row in iter_jsonl(path, strict=False):
                if isinstance(row, dict) and "key" in row:
                    self.entries[row["key"]] = row["value"]

    def get(self, key: str) -> Any:
        return self.entries.get(key)

    def add(self, key: str, value: Any) -> None:
        self.entries[key] = value
        if self.path is not None:
            append_jsonl(self.path, {"key": key, "value": value})


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
    m = pypi_mirror(requirement, cache=cache_dir, log=log)
    spec = {**default_spec(extra_pip, python=python, src_layout=src_layout(m.path, m.base_commit)),
            **(spec_overrides or {})}
    kw.setdefault("journal_dir", (Path(cache_dir) if cache_dir else cache_root()) / "synth-journal")
    return Synthesis(m.path, m.base_commit, repo=f"pypi/{m.name}", label=f"pypi__{m.name}.{m.version}", spec=spec,
                     max_tasks=max_tasks, max_tries=max_tries, seed=seed, kinds=kinds, log=log, version=m.version,
                     **kw).run()


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
    m = local_mirror(path, cache=cache_dir)
    spec = spec or {**default_spec(extra_pip, python=python, src_layout=src_layout(m.path, m.base_commit)),
                    **(spec_overrides or {})}
    kw.setdefault("journal_dir", (Path(cache_dir) if cache_dir else cache_root()) / "synth-journal")
    return Synthesis(m.path, m.base_commit, repo=f"local/{m.name}", label=f"local__{m.name}.{m.version}", spec=spec,
                     max_tasks=max_tasks, max_tries=max_tries, seed=seed, kinds=kinds, log=log, version=m.version,
                     **kw).run()


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
    root = Path(cache_dir) if cache_dir else cache_root()
    key = hashlib.sha256(repr((JOURNAL_VERSION, sorted(requirements), max_tasks, seed, KINDS, SYNTHESIS_TEST_CMD, DEFAULT_PIP)).encode()).hexdigest()[:12]
    path = root / "tasks" / f"synth-{key}.jsonl"
    if path.is_file():
        tasks = load_tasks(path)
        ok = all(Path(t["repo_path"]).exists() and git_ok(["cat-file", "-e", f"{t['base_commit']}^{{commit}}"],
                                                         t["repo_path"]) for t in tasks)
        if ok and tasks:
            return tasks
    tasks: list[dict[str, Any]] = []
    for req in requirements:
        new, _ = synthesize_pypi(req, max_tasks=max_tasks, seed=seed, cache_dir=cache_dir, log=log)
        tasks += new
    write_jsonl(path, tasks)
    return tasks

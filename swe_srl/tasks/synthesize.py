"""SWE-smith-style task synthesis, offline: procedural bugs in a real repository.

1. The repository: a local git repository (its HEAD), or a PyPI source
   distribution (``--pypi NAME==VERSION``), as a bare mirror in the cache
   (:mod:`swe_srl.tasks.mirrors`). Commits are made with a fixed author and
   date (:mod:`swe_srl.git`), so the same input gives the same shas (and the
   sandbox images stay cached across runs).
2. The suite runs once in a sandbox (the baseline).
3. Mutations (:mod:`swe_srl.tasks.mutate`) are tried, one suite run each, in
   sandboxes that are reused: write the mutated file, rerun the suite (under a
   timeout), put the file back. A bug is kept when it breaks at least one
   baseline-passing test while others still pass; no-ops, break-everything bugs
   and hangs are dropped and counted. The runs go through the task runner
   (:mod:`swe_srl.execution`: threads here, or the Docker nodes of a Ray
   cluster), several at once, and are decided in site order, so the tasks do
   not depend on the backend or on how many ran at once.
4. Each kept bug becomes a root commit (no parent: the fix is not in the
   history an agent can see) tagged ``swe-srl/<instance_id>``; the task's
   ``base_commit`` is that commit, ``patch`` the fix (the reverse of the bug),
   ``test_patch`` empty (SWE-smith's convention) with ``test_files`` the test
   files whose tests fail; ``FAIL_TO_PASS`` are the broken tests,
   ``PASS_TO_PASS`` the other passing tests of those files.

:class:`Synthesis` runs these steps for one repository (``read_repository``,
``baseline``, ``try_mutations``, ``make_task``). ``synthesize_pypi("more-itertools==10.5.0",
max_tasks=3)`` is the helper tests and other stages reuse; outputs are cached by the
mirror and image caches.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator

from swe_srl.errors import SweSrlError
from swe_srl.execution.base import Backend, Job, LocalBackend, TaskContext
from swe_srl.git import commit_file, git, git_ok, list_files, read_blob
from swe_srl.io import append_jsonl, iter_jsonl, write_jsonl
from swe_srl.paths import cache_root
from swe_srl.sandbox import DockerSandbox, EnvSpec, SandboxConfig, SandboxError, build_env_image
from swe_srl.tasks.loading import load_tasks
from swe_srl.tasks.mirrors import local_mirror, pypi_mirror, src_layout
from swe_srl.tasks.mutate import MUTATION_KINDS, Mutation, sample_sites
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
SUITE_CPUS = 1.0
SUITE_MEMORY = "4g"
"""One suite sandbox's limits; the Ray backend's per-node concurrency is computed from them."""

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


def mutation_key(mutation: Mutation) -> str:
    """The journal key of a mutation (its file and mutated text)."""
    return hashlib.sha256(f"{mutation.path}\0{mutation.mutated}".encode()).hexdigest()


def judge(status: dict[str, str], log: str, hung: bool, baseline_pass: frozenset[str] | set[str],
          mutation: Mutation, project: str) -> dict[str, Any]:
    """The outcome of one suite run under ``mutation``: ``kept`` (with the broken tests and a
    problem statement), ``no_op``, ``broke_everything`` or ``hang``."""
    broken = sorted(t for t in baseline_pass if not _passing(status.get(t, "")))
    if hung:
        return {"outcome": "hang"}
    if not broken:
        return {"outcome": "no_op"}
    if len(broken) == len(baseline_pass):
        return {"outcome": "broke_everything"}
    return {"outcome": "kept", "broken": broken,
            "problem_statement": write_problem_statement(function=mutation.function, path=mutation.path,
                                                         fail_to_pass=broken, log=log, project=project)}


class _Suite:
    """The repository's test suite in one sandbox, started on first use; a
    sandbox that dies under a run is replaced and the run retried once (not
    once the run is stopping: then the sandbox was removed on purpose)."""

    def __init__(self, spec: EnvSpec, repo_path: Path, base_commit: str, label: str, command: str,
                 stop: threading.Event):
        self.spec, self.repo_path, self.base_commit, self.label = spec, repo_path, base_commit, label
        self.command, self.stop = command, stop
        self.parse = status_map_parser(spec.log_parser)
        self.config = SandboxConfig(network=spec.network, memory=SUITE_MEMORY, cpus=SUITE_CPUS, command_timeout=600)
        self.image: str | None = None
        self.sandbox: Any = None
        self.restarts = 0

    def _started(self) -> Any:
        if self.stop.is_set():
            raise SandboxError("the run was stopped: no new sandbox")
        if self.sandbox is None:
            if self.image is None:
                self.image = build_env_image(self.spec, self.repo_path, self.base_commit,
                                             name=self.label.split(".")[0])
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
                self.restarts += 1
                self.close()
                if attempt == 2 or self.stop.is_set():
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.sandbox is not None:
            with contextlib.suppress(SandboxError):
                self.sandbox.close()
            self.sandbox = None


class _SuitePool:
    """The suites of one process or node: one per task running at once, each reused by the
    next task (a sandbox per mutation would cost a container start each)."""

    def __init__(self, job: "SuiteJob"):
        self.job = job
        self.idle: list[_Suite] = []
        self.made: list[_Suite] = []
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def suite(self, stop: threading.Event) -> Iterator[_Suite]:
        with self.lock:
            suite = self.idle.pop() if self.idle else None
            if suite is None:
                j = self.job
                suite = _Suite(EnvSpec.from_dict(j.spec, f"{j.repo} spec"), Path(j.repo_path), j.base_commit,
                               j.task_label, j.command, stop)
                self.made.append(suite)
        try:
            yield suite
        finally:
            with self.lock:
                self.idle.append(suite)

    def close(self) -> None:
        for suite in self.made:
            suite.close()


@dataclass
class SuiteJob(Job):
    """Synthesis's unit of work for the task runner (:mod:`swe_srl.execution`): one run of the
    suite in a sandbox, the baseline (item ``None``) or one candidate (item ``(site index,
    Mutation)``), judged where it ran. The result is what the journal keeps, and the sandbox
    restarts it took."""

    spec: dict[str, Any]
    repo_path: str
    base_commit: str
    task_label: str
    repo: str
    command: str
    timeout: float
    baseline_pass: frozenset[str] = frozenset()
    name = "synthesize"

    def setup(self) -> _SuitePool:
        return _SuitePool(self)

    def teardown(self, state: _SuitePool) -> None:
        state.close()

    def label(self, item: Any) -> str:
        return "baseline" if item is None else item[1].description[:60]

    def run(self, item: tuple[int, Mutation] | None, ctx: TaskContext) -> dict[str, Any]:
        with ctx.state.suite(ctx.stop) as suite:
            before = suite.restarts
            status, text, timed_out, seconds = suite.run(self.timeout, None if item is None else item[1])
            restarts = suite.restarts - before
        if item is None:
            outcome = {"status": status, "s": seconds, "tail": "\n".join(text.strip().splitlines()[-5:]),
                       "timed_out": timed_out}
        else:
            outcome = judge(status, text, timed_out, self.baseline_pass, item[1], self.repo)
        return {"outcome": outcome, "restarts": restarts}


class Synthesis:
    """Synthesize up to ``max_tasks`` tasks from ``repo_path`` at ``base_commit``:
    ``Synthesis(...).run() -> (tasks, stats)``.

    The steps, each a method: :meth:`read_repository` (test and source files),
    :meth:`baseline` (the suite once, unmutated), then :meth:`try_mutations`: each
    sampled mutation site gets one suite run, judged (kept, no-op, broke everything
    or hang), and a kept bug becomes a task (:meth:`make_task`).

    The suite runs go through a task runner (``backend``: threads here by default,
    or the Docker nodes of a Ray cluster), one candidate per task, several at once.
    Outcomes are decided in site order, exactly as one sandbox trying the sites one
    by one would: the same tasks and statistics whatever the backend and however
    many run at once (some runs past the stopping point are wasted, and journaled).
    With ``journal_dir``, the outcome of every suite run is journaled there and
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
        kinds: tuple[str, ...] = MUTATION_KINDS,
        log: Log = _quiet,
        on_kept: Callable[[dict[str, Any]], None] | None = None,
        on_try: Callable[[SynthesisStats], None] | None = None,
        on_run: Callable[[str], None] | None = None,
        version: str = "",
        journal_dir: Path | None = None,
        backend: Backend | None = None,
    ):
        self.repo_path, self.base_commit, self.repo, self.label = repo_path, base_commit, repo, label
        self.spec = spec
        self.env_spec = EnvSpec.from_dict(spec, f"{repo} spec")
        self.max_tasks, self.seed, self.run_timeout, self.kinds = max_tasks, seed, run_timeout, kinds
        self.max_tries = max_tries if max_tries is not None else max(20, 10 * max_tasks)
        self.log, self.on_kept, self.on_try, self.on_run, self.version = log, on_kept, on_try, on_run, version
        self.journal_dir = journal_dir
        self.backend = backend or LocalBackend(1)
        self.stats = SynthesisStats()
        self.tasks: list[dict[str, Any]] = []
        self.test_files: list[str] = []
        self.sources: dict[str, str] = {}
        self.baseline_pass: set[str] = set()
        self.timeout = 0.0
        self.command = ""  # the suite's command line (the spec's, with the test files)
        self.journal = Journal(None)
        # the candidates' bookkeeping (try_mutations): sites before ``frontier`` are decided
        self.sites: list[Any] = []
        self.frontier = 0
        self.sent: set[int] = set()
        """Sites handed to the runner, no outcome yet."""
        self.outcomes: dict[int, tuple[Mutation, dict[str, Any], bool]] = {}
        """Sites with an outcome (from a run, or the journal: the flag), not decided yet."""
        self.rendered: dict[int, Mutation | None] = {}
        self.kept_functions: set[tuple[str, str]] = set()
        self.failure: str | None = None

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
            self.log("baseline run of the test suite (the environment image is built first if needed)")
            for _, baseline in self._suite_runs(self._job(self.run_timeout or 900), [None]):
                pass
            if self.failure is not None:
                raise SweSrlError(f"{self.repo}: the baseline run failed: {self.failure}")
            if baseline.pop("timed_out"):
                raise SweSrlError(f"{self.repo}: the test suite did not finish in the baseline run")
            if any(_passing(v) for v in baseline["status"].values()):
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

    def try_mutations(self) -> None:
        """Try the sampled sites until ``max_tasks`` are kept or ``max_tries`` tried.

        In rounds: a round hands the runner the candidates from the frontier on, while the
        tries decided plus those pending stay under ``max_tries``, and ends when those are
        done. A candidate handed out may turn out not to count (its function got a kept bug
        from an earlier site meanwhile); the next round then goes on past it."""
        self.sites = sample_sites(self.sources, seed=self.seed, kinds=self.kinds)
        self.stats.sites = len(self.sites)
        job = self._job(self.timeout, frozenset(self.baseline_pass))
        while not self._done():
            frontier, handed = self.frontier, len(self.outcomes)
            for (i, mutation), outcome in self._suite_runs(job, self._candidates()):
                self.sent.discard(i)
                self.journal.add(mutation_key(mutation), outcome)
                if i >= self.frontier:  # else passed over meanwhile (a bug was kept in its function)
                    self.outcomes[i] = (mutation, outcome, False)
                self._decide_in_order()
            self._decide_in_order()
            if self.frontier == frontier and len(self.outcomes) == handed and not self._done():
                raise AssertionError(f"synthesis made no progress at site {frontier}")  # a bookkeeping bug
        if self.failure is not None:
            raise SweSrlError(f"{self.repo}: a test-suite run failed: {self.failure}")

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

    # -- the candidates, decided in site order ------------------------------------------------------
    def _job(self, timeout: float, baseline_pass: frozenset[str] = frozenset()) -> SuiteJob:
        return SuiteJob(self.spec, str(self.repo_path), self.base_commit, self.label, self.repo, self.command,
                        timeout, baseline_pass)

    def _suite_runs(self, job: SuiteJob, items: Iterable[Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
        """``(item, outcome)`` of each suite run, as they finish. A run that failed (its sandbox
        died twice, its node was lost too often) ends the synthesis: no new run starts, those
        running finish, then the caller raises."""
        for o in self.backend.imap(job, items):
            if self.on_run:
                self.on_run(o.node)
            if not o.ok:
                self.failure = self.failure or f"{job.label(o.item)}: {o.error}"
                continue
            self.stats.sandbox_restarts += o.value["restarts"]
            yield o.item, o.value["outcome"]

    def _done(self) -> bool:
        return (len(self.tasks) >= self.max_tasks or self.stats.tried >= self.max_tries
                or self.frontier >= len(self.sites) or self.failure is not None)

    def _mutation(self, i: int) -> Mutation | None:
        """Site ``i``'s mutation, or None when it is not a candidate (its function has a kept
        bug, or it does not render)."""
        site = self.sites[i]
        if (site.path, site.function) in self.kept_functions:
            return None
        if i not in self.rendered:
            self.rendered[i] = site.render()
        return self.rendered[i]

    def _candidates(self) -> Iterator[tuple[int, Mutation]]:
        """The runner's items of one round, pulled as its slots free up: site order from the
        frontier; a journaled outcome is used at once instead of a run."""
        i = self.frontier
        while True:
            self._decide_in_order()
            i = max(i, self.frontier)
            if self._done() or i >= len(self.sites):
                return
            if self.stats.tried + self._pending() >= self.max_tries:
                return  # every try left is pending; a later round goes on if some do not count
            mutation = self._mutation(i)
            if mutation is not None and i not in self.outcomes:
                known = self.journal.get(mutation_key(mutation))
                if known is not None:
                    self.outcomes[i] = (mutation, known, True)
                else:
                    self.sent.add(i)
                    yield i, mutation
            i += 1

    def _pending(self) -> int:
        """Candidates handed out or with an outcome, not decided, that may still count as tries."""
        return sum(1 for i in (*self.sent, *self.outcomes)
                   if (self.sites[i].path, self.sites[i].function) not in self.kept_functions)

    def _decide_in_order(self) -> None:
        """Decide the sites from the frontier on, up to the first without an outcome yet."""
        while not self._done():
            i = self.frontier
            site = self.sites[i]
            if (site.path, site.function) in self.kept_functions:
                self.stats.same_function += 1
                self.outcomes.pop(i, None)  # run before that bug was kept: it does not count
            elif self._mutation(i) is None:
                self.stats.not_rendered += 1
            elif i in self.outcomes:
                self._decide(*self.outcomes.pop(i))
            else:
                return
            self.rendered.pop(i, None)
            self.frontier += 1

    def _decide(self, mutation: Mutation, outcome: dict[str, Any], from_journal: bool) -> None:
        self.stats.tried += 1
        self.stats.from_journal += int(from_journal)
        if self.on_try:
            self.on_try(self.stats)
        kind = outcome["outcome"]
        if kind != "kept":
            setattr(self.stats, kind, getattr(self.stats, kind) + 1)
            if kind != "no_op":
                self.stats.dropped_examples.append({"reason": kind, "mutation": mutation.description})
            return
        task = self.make_task(mutation, mutation_key(mutation), outcome)
        self.tasks.append(task)
        self.kept_functions.add((mutation.path, mutation.function))
        self.stats.kept += 1
        self.stats.by_kind[mutation.kind] = self.stats.by_kind.get(mutation.kind, 0) + 1
        self.log(f"kept {task['instance_id']}: {len(task['FAIL_TO_PASS'])} failing, "
                 f"{len(task['PASS_TO_PASS'])} passing")
        if self.on_kept:
            self.on_kept(task)

    # -- the whole ----------------------------------------------------------------------------------
    def run(self) -> tuple[list[dict[str, Any]], SynthesisStats]:
        self.read_repository()
        self.command = test_command(self.env_spec.test_cmd, self.test_files)
        journal_key = hashlib.sha256(repr((JOURNAL_VERSION, self.base_commit, self.spec, self.command)).encode())
        self.journal = Journal(self.journal_dir / f"{journal_key.hexdigest()[:16]}.jsonl" if self.journal_dir else None)
        with self.backend.session():
            self.baseline()
            self.try_mutations()
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
    kinds: tuple[str, ...] = MUTATION_KINDS,
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
    kinds: tuple[str, ...] = MUTATION_KINDS,
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
    key = hashlib.sha256(repr((JOURNAL_VERSION, sorted(requirements), max_tasks, seed, MUTATION_KINDS, SYNTHESIS_TEST_CMD, DEFAULT_PIP)).encode()).hexdigest()[:12]
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

"""Typed values at the sandbox boundary: :class:`CommandResult`, :class:`EnvSpec`,
:class:`SandboxConfig`, :class:`SandboxError`, and the Docker labels the project
puts on everything it owns. No Docker import here."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from swe_srl.errors import SweSrlError

# Every image and container the project creates carries these labels; `prune` touches nothing else.
LABEL_MANAGED = "swe-srl.managed"
LABEL_KIND = "swe-srl.kind"            # base | env | builder | sandbox
LABEL_RUN = "swe-srl.run"              # run id given by the caller (or a generated one)
LABEL_OWNER = "swe-srl.owner"          # host:pid:starttime of the process that started the container
# Images carry run and owner labels too (the build's). Containers inherit their image's labels,
# so a container is ours only when its own kind (sandbox | builder) says so.
CONTAINER_KINDS = ("sandbox", "builder")
LABEL_HASH = "swe-srl.content-hash"    # cache key of an image
LABEL_BASE_COMMIT = "swe-srl.base-commit"
LABEL_PYTHON = "swe-srl.python"
LABEL_REPO = "swe-srl.repo"
LABEL_WORKDIR = "swe-srl.workdir"
LABEL_USER = "swe-srl.user"

DEFAULT_USER = "swe"
DEFAULT_UID = 1000
DEFAULT_WORKDIR = "/testbed"
DEFAULT_TEST_CMD = "pytest --no-header -rA --tb=no -p no:cacheprovider"


class SandboxError(SweSrlError):
    """An infrastructure failure: an image that cannot be built, a dead container, no engine."""


@dataclass
class CommandResult:
    """What one action produced. Failures of the action itself are reported here
    (exit code, error text), never raised."""

    output: str
    """stdout and stderr merged in order, undecodable bytes replaced, capped head-and-tail."""
    exit_code: int | None
    """The command's exit status; None when it timed out (or the session lost it)."""
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def repo_slug(repo: str) -> str:
    """``owner/name`` -> ``owner__name`` (the spec file name and image tag part)."""
    return repo.strip().strip("/").replace("/", "__")


@dataclass
class EnvSpec:
    """How to build and test one repository's environment (``sandboxes/specs/<owner>__<name>.yaml``)."""

    python: str = "3.11"
    """Python version of the base image: 3.9 (bullseye), 3.11 (bookworm) or 3.13 (trixie)."""
    pip_packages: list[str] = field(default_factory=list)
    """Requirements installed from a wheelhouse built for the target Python (``pip install --no-index``)."""
    install: list[str] = field(default_factory=list)
    """Shell commands run in the repository (``/testbed``) at image build, without network."""
    test_cmd: str = DEFAULT_TEST_CMD
    """The command the harness runs, followed by the test files."""
    log_parser: str = "pytest"
    """Name of the harness's test-log parser."""
    network: bool = False
    """Whether sandboxes of this environment get a network (default: ``--network none``)."""
    base_image: str | None = None
    """Use this image (e.g. ``python:3.12-slim`` from a registry) instead of the local Debian base."""
    exclude_newer: str | None = None
    """Resolve unpinned requirements as of this date (``uv pip compile --exclude-newer``), e.g. a SWE-bench row's ``created_at``."""
    repo_requirements: list[str] = field(default_factory=list)
    """Requirements read from the repository at the base commit and resolved with the rest: ``.`` or ``.[extra]`` (the project's own dependencies and build requirements) or a requirements file path."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "spec") -> "EnvSpec":
        if not isinstance(data, dict):
            raise SweSrlError(f"{where}: an environment spec must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SweSrlError(f"{where}: unknown field(s) {', '.join(unknown)} (valid: {', '.join(sorted(known))})")
        kw: dict[str, Any] = {}
        for k, v in data.items():
            if v is None:
                continue
            if k in ("pip_packages", "install", "repo_requirements"):
                if isinstance(v, str):
                    v = [v]
                if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                    raise SweSrlError(f"{where}: field {k} must be a list of strings")
            elif k == "python":
                v = str(v)
                if v.count(".") != 1:
                    raise SweSrlError(f"{where}: field python must look like 3.11, got {v!r}")
            elif k == "network":
                if not isinstance(v, bool):
                    raise SweSrlError(f"{where}: field network must be true or false")
            elif k == "exclude_newer":
                v = str(v)  # YAML reads an unquoted date as a date
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?", v):
                    raise SweSrlError(f"{where}: field exclude_newer must be a date like 2021-06-15, got {v!r}")
            elif k in ("test_cmd", "log_parser", "base_image") and not isinstance(v, str):
                raise SweSrlError(f"{where}: field {k} must be a string")
            kw[k] = v
        return cls(**kw)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "EnvSpec":
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise SweSrlError(f"{path}: no such file") from None
        except yaml.YAMLError as e:
            raise SweSrlError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def for_task(cls, task: dict[str, Any], specs_dir: Path | None = None) -> "EnvSpec":
        """The task's inline ``spec`` on top of ``sandboxes/specs/<owner>__<name>.yaml``."""
        import yaml

        specs_dir = Path(specs_dir) if specs_dir is not None else sandboxes_dir() / "specs"
        repo = task.get("repo") or ""
        iid = task.get("instance_id", "?")
        data: dict[str, Any] = {}
        found = False
        if repo:
            path = specs_dir / f"{repo_slug(repo)}.yaml"
            if path.is_file():
                try:
                    loaded = yaml.safe_load(path.read_text()) or {}
                except yaml.YAMLError as e:
                    raise SweSrlError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
                if not isinstance(loaded, dict):
                    raise SweSrlError(f"{path}: an environment spec must be a mapping")
                cls.from_dict(loaded, str(path))  # validate with the file's name
                data.update(loaded)
                found = True
        inline = task.get("spec")
        if inline is not None:
            if not isinstance(inline, dict):
                raise SweSrlError(f"task {iid}: field spec must be a mapping")
            data.update(inline)
            found = True
        if not found:
            where = specs_dir / f"{repo_slug(repo)}.yaml" if repo else "sandboxes/specs/<owner>__<name>.yaml"
            raise SweSrlError(f"task {iid}: no environment spec: add an inline `spec` or {where}")
        return cls.from_dict(data, f"task {iid} spec")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SandboxConfig:
    """Limits and identity of one sandbox container."""

    cpus: float = 1.0
    """CPU quota (``--cpus``)."""
    memory: str = "2g"
    """Memory limit, swap included (``--memory`` = ``--memory-swap``)."""
    pids_limit: int = 512
    """Maximum number of processes (contains fork bombs)."""
    network: bool = False
    """False: ``--network none``."""
    workdir: str = DEFAULT_WORKDIR
    """Where the shell starts and the repository lives."""
    user: str = DEFAULT_USER
    """Unprivileged user the commands run as (``root`` only if you must)."""
    command_timeout: float = 120.0
    """Default per-command timeout in seconds."""
    max_output_chars: int = 20000
    """Output cap; the head and the tail are kept around a marker."""
    disk: str | None = "4g"
    """Bytes the container may write outside tmpfs (``--storage-opt size`` where the storage driver supports it, else a watchdog that kills the user's processes past it); None: unbounded."""
    tmp_size: str | None = "1g"
    """Size of the tmpfs mounted on ``/tmp`` (it counts against ``memory``); None: /tmp on the container's disk."""
    disk_check_s: float = 2.0
    """How often the disk watchdog reads the container's size."""

    def __post_init__(self) -> None:
        if self.cpus <= 0 or self.pids_limit < 16 or self.command_timeout <= 0 or self.max_output_chars < 64:
            raise SweSrlError(f"invalid SandboxConfig: {self}")
        for name in ("disk", "tmp_size"):
            if getattr(self, name) is not None:
                parse_size(getattr(self, name), name)
        if self.disk_check_s <= 0:
            raise SweSrlError(f"invalid SandboxConfig: disk_check_s must be > 0, got {self.disk_check_s}")


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: str | int, name: str = "size") -> int:
    """Bytes of a Docker-style size (``512m``, ``4g``, ``1024``)."""
    text = str(value).strip().lower().removesuffix("ib").removesuffix("b") if not isinstance(value, int) else ""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    unit = text[-1:] if text[-1:] in _UNITS else ""
    number = text[: len(text) - len(unit)]
    try:
        n = float(number)
    except ValueError:
        raise SweSrlError(f"invalid {name} {value!r}: use a size like 512m or 4g") from None
    if n <= 0:
        raise SweSrlError(f"invalid {name} {value!r}: must be > 0")
    return int(n * _UNITS[unit])


def sandboxes_dir() -> Path:
    """The ``sandboxes/`` data folder (``SWE_SRL_SANDBOXES`` overrides it)."""
    env = os.environ.get("SWE_SRL_SANDBOXES")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "sandboxes"  # a source checkout (editable install)
    if beside.is_dir():
        return beside
    here = Path.cwd() / "sandboxes"
    return here if here.is_dir() else beside


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    rest = data[data.rfind(b")") + 2:].split()
    return rest[19].decode() if len(rest) > 19 else None


def owner_label(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid) or '0'}"


def owner_alive(label: str) -> bool | None:
    """True/False for an owner on this host; None when the owner lives on another host."""
    try:
        host, pid_s, start = label.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return None
    now = process_start_time(pid)
    return now is not None and (start == "0" or now == start)

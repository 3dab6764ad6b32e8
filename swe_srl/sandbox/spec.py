"""Typed values at the sandbox boundary: :class:`CommandResult`, :class:`EnvSpec`,
:class:`SandboxConfig`, :class:`SandboxError`, and the Docker labels the project
puts on everything it owns. No Docker import here."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, StrictBool, ValidationInfo, model_validator

from swe_srl.config import Config
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


def _strings(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _python_version(value: Any) -> Any:
    value = str(value) if isinstance(value, (int, float)) else value
    if isinstance(value, str) and value.count(".") != 1:
        raise ValueError(f"must look like 3.11, got {value!r}")
    return value


def _date(value: Any) -> Any:
    value = value if isinstance(value, str) else str(value)  # YAML reads an unquoted date as a date
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+Z?)?", value):
        raise ValueError(f"must be a date like 2021-06-15, got {value!r}")
    return value


Strings = Annotated[list[str], BeforeValidator(_strings)]


class EnvSpec(Config):
    """How to build and test one repository's environment (``sandboxes/specs/<owner>__<name>.yaml``)."""

    python: Annotated[str, BeforeValidator(_python_version)] = Field(
        "3.11", description="Python version of the base image: 3.9 (bullseye), 3.11 (bookworm) or 3.13 (trixie).")
    pip_packages: Strings = Field(
        default_factory=list,
        description="Requirements installed from a wheelhouse built for the target Python (``pip install --no-index``).")
    install: Strings = Field(
        default_factory=list,
        description="Shell commands run in the repository (``/testbed``) at image build, without network.")
    test_cmd: str = Field(DEFAULT_TEST_CMD, description="The command the harness runs, followed by the test files.")
    log_parser: str = Field("pytest", description="Name of the harness's test-log parser.")
    network: StrictBool = Field(
        False, description="Whether sandboxes of this environment get a network (default: ``--network none``).")
    base_image: str | None = Field(
        None, description="Use this image (e.g. ``python:3.12-slim`` from a registry) instead of the local Debian base.")
    exclude_newer: Annotated[str, BeforeValidator(_date)] | None = Field(
        None, description="Resolve unpinned requirements as of this date (``uv pip compile --exclude-newer``), "
                          "e.g. a SWE-bench row's ``created_at``.")
    repo_requirements: Strings = Field(
        default_factory=list,
        description="Requirements read from the repository at the base commit and resolved with the rest: ``.`` or "
                    "``.[extra]`` (the project's own dependencies and build requirements) or a requirements file path.")

    @model_validator(mode="before")
    @classmethod
    def _null_is_default(cls, data: Any) -> Any:
        """A key given as null keeps its default (spec files leave keys empty)."""
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data

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


def _size(value: Any, info: ValidationInfo) -> Any:
    if value is not None:
        try:
            parse_size(value, info.field_name or "size")
        except SweSrlError as e:
            raise ValueError(str(e)) from None
    return value


Size = Annotated[str | None, AfterValidator(_size)]


class SandboxConfig(Config):
    """Limits and identity of one sandbox container."""

    cpus: float = Field(1.0, gt=0, description="CPU quota (``--cpus``).")
    memory: str = Field("2g", description="Memory limit, swap included (``--memory`` = ``--memory-swap``).")
    pids_limit: int = Field(512, ge=16, description="Maximum number of processes (contains fork bombs).")
    network: bool = Field(False, description="False: ``--network none``.")
    workdir: str = Field(DEFAULT_WORKDIR, description="Where the shell starts and the repository lives.")
    user: str = Field(DEFAULT_USER, description="Unprivileged user the commands run as (``root`` only if you must).")
    command_timeout: float = Field(120.0, gt=0, description="Default per-command timeout in seconds.")
    max_output_chars: int = Field(
        20000, ge=64, description="Output cap; the head and the tail are kept around a marker.")
    disk: Size = Field(
        "4g", description="Bytes the container may write outside tmpfs (``--storage-opt size`` where the storage "
                          "driver supports it, else a watchdog that kills the user's processes past it); "
                          "None: unbounded.")
    tmp_size: Size = Field(
        "1g", description="Size of the tmpfs mounted on ``/tmp`` (it counts against ``memory``); "
                          "None: /tmp on the container's disk.")
    disk_check_s: float = Field(2.0, gt=0, description="How often the disk watchdog reads the container's size.")


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

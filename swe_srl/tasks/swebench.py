"""SWE-bench rows as published: an environment for every row, or the reason there is none.

Routes, in order (``swe_srl.tasks.environment.environment_for``):

1. ``spec``: the task's inline ``spec`` or ``sandboxes/specs/<owner>__<name>.yaml``;
2. ``image``: the row's ``image`` (the official per-instance image), when it is present
   locally or can be pulled; graded with the row's ``eval_script`` (``swe_srl.harness.official``);
3. ``derived``: a spec derived from SWE-bench's own per-repository, per-version table
   (``MAP_REPO_VERSION_TO_SPECS_PY`` of the ``swebench`` package) by :func:`derive_spec`;
4. otherwise a :class:`SweSrlError` that names the reason (never a silent skip).

SWE-bench's tables are read as data from ``swebench/harness/constants/python.py`` of
swebench 4.1.0, the last release that ships them (5.x, which the grading parity tests pin,
dropped them): from an installed swebench that still has the module, else from the 4.1.0
wheel in the cache (``~/.cache/swe-srl/swebench/``), fetched once with ``pip download``.
``SWE_SRL_SWEBENCH_TABLES`` names another ``python.py`` or wheel. Nothing is copied into
this project, and the module is executed with a handful of pure builtins and no imports (it
is a file of literals and comprehensions).

Translation (conda on Ubuntu -> our pip wheelhouse on a Debian base of the same Python):
the conda ``packages`` string becomes pip requirements through ``sandboxes/swebench/conda.yaml``
(renames, conda-only packages); ``packages: requirements.txt`` reads the repository's file
at the base commit (the table's ``MAP_REPO_TO_REQS_PATHS``); ``pip install -e .`` adds the
project's own dependencies and build requirements to the resolution and installs with
``--no-build-isolation`` (the build runs offline); everything unpinned is resolved as of the
row's ``created_at`` (``exclude_newer``, uv's ``--exclude-newer``). What cannot be translated
(a Python version without a base image, a conda-only package, an ``environment.yml``, apt
packages or downloads in ``pre_install``) is a :class:`CannotDerive` with that reason.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from swe_srl.errors import SweSrlError
from swe_srl.paths import cache_root
from swe_srl.sandbox.spec import EnvSpec, sandboxes_dir

TABLES_RELEASE = "4.1.0"
TABLES_MODULE = "swebench/harness/constants/python.py"
TABLES_ENV = "SWE_SRL_SWEBENCH_TABLES"
BASE_PYTHONS = ("3.9", "3.11", "3.13")  # swe_srl.sandbox.images.RELEASES (no Docker import here)

ROUTE_SPEC = "spec"
ROUTE_IMAGE = "image"
ROUTE_DERIVED = "derived"
ROUTE_NONE = "none"


class CannotDerive(SweSrlError):
    """A row whose environment cannot be derived from SWE-bench's tables (the message says why)."""


# --------------------------------------------------------------------------- the tables
@dataclass(frozen=True)
class Tables:
    """SWE-bench's per-repository Python tables, read as data."""

    specs: dict[str, dict[str, dict[str, Any]]]
    """``MAP_REPO_VERSION_TO_SPECS_PY``: repo -> version -> spec."""
    reqs_paths: dict[str, list[str]]
    env_yml_paths: dict[str, list[str]]
    install: dict[str, str]
    source: str
    """Where the module was read (a path, or ``wheel!member``)."""
    sha256: str


def _module_text_from_wheel(wheel: Path) -> str:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(TABLES_MODULE).decode()
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise SweSrlError(f"{wheel}: not a swebench wheel with {TABLES_MODULE} ({e})") from None


def _cache_root() -> Path:
    return cache_root() / "swebench"


def _fetch_wheel(dest: Path) -> Path:
    """``pip download swebench==4.1.0`` (the wheel only, no dependencies) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".download-") as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
             f"swebench=={TABLES_RELEASE}", "-d", tmp],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", timeout=300,
        )
        wheels = sorted(Path(tmp).glob("swebench-*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stdout.strip().splitlines() or ["no output"])[-1]
            raise SweSrlError(
                f"SWE-bench's spec tables: swebench {TABLES_RELEASE} is not cached in {dest} and "
                f"`pip download swebench=={TABLES_RELEASE}` failed ({last[:200]}); put the wheel there or set "
                f"{TABLES_ENV} to its path")
        target = dest / wheels[0].name
        os.replace(wheels[0], target)
    return target


def _tables_text() -> tuple[str, str]:
    """(module source, where it came from)."""
    env = os.environ.get(TABLES_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise SweSrlError(f"{TABLES_ENV}={env}: no such file")
        if path.suffix == ".whl":
            return _module_text_from_wheel(path), f"{path}!{TABLES_MODULE}"
        return path.read_text(), str(path)
    import importlib.util

    spec = importlib.util.find_spec("swebench")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "harness" / "constants" / "python.py"
            if candidate.is_file():
                return candidate.read_text(), str(candidate)
    cache = _cache_root()
    wheel = cache / f"swebench-{TABLES_RELEASE}-py3-none-any.whl"
    if not wheel.is_file():
        wheel = _fetch_wheel(cache)
    return _module_text_from_wheel(wheel), f"{wheel}!{TABLES_MODULE}"


_SAFE_BUILTINS = ("int", "float", "str", "bool", "list", "dict", "set", "tuple", "range", "len", "sorted",
                  "enumerate", "zip", "min", "max")


@functools.lru_cache(maxsize=1)
def load_tables() -> Tables:
    """SWE-bench's tables (read once per process)."""
    text, source = _tables_text()
    # literals, comprehensions and a few pure conversions: no other builtins, no imports
    namespace: dict[str, Any] = {"__builtins__": {name: getattr(builtins, name) for name in _SAFE_BUILTINS}}
    try:
        exec(compile(text, source, "exec"), namespace)
    except Exception as e:  # a module that is not the table file we know
        raise SweSrlError(f"{source}: cannot read SWE-bench's tables ({type(e).__name__}: {e})") from None
    specs = namespace.get("MAP_REPO_VERSION_TO_SPECS_PY")
    if not isinstance(specs, dict):
        raise SweSrlError(f"{source}: no MAP_REPO_VERSION_TO_SPECS_PY table")
    return Tables(specs=specs, reqs_paths=dict(namespace.get("MAP_REPO_TO_REQS_PATHS") or {}),
                  env_yml_paths=dict(namespace.get("MAP_REPO_TO_ENV_YML_PATHS") or {}),
                  install=dict(namespace.get("MAP_REPO_TO_INSTALL_PY") or {}), source=source,
                  sha256=hashlib.sha256(text.encode()).hexdigest())


@functools.lru_cache(maxsize=1)
def conda_map() -> dict[str, Any]:
    """``sandboxes/swebench/conda.yaml``: renames, conda-only and skipped packages."""
    import yaml

    path = sandboxes_dir() / "swebench" / "conda.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise SweSrlError(f"{path}: missing (set SWE_SRL_SANDBOXES to the project's sandboxes/ folder)") from None
    return {"rename": {str(k).lower(): str(v) for k, v in (data.get("rename") or {}).items()},
            "conda_only": {str(x).lower() for x in data.get("conda_only") or []},
            "skip": {str(x).lower() for x in data.get("skip") or []}}


# --------------------------------------------------------------------------- derivation
_CONDA_REQ = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(.*)$")


def conda_to_pip(requirement: str) -> str | None:
    """One conda requirement as a pip one (``numpy=1.19`` -> ``numpy==1.19.*``); None when the
    package is provided by the base (python, pip); CannotDerive for a conda-only package."""
    m = _CONDA_REQ.match(requirement.strip())
    if not m:
        raise CannotDerive(f"conda package {requirement!r} is not a requirement this translation reads")
    name, version = m.group(1), m.group(2).strip()
    table = conda_map()
    key = name.lower()
    if key in table["skip"]:
        return None
    if key in table["conda_only"]:
        raise CannotDerive(f"conda-only package {name!r} (no PyPI equivalent)")
    name = table["rename"].get(key, name)
    if version.startswith("=") and not version.startswith("=="):
        version = "==" + version[1:] + ("" if "*" in version or version.count(".") >= 2 else ".*")
    elif version and version[0].isdigit():
        version = "==" + version
    return f"{name}{version}"


def _created_at(task: dict[str, Any]) -> str | None:
    raw = task.get("created_at")
    if raw in (None, ""):
        return None
    text = str(raw).strip().replace(" ", "T")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SweSrlError(f"task {task.get('instance_id')}: created_at {raw!r} is not a date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_LOCAL_TARGET = re.compile(r"^(?:\.|\./?)(\[[^\]]*\])?/?$")


def _translate_install(command: str) -> tuple[str, list[str]]:
    """A table ``install`` command for an offline build: ``pip install`` of the repository gets
    ``--no-build-isolation``; returns (command, repository requirements it needs: ``.`` or ``.[x]``)."""
    needs: list[str] = []
    parts = []
    for piece in re.split(r"(\s*(?:;|&&)\s*)", command):
        if re.fullmatch(r"\s*(?:;|&&)\s*", piece or ""):
            parts.append(piece)
            continue
        try:
            words = shlex.split(piece)
        except ValueError:
            raise CannotDerive(f"install command {command!r} is not a shell line this translation reads") from None
        if "setup.py" in words and any(w in words for w in ("install", "develop", "build")):
            needs.append(".")
        elif "pip" in words and "install" in words:
            local = [w for w in words if _LOCAL_TARGET.match(w)]
            for w in local:
                extra = _LOCAL_TARGET.match(w).group(1) or ""  # type: ignore[union-attr]
                needs.append("." + extra)
            if local and "--no-build-isolation" not in words:
                i = words.index("install")
                words.insert(i + 1, "--no-build-isolation")
                piece = " ".join(shlex.quote(w) for w in words)
        parts.append(piece)
    return "".join(parts), list(dict.fromkeys(needs))


def _check_pre_install(commands: list[str]) -> list[str]:
    """``pre_install`` commands kept as build-time install commands; CannotDerive for the ones an
    offline build on a Debian minbase cannot run (apt packages, downloads)."""
    kept = []
    for cmd in commands:
        apt = re.search(r"apt(?:-get)?\s+(?:-\S+\s+)*install\s+(.*)", cmd)
        if apt:
            pkgs = [w for w in re.split(r"\s+|&&", apt.group(1)) if w and not w.startswith("-")]
            raise CannotDerive(f"pre_install installs apt packages ({' '.join(pkgs)}), which derived "
                               "environments do not provide")
        if re.search(r"\b(wget|curl)\b", cmd):
            raise CannotDerive(f"pre_install downloads at build time ({cmd[:80]!r}); derived builds are offline")
        if re.search(r"\b(apt-get|apt|locale-gen)\b", cmd):
            raise CannotDerive(f"pre_install runs {cmd[:80]!r} (system set-up derived environments do not do)")
        if re.match(r"^\s*echo\b.*>\s*/etc/", cmd):
            raise CannotDerive(f"pre_install writes system files ({cmd[:80]!r})")
        kept.append(cmd)
    return kept


def derive_spec(task: dict[str, Any], tables: Tables | None = None) -> dict[str, Any]:
    """The environment spec (EnvSpec fields) of one SWE-bench row, derived from SWE-bench's table
    for its (repo, version); :class:`CannotDerive` with the reason when it cannot be."""
    tables = tables or load_tables()
    repo, version = task.get("repo") or "", str(task.get("version") or "")
    by_version = tables.specs.get(repo)
    if by_version is None:
        raise CannotDerive(f"repository {repo!r} is not in SWE-bench's Python tables")
    specs = by_version.get(version)
    if specs is None:
        raise CannotDerive(f"{repo} has no SWE-bench spec for version {version!r} "
                           f"(known: {', '.join(sorted(by_version)) or 'none'})")
    python = str(specs.get("python", ""))
    if python not in BASE_PYTHONS:
        raise CannotDerive(f"Python {python} has no base image here (available: {', '.join(BASE_PYTHONS)})")
    pip: list[str] = []
    repo_reqs: list[str] = []
    packages = specs.get("packages", "") or ""
    if packages == "requirements.txt":
        paths = tables.reqs_paths.get(repo)
        if not paths:
            raise CannotDerive(f"packages: requirements.txt, but SWE-bench lists no requirements file for {repo}")
        repo_reqs.append("|".join(paths))
    elif packages == "environment.yml":
        raise CannotDerive("packages: environment.yml (a conda environment file; not translated to pip)")
    elif packages:
        for item in shlex.split(packages):
            translated = conda_to_pip(item)
            if translated:
                pip.append(translated)
    pip += [str(p) for p in specs.get("pip_packages") or []]
    install: list[str] = []
    if repo in tables.install:
        cmd, needs = _translate_install(tables.install[repo])
        install.append(cmd)
        repo_reqs += needs
    install += _check_pre_install([str(c) for c in specs.get("pre_install") or []])
    if specs.get("install"):
        cmd, needs = _translate_install(str(specs["install"]))
        install.append(cmd)
        repo_reqs += needs
    test_cmd = specs.get("test_cmd")
    if isinstance(test_cmd, list):
        test_cmd = " && ".join(str(c) for c in test_cmd)
    if not test_cmd:
        raise CannotDerive(f"{repo} {version}: no test_cmd in SWE-bench's table")
    prefix = [str(c) for c in specs.get("eval_commands") or []]
    if prefix:
        test_cmd = "; ".join([*prefix, test_cmd])
    if repo == "django/django" and "{test_modules}" not in test_cmd:
        test_cmd += " {test_modules}"  # SWE-bench runs Django's tests by dotted module name
    parser = task.get("log_parser") or repo  # the harness knows SWE-bench's parser of each repository
    spec: dict[str, Any] = {
        "python": python,
        "pip_packages": list(dict.fromkeys(pip)),
        "install": install,
        "test_cmd": str(test_cmd),
        "log_parser": str(parser),
        "exclude_newer": _created_at(task),
        "repo_requirements": list(dict.fromkeys(repo_reqs)),
    }
    EnvSpec.from_dict(spec, f"task {task.get('instance_id')} derived spec")  # it must be a valid spec
    return spec

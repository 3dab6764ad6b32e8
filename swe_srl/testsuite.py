"""A repository's test suite, read the way SWE-bench reads it: the command that
runs given test files (:func:`test_command`) and the parsers that turn its log
into a status map (:func:`status_map_parser`). Pure functions, below the tasks
and the harness: bug synthesis and grading both use them.

Test-log parsers are registered by name, with SWE-bench's reading of each log.
A parser turns the text between the eval script's start/end markers into a
status map ``{test name: status}`` where status is one of ``PASSED``,
``FAILED``, ``SKIPPED``, ``ERROR``, ``XFAIL``. Test names are read the way
SWE-bench reads them (a whitespace split of the summary line), so names in
official FAIL_TO_PASS / PASS_TO_PASS lists match ours exactly, including
parametrized ids that contain spaces (cut at the first space).

Names accepted by :func:`status_map_parser` (and by a spec's ``log_parser``):

- short names: ``pytest``, ``pytest_options``, ``pytest_v2``, ``django``,
  ``sympy``, ``matplotlib``, ``seaborn``;
- SWE-bench's function names: ``parse_log_pytest``, ``parse_log_django``, ...;
- SWE-bench's per-repository aliases: ``parse_log_requests``,
  ``parse_log_astropy``, ... (and the bare repository names: ``requests``);
- a repository ``owner/name`` of SWE-bench's Python set (``psf/requests``).
"""

from __future__ import annotations

import re
import shlex
from typing import Callable

from swe_srl.errors import SweSrlError

PASSED = "PASSED"
FAILED = "FAILED"
SKIPPED = "SKIPPED"
ERROR = "ERROR"
XFAIL = "XFAIL"
STATUSES = (FAILED, PASSED, SKIPPED, ERROR, XFAIL)

ParseFn = Callable[[str], dict[str, str]]

_SKIP_COUNT = re.compile(r"^\[\d+\]$")


def _status_prefix(line: str) -> bool:
    return line.startswith(STATUSES)


def _summary_fields(line: str) -> list[str] | None:
    """Split one pytest ``-rA`` summary line the SWE-bench way (None: not a result).

    ``FAILED a::b - msg`` loses its `` - `` separators before the split, so the
    message never joins the name; ``SKIPPED [N] file:line: reason`` is pytest's
    skip summary, not a test, and is dropped.
    """
    if not _status_prefix(line):
        return None
    if line.startswith(FAILED):
        line = line.replace(" - ", " ")
    fields = line.split()
    if len(fields) <= 1:
        return None
    if fields[0] == SKIPPED and _SKIP_COUNT.match(fields[1]):
        return None
    return fields


def parse_pytest(log: str) -> dict[str, str]:
    """pytest ``-rA`` output: ``STATUS test_id`` lines."""
    out: dict[str, str] = {}
    for line in log.split("\n"):
        fields = _summary_fields(line)
        if fields:
            out[fields[1]] = fields[0]
    return out


_OPTION = re.compile(r"(.*?)\[(.*)\]")


def parse_pytest_options(log: str) -> dict[str, str]:
    """pytest with the parametrize-id rewrite: an id that is a path
    (``[/tmp/x/y.txt]``) keeps only its last component (``[/y.txt]``), so ids
    built from temporary directories compare across runs. ``//...`` ids (URLs
    without a scheme) and globs (``*``) are left alone."""
    out: dict[str, str] = {}
    for line in log.split("\n"):
        fields = _summary_fields(line)
        if not fields:
            continue
        name = fields[1]
        m = _OPTION.search(name)
        if m:
            head, option = m.group(1), m.group(2)
            if option.startswith("/") and not option.startswith("//") and "*" not in option:
                option = "/" + option.split("/")[-1]
            name = f"{head}[{option}]"
        out[name] = fields[0]
    return out


_ANSI = re.compile(r"\[(\d+)m")
_CONTROL = str.maketrans("", "", "".join(chr(c) for c in range(1, 32)))


def parse_pytest_v2(log: str) -> dict[str, str]:
    """Later pytest logs (astropy, scikit-learn, sphinx): colour codes stripped,
    the whole rest of the line is the name, and ``name STATUS`` lines of older
    pytest versions are read too."""
    out: dict[str, str] = {}
    for line in log.split("\n"):
        line = _ANSI.sub("", line).translate(_CONTROL)
        if _status_prefix(line):
            if line.startswith(FAILED):
                line = line.split(" - ", 1)[0]
            fields = line.split()
            if len(fields) >= 2 and not (fields[0] == SKIPPED and _SKIP_COUNT.match(fields[1])):
                out[" ".join(fields[1:])] = fields[0]
        elif line.endswith(STATUSES):
            fields = line.split()
            if len(fields) >= 2:
                out[" ".join(fields[:-1])] = fields[-1]
    return out


_DJANGO_MULTILINE = [
    re.compile(r"^(.*?)\s\.\.\.\sTesting\ against\ Django\ installed\ in\ ((?s:.*?))\ silenced\)\.\nok$", re.M),
    re.compile(r"^(.*?)\s\.\.\.\sInternal\ Server\ Error:\ \/(.*)\/\nok$", re.M),
    re.compile(r"^(.*?)\s\.\.\.\sSystem check identified no issues \(0 silenced\)\nok$", re.M),
]
_DJANGO_OK = (" ... ok", " ... OK", " ...  OK")
_DJANGO_7188 = "Applying sites.0002_alter_domain_unique...test_no_migrations"


def parse_django(log: str) -> dict[str, str]:
    """Django's runner (``test_x (module.Class) ... ok``), including results
    whose ``ok`` lands on a later line after printed output."""
    out: dict[str, str] = {}
    previous: str | None = None
    for raw in log.split("\n"):
        line = raw.strip()
        if "--version is equivalent to version" in line:
            out["--version is equivalent to version"] = PASSED
        if " ... " in line:
            previous = line.split(" ... ")[0]
        for suffix in _DJANGO_OK:
            if line.endswith(suffix):
                if line.strip().startswith(_DJANGO_7188):
                    line = line.split("...", 1)[-1].strip()
                out[line.rsplit(suffix, 1)[0]] = PASSED
                break
        if " ... skipped" in line:
            out[line.split(" ... skipped")[0]] = SKIPPED
        if line.endswith(" ... FAIL"):
            out[line.split(" ... FAIL")[0]] = FAILED
        if line.startswith("FAIL:"):
            out[line.split()[1].strip()] = FAILED
        if line.endswith(" ... ERROR"):
            out[line.split(" ... ERROR")[0]] = ERROR
        if line.startswith("ERROR:"):
            out[line.split()[1].strip()] = ERROR
        if line.lstrip().startswith("ok") and previous is not None:
            out[previous] = PASSED
    for pattern in _DJANGO_MULTILINE:
        for m in pattern.finditer(log):
            out[m.group(1)] = PASSED
    return out


_SYMPY_FAIL_HEADER = re.compile(r"(_*) (.*)\.py:(.*) (_*)")


def parse_sympy(log: str) -> dict[str, str]:
    """sympy's ``bin/test`` runner: ``test_x ok|F|E`` lines and
    ``____ path.py:test_x ____`` failure headers."""
    out: dict[str, str] = {}
    for m in _SYMPY_FAIL_HEADER.findall(log):
        out[f"{m[1]}.py:{m[2]}"] = FAILED
    for raw in log.split("\n"):
        line = raw.strip()
        if not line.startswith("test_"):
            continue
        if line.endswith(" E"):
            out[line.split()[0]] = ERROR
        if line.endswith(" F"):
            out[line.split()[0]] = FAILED
        if line.endswith(" ok"):
            out[line.split()[0]] = PASSED
    return out


def parse_matplotlib(log: str) -> dict[str, str]:
    """pytest, with matplotlib's mouse-button enum names turned into numbers."""
    out: dict[str, str] = {}
    for line in log.split("\n"):
        line = line.replace("MouseButton.LEFT", "1").replace("MouseButton.RIGHT", "3")
        fields = _summary_fields(line)
        if fields:
            out[fields[1]] = fields[0]
    return out


def parse_seaborn(log: str) -> dict[str, str]:
    """seaborn's logs: ``FAILED name``, ``PASSED name`` and ``name PASSED ...``."""
    out: dict[str, str] = {}
    for line in log.split("\n"):
        fields = line.split()
        if len(fields) < 2:
            continue
        if line.startswith(FAILED):
            out[fields[1]] = FAILED
        elif f" {PASSED} " in line:
            if fields[1] == PASSED:
                out[fields[0]] = PASSED
        elif line.startswith(PASSED):
            out[fields[1]] = PASSED
    return out


PARSERS: dict[str, ParseFn] = {
    "pytest": parse_pytest,
    "pytest_options": parse_pytest_options,
    "pytest_v2": parse_pytest_v2,
    "django": parse_django,
    "sympy": parse_sympy,
    "matplotlib": parse_matplotlib,
    "seaborn": parse_seaborn,
}

# SWE-bench's per-repository parser names and the parser each one is.
REPO_ALIASES: dict[str, str] = {
    "astroid": "pytest", "flask": "pytest", "marshmallow": "pytest", "pvlib": "pytest",
    "pyvista": "pytest", "sqlfluff": "pytest", "xarray": "pytest",
    "pydicom": "pytest_options", "requests": "pytest_options", "pylint": "pytest_options",
    "astropy": "pytest_v2", "scikit": "pytest_v2", "sphinx": "pytest_v2",
}

# SWE-bench's Python repositories and their parsers.
REPO_PARSERS: dict[str, str] = {
    "astropy/astropy": "pytest_v2",
    "django/django": "django",
    "marshmallow-code/marshmallow": "pytest",
    "matplotlib/matplotlib": "matplotlib",
    "mwaskom/seaborn": "seaborn",
    "pallets/flask": "pytest",
    "psf/requests": "pytest_options",
    "pvlib/pvlib-python": "pytest",
    "pydata/xarray": "pytest",
    "pydicom/pydicom": "pytest_options",
    "pylint-dev/astroid": "pytest",
    "pylint-dev/pylint": "pytest_options",
    "pytest-dev/pytest": "pytest",
    "pyvista/pyvista": "pytest",
    "scikit-learn/scikit-learn": "pytest_v2",
    "sqlfluff/sqlfluff": "pytest",
    "sphinx-doc/sphinx": "pytest_v2",
    "sympy/sympy": "sympy",
}


def canonical_name(name: str) -> str:
    """The short name for any accepted spelling; SweSrlError listing the valid names otherwise."""
    key = name.strip()
    if key in REPO_PARSERS:
        return REPO_PARSERS[key]
    if key.startswith("parse_log_"):
        key = key[len("parse_log_"):]
    if key in PARSERS:
        return key
    if key in REPO_ALIASES:
        return REPO_ALIASES[key]
    valid = sorted(PARSERS) + sorted(f"parse_log_{k}" for k in (*PARSERS, *REPO_ALIASES))
    raise SweSrlError(f"unknown log_parser {name!r}; valid names: {', '.join(valid)}")


def status_map_parser(name: str) -> ParseFn:
    """The parse function registered under ``name`` (any accepted spelling)."""
    return PARSERS[canonical_name(name)]


def register(name: str, fn: ParseFn) -> None:
    """Register a further parser under a short name."""
    PARSERS[name] = fn


def parse_log(log: str, parser: str = "pytest") -> dict[str, str]:
    return status_map_parser(parser)(log)


def test_modules(targets: list[str]) -> list[str]:
    """Test files as dotted module names below the test root, the way Django's
    runner takes them: ``tests/admin_views/test_forms.py`` -> ``admin_views.test_forms``."""
    out = []
    for t in targets:
        mod = t[:-3] if t.endswith(".py") else t
        parts = mod.split("/")
        if parts and parts[0] in ("tests", "test"):
            parts = parts[1:]
        out.append(".".join(parts))
    return out


def test_command(test_cmd: str, targets: list[str]) -> str:
    """The spec's command with the targets appended, or put where the command
    says: ``{tests}`` (file paths) or ``{test_modules}`` (dotted module names)."""
    quoted = " ".join(shlex.quote(t) for t in targets)
    if "{tests}" in test_cmd:
        return test_cmd.replace("{tests}", quoted)
    if "{test_modules}" in test_cmd:
        return test_cmd.replace("{test_modules}", " ".join(shlex.quote(m) for m in test_modules(targets)))
    return f"{test_cmd} {quoted}".rstrip()

"""Layers point one way: an import inside ``swe_srl`` only ever points down.

Every import statement counts: at module level, inside functions and under
``if TYPE_CHECKING:`` (an import hidden in a function still ties the two
modules together). The order, lowest first, is the one in the README's
"Layers" section; the only exceptions are the remaining debt listed there
(and in :data:`DEBT`), and this test fails when an entry is paid off, so the
list cannot go stale. A debt entry names the one module it may import, and the
module that carries it may only re-export (no code of its own), so logic cannot
move back below the layer it needs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "swe_srl"

# unit (a top-level module or subpackage of swe_srl) -> rank; an import may only
# point to a lower rank (or within its own unit).
LAYERS: list[tuple[str, ...]] = [
    ("swe_srl", "errors"),  # core: the package root (__version__) and the error vocabulary,
    ("io", "text", "formats", "config", "paths", "git"),  # then the helpers built on them
    ("trajectories",),
    ("protocols",),  # the seams: above the canonical records they name, below every backend
    ("data", "rewards", "testsuite"),  # testsuite: the test command and test-log parsers (synthesis, grading)
    ("policy", "sandbox", "models"),
    ("execution",),  # the shared task runner (sandbox pools, Ray)
    ("tasks",),
    ("harness",),
    ("agent", "train"),
    ("report",),
    ("cli",),
    ("__main__",),
]
RANK = {unit: i for i, units in enumerate(LAYERS) for unit in units}

# (importing module, imported module): the remaining upward imports, each explained
# in the README's "Layers" section. Paying one off means deleting its line here.
DEBT: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "swe_srl"


def imports(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """``(imported swe_srl module, line)`` for every import statement in ``source``
    (the text of ``module``; relative imports are resolved against it)."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(source, module)):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "swe_srl"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "swe_srl":
                continue
            if target == "swe_srl":  # `from swe_srl import x`: x is a submodule or a root name
                found += [(f"swe_srl.{a.name}" if a.name in RANK else "swe_srl", node.lineno) for a in node.names]
            else:
                found.append((target, node.lineno))
    return found


def upward_imports() -> dict[tuple[str, str], list[str]]:
    """Every import that points up or sideways, by (importing module, imported module)."""
    bad: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        unit = _unit(module)
        assert unit in RANK, f"{path}: unit {unit!r} has no layer; add it to LAYERS here and in the README"
        for target, line in imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py"):
            other = _unit(target)
            assert other in RANK, f"{path}:{line}: imports {target}, whose unit {other!r} has no layer"
            if other != unit and RANK[other] >= RANK[unit]:
                bad.setdefault((module, target), []).append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return bad


def test_imports_point_down_except_the_documented_debt():
    bad = upward_imports()
    new = {k: v for k, v in bad.items() if k not in DEBT}
    assert not new, "imports that point up or sideways:\n" + "\n".join(x for v in new.values() for x in v)
    paid = sorted(set(DEBT) - set(bad))
    assert not paid, f"debt paid off: delete {paid} from DEBT and from the README"


def _module_path(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def test_a_module_in_debt_only_re_exports():
    """The upward import a debt entry allows carries no code: the module holds a
    docstring, imports and ``__all__``, nothing else."""
    for module, _ in DEBT:
        tree = ast.parse(_module_path(module).read_text(encoding="utf-8"))
        for i, node in enumerate(tree.body):
            docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            exports = isinstance(node, ast.Assign) and [getattr(t, "id", "") for t in node.targets] == ["__all__"]
            assert docstring or exports or isinstance(node, (ast.Import, ast.ImportFrom)), (
                f"{module}:{node.lineno}: a module in DEBT may only re-export; move its code above the layer it imports")


def test_the_readme_states_the_layers_and_the_debt():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Layers", 1)[-1].split("\n## ", 1)[0]
    assert "### Layers" in readme, "README.md has no '### Layers' section"
    for units in LAYERS:
        for unit in units:
            if unit not in ("swe_srl", "__main__", "formats", "models"):
                assert f"`{unit}`" in section, f"README layers section does not place `{unit}`"
    for module, _ in DEBT:
        assert f"`{module}`" in section, f"README layers section does not list the debt of `{module}`"
    # the table's rows go up the layers in the test's order: every unit of a row sits below every unit of the next
    rows = [re.findall(r"`([a-z_]+)`", line) for line in section.splitlines() if line.startswith("| ") and "`" in line]
    ranks = [[RANK[u] for u in row if u in RANK] for row in rows]
    ranks = [r for r in ranks if r]
    for (lower, upper) in zip(ranks, ranks[1:]):
        assert max(lower) < min(upper), f"README layers table is out of order: {rows}"


def test_the_checker_sees_imports_inside_functions_and_for_type_checking():
    """A function-local import is an import (the way cycles used to hide)."""
    text = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..harness import run\n"
            "def f():\n    from swe_srl.tasks import resolve_repo_path\n    import swe_srl.cli.common\n")
    assert imports(text, "swe_srl.sandbox.images") == [
        ("swe_srl.harness", 3), ("swe_srl.tasks", 5), ("swe_srl.cli.common", 6)]

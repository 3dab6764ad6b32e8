"""Procedural bugs with libcst (SWE-smith's "procedural modification" idea).

Each mutator finds sites inside function bodies and rewrites exactly one site,
keeping the rest of the file byte-for-byte (libcst is lossless), so the fix is a
small, readable diff. Kinds:

- ``invert_condition``: ``if c:`` -> ``if not c:`` (``if not c:`` -> ``if c:``)
- ``swap_operator``: ``+``/``-``, ``*``/``//``, ``<``/``<=``, ``>``/``>=``,
  ``==``/``!=``, ``is``/``is not``, ``in``/``not in``, ``and``/``or``
- ``off_by_one``: an integer bound in a slice, an index or a ``range()`` call moved by one
- ``remove_statement``: a simple statement dropped from a block of several
- ``change_return``: ``return True`` <-> ``return False``, ``return x`` -> ``return None``
- ``swap_arguments``: the first two positional arguments of a call exchanged
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

MUTATION_KINDS = ("invert_condition", "swap_operator", "off_by_one", "remove_statement", "change_return", "swap_arguments")

_BIN_SWAP: dict[type, type] = {
    cst.Add: cst.Subtract, cst.Subtract: cst.Add,
    cst.Multiply: cst.FloorDivide, cst.FloorDivide: cst.Multiply,
    cst.BitAnd: cst.BitOr, cst.BitOr: cst.BitAnd,
    cst.LeftShift: cst.RightShift, cst.RightShift: cst.LeftShift,
}
_CMP_SWAP: dict[type, type] = {
    cst.LessThan: cst.LessThanEqual, cst.LessThanEqual: cst.LessThan,
    cst.GreaterThan: cst.GreaterThanEqual, cst.GreaterThanEqual: cst.GreaterThan,
    cst.Equal: cst.NotEqual, cst.NotEqual: cst.Equal,
    cst.Is: cst.IsNot, cst.IsNot: cst.Is,
    cst.In: cst.NotIn, cst.NotIn: cst.In,
}
_BOOL_SWAP: dict[type, type] = {cst.And: cst.Or, cst.Or: cst.And}


@dataclass
class Mutation:
    """One candidate bug: where it is, what it does, and the mutated file."""

    kind: str
    path: str
    line: int
    function: str
    description: str
    original: str = field(repr=False)
    mutated: str = field(repr=False)

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.kind}:{abs(hash(self.mutated)) % 10**8:08d}"


def _swap_op(op: cst.CSTNode, table: dict[type, type]) -> cst.CSTNode | None:
    new = table.get(type(op))
    if new is None:
        return None
    kwargs = {}
    for attr in ("whitespace_before", "whitespace_after"):
        if hasattr(op, attr) and attr in new.__dataclass_fields__:  # type: ignore[attr-defined]
            kwargs[attr] = getattr(op, attr)
    if isinstance(op, (cst.IsNot, cst.NotIn)) and new in (cst.Is, cst.In):
        kwargs = {"whitespace_before": op.whitespace_before, "whitespace_after": op.whitespace_after}
    if new in (cst.IsNot, cst.NotIn):
        kwargs = {"whitespace_before": getattr(op, "whitespace_before", cst.SimpleWhitespace(" ")),
                  "whitespace_after": getattr(op, "whitespace_after", cst.SimpleWhitespace(" "))}
    return new(**kwargs)


def _int_value(node: cst.CSTNode) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value, 0)
        except ValueError:
            return None
    return None


class _Sites(cst.CSTVisitor):
    """Collect (kind, node, description, replacement-maker) inside functions."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self) -> None:
        self.functions: list[str] = []  # qualified names of the enclosing functions (Class.method, outer.inner)
        self.scopes: list[str] = []
        self.sites: list[tuple[str, cst.CSTNode, int, str, str, Callable[[cst.CSTNode], cst.CSTNode | cst.RemovalSentinel]]] = []
        self._index_depth = 0
        self._calls: list[bool] = []  # per enclosing call: is it range()?
        self._args: list[bool] = []  # per enclosing argument: of a range() call?

    # structure
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(".".join([*self.scopes, node.name.value]))
        self.scopes.append(node.name.value)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()
        self.scopes.pop()

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.append(node.name.value)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.scopes.pop()

    def _add(self, kind: str, node: cst.CSTNode, desc: str, make) -> None:
        if not self.functions:
            return
        line = self.get_metadata(PositionProvider, node).start.line
        self.sites.append((kind, node, line, self.functions[-1], desc, make))

    # invert_condition
    def visit_If(self, node: cst.If) -> None:
        test = node.test

        def make(n: cst.If) -> cst.If:
            t = n.test
            if isinstance(t, cst.UnaryOperation) and isinstance(t.operator, cst.Not):
                inner = t.expression
                return n.with_changes(test=inner.with_changes(lpar=[], rpar=[]) if isinstance(inner, (cst.Name, cst.Attribute, cst.Call)) else inner)
            wrapped = t if isinstance(t, (cst.Name, cst.Attribute, cst.Call, cst.Subscript)) or t.lpar else t.with_changes(
                lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return n.with_changes(test=cst.UnaryOperation(operator=cst.Not(), expression=wrapped))

        self._add("invert_condition", node, "inverted the condition of an `if`", make)
        del test

    # swap_operator
    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if type(node.operator) in _BIN_SWAP:
            # string concatenation / formatting is left alone (too often a no-op or break-all)
            if isinstance(node.left, (cst.SimpleString, cst.FormattedString)) or isinstance(node.right, (cst.SimpleString, cst.FormattedString)):
                return
            self._add("swap_operator", node, f"swapped the operator `{type(node.operator).__name__}`",
                      lambda n: n.with_changes(operator=_swap_op(n.operator, _BIN_SWAP)))

    def visit_Comparison(self, node: cst.Comparison) -> None:
        if len(node.comparisons) == 1 and type(node.comparisons[0].operator) in _CMP_SWAP:
            def make(n: cst.Comparison) -> cst.Comparison:
                c = n.comparisons[0]
                return n.with_changes(comparisons=[c.with_changes(operator=_swap_op(c.operator, _CMP_SWAP))])

            self._add("swap_operator", node, f"swapped the comparison `{type(node.comparisons[0].operator).__name__}`", make)

    def visit_BooleanOperation(self, node: cst.BooleanOperation) -> None:
        self._add("swap_operator", node, f"swapped the boolean `{type(node.operator).__name__}`",
                  lambda n: n.with_changes(operator=_swap_op(n.operator, _BOOL_SWAP)))

    # off_by_one
    def visit_SubscriptElement(self, node: cst.SubscriptElement) -> None:
        self._index_depth += 1

    def leave_SubscriptElement(self, node: cst.SubscriptElement) -> None:
        self._index_depth -= 1

    def visit_Arg(self, node: cst.Arg) -> None:
        self._args.append(bool(self._calls and self._calls[-1]))

    def leave_Arg(self, node: cst.Arg) -> None:
        self._args.pop()

    def visit_UnaryOperation(self, node: cst.UnaryOperation) -> bool:
        # -1 and friends: moving the literal gives -0; leave signed literals alone
        return not (isinstance(node.operator, cst.Minus) and isinstance(node.expression, cst.Integer))

    def visit_Call(self, node: cst.Call) -> None:
        self._calls.append(isinstance(node.func, cst.Name) and node.func.value == "range")
        positional = [a for a in node.args if a.keyword is None and not a.star]
        if len(positional) >= 2 and len(positional) == len(node.args):
            a, b = positional[0].value, positional[1].value
            if cst.Module([]).code_for_node(a) != cst.Module([]).code_for_node(b):
                def make(n: cst.Call) -> cst.Call:
                    args = list(n.args)
                    args[0], args[1] = args[0].with_changes(value=args[1].value), args[1].with_changes(value=args[0].value)
                    return n.with_changes(args=args)

                self._add("swap_arguments", node, "swapped the first two arguments of a call", make)

    def leave_Call(self, node: cst.Call) -> None:
        self._calls.pop()

    def visit_Integer(self, node: cst.Integer) -> None:
        if not (self._index_depth or (self._args and self._args[-1])):
            return
        value = _int_value(node)
        if value is None or value > 1000:
            return
        new = value + 1 if value <= 0 else value - 1
        self._add("off_by_one", node, f"moved an integer bound from {value} to {new}",
                  lambda n, new=new: n.with_changes(value=str(new)))

    # remove_statement
    def visit_IndentedBlock(self, node: cst.IndentedBlock) -> None:
        if len(node.body) < 2:
            return
        for i, stmt in enumerate(node.body):
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            small = stmt.body[0]
            if isinstance(small, (cst.Return, cst.Raise, cst.Pass, cst.Global, cst.Nonlocal, cst.Import, cst.ImportFrom)):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString)):
                continue  # a docstring

            def make(n: cst.IndentedBlock, i: int = i) -> cst.IndentedBlock:
                body = list(n.body)
                gone = body.pop(i)
                if i < len(body):  # keep the blank lines / comments that preceded it
                    body[i] = body[i].with_changes(leading_lines=[*gone.leading_lines, *body[i].leading_lines])
                return n.with_changes(body=body)

            line = self.get_metadata(PositionProvider, stmt).start.line
            if self.functions:
                self.sites.append(("remove_statement", node, line, self.functions[-1], "removed a statement", make))

    # change_return
    def visit_Return(self, node: cst.Return) -> None:
        v = node.value
        if v is None:
            return
        if isinstance(v, cst.Name) and v.value in ("True", "False"):
            flip = "False" if v.value == "True" else "True"
            self._add("change_return", node, f"changed `return {v.value}` to `return {flip}`",
                      lambda n, flip=flip: n.with_changes(value=cst.Name(flip)))
        elif not (isinstance(v, cst.Name) and v.value == "None"):
            self._add("change_return", node, "changed a returned value to `None`",
                      lambda n: n.with_changes(value=cst.Name("None")))


class _Replace(cst.CSTTransformer):
    def __init__(self, target: cst.CSTNode, make) -> None:
        self.target = target
        self.make = make
        self.done = False

    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        if original_node is self.target:
            self.done = True
            return self.make(updated_node)
        return updated_node


@dataclass
class Site:
    """A place a mutation can be made; :meth:`render` builds the mutated file."""

    kind: str
    path: str
    line: int
    function: str
    description: str
    _wrapper: MetadataWrapper = field(repr=False)
    _source: str = field(repr=False)
    _node: cst.CSTNode = field(repr=False)
    _make: Callable = field(repr=False)

    def render(self) -> Mutation | None:
        """The mutation, or None when it changes nothing or does not compile."""
        transformer = _Replace(self._node, self._make)
        try:
            mutated = self._wrapper.module.visit(transformer).code
        except Exception:  # a rewrite libcst cannot render: not a candidate
            return None
        if not transformer.done or mutated == self._source:
            return None
        try:
            compile(mutated, self.path, "exec")
        except SyntaxError:
            return None
        return Mutation(kind=self.kind, path=self.path, line=self.line, function=self.function,
                        description=f"{self.description} in `{self.function}` ({self.path}:{self.line})",
                        original=self._source, mutated=mutated)


def find_sites(source: str, path: str, *, kinds: tuple[str, ...] = MUTATION_KINDS) -> list[Site]:
    """Every single-site mutation point of ``source`` (a file at ``path``).
    Cheap: nothing is rendered until :meth:`Site.render`."""
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError:
        return []
    sites = _Sites()
    wrapper.visit(sites)
    return [Site(kind, path, line, function, desc, wrapper, source, node, make)
            for kind, node, line, function, desc, make in sites.sites if kind in kinds]


def find_mutations(source: str, path: str, *, kinds: tuple[str, ...] = MUTATION_KINDS) -> Iterator[Mutation]:
    """The rendered mutations of ``source``, lazily (skipping no-op rewrites)."""
    for site in find_sites(source, path, kinds=kinds):
        m = site.render()
        if m is not None:
            yield m


def sample_sites(files: dict[str, str], *, seed: int = 0, kinds: tuple[str, ...] = MUTATION_KINDS) -> list[Site]:
    """The mutation sites of ``files`` ({path: source}) in an order that
    alternates kinds and spreads over files and functions (seeded shuffle)."""
    rng = random.Random(seed)
    by_kind: dict[str, list[Site]] = {k: [] for k in kinds}
    for path in sorted(files):
        for site in find_sites(files[path], path, kinds=kinds):
            by_kind[site.kind].append(site)
    for ms in by_kind.values():
        rng.shuffle(ms)
        # one site per function first, the rest after
        seen: set[tuple[str, str]] = set()
        first, rest = [], []
        for m in ms:
            (rest if (m.path, m.function) in seen else first).append(m)
            seen.add((m.path, m.function))
        ms[:] = first + rest
    order: list[Site] = []
    queues = [by_kind[k] for k in kinds if by_kind[k]]
    rng.shuffle(queues)
    while queues:
        for q in list(queues):
            order.append(q.pop(0))
            if not q:
                queues.remove(q)
    return order

"""Charts as PNG bytes (matplotlib's Agg canvas, no pyplot and no global
backend state, so it is safe to call from any process or thread)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from swe_srl.report.metrics import Series

DPI = 100
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]


def _label(s: object, limit: int = 48) -> str:
    """Text from files shown on a chart: no mathtext, bounded length."""
    text = str(s).replace("$", r"\$")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig, *, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight" if tight else None, facecolor="white")
    return buf.getvalue()


def _plain_y(ax) -> None:
    """Tick labels that carry their own magnitude (``5e-07``, ``8.2931``): no
    offset or multiplier text above the axis, where it would hit the title."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:.6g}"))


def _style(ax, title: str | None = None, xlabel: str | None = None) -> None:
    if title:
        ax.set_title(_label(title, 70), fontsize=10, loc="left")
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _plot_series(ax, s: "Series", std: "Series | None", color: str, label: str | None = None) -> None:
    marker = "o" if len(s.x) <= 30 else None
    ax.plot(s.x, s.y, color=color, linewidth=1.6, marker=marker, markersize=3, label=_label(label) if label else None)
    if std is not None:
        by_x = dict(zip(std.x, std.y))
        xs, lo, hi = [], [], []
        for x, y in zip(s.x, s.y):
            if x in by_x:
                xs.append(x)
                lo.append(y - by_x[x])
                hi.append(y + by_x[x])
        if xs:
            ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0, label=f"± {_label(std.name)}")


def line_chart(
    title: str,
    lines: Sequence[tuple[str, "Series", "Series | None"]],
    *,
    ylabel: str | None = None,
    unit_interval: bool = False,
    width: float = 5.0,
    height: float = 2.8,
) -> bytes:
    """One chart with a line per series (and a shaded ±std band when given)."""
    fig = _figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, s, std) in enumerate(lines):
        _plot_series(ax, s, std, COLORS[i % len(COLORS)], label)
    _style(ax, title, "step")
    _plain_y(ax)
    if ylabel:
        ax.set_ylabel(_label(ylabel), fontsize=8)
    if unit_interval:
        lo = min(0.0, *(min(s.y) for _, s, _ in lines if s.y))
        hi = max(1.0, *(max(s.y) for _, s, _ in lines if s.y))
        ax.set_ylim(lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
    ax.legend(fontsize=8, frameon=False, loc="best")
    return _png(fig)


def small_multiples(
    items: Sequence[tuple["Series", "Series | None"]], *, columns: int = 3, cell: tuple[float, float] = (3.4, 2.1)
) -> bytes:
    """A grid with one small chart per series (titled by the series name)."""
    rows = max(1, -(-len(items) // columns))
    fig = _figure(cell[0] * columns, cell[1] * rows)
    for i, (s, std) in enumerate(items):
        ax = fig.add_subplot(rows, columns, i + 1)
        _plot_series(ax, s, std, COLORS[0])
        _style(ax, s.name)
        _plain_y(ax)
    # Fixed margins: tight_layout and a tight bounding box would draw the grid
    # three times, and this is the costliest chart of a report.
    h = cell[1] * rows
    fig.subplots_adjust(left=0.07, right=0.98, top=1 - 0.32 / h, bottom=0.3 / h, wspace=0.32, hspace=0.55 * 2.1 / cell[1])
    return _png(fig, tight=False)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, xlabel: str | None = None) -> bytes:
    """Horizontal bars, largest on top."""
    n = len(labels)
    fig = _figure(5.0, max(1.4, 0.26 * n + 0.9))
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(n))[::-1]
    ax.barh(ys, values, color=COLORS[0], height=0.7)
    ax.set_yticks(ys)
    ax.set_yticklabels([_label(lb, 40) for lb in labels])
    for y, v in zip(ys, values):
        ax.text(v, y, f" {v:g}", va="center", fontsize=7)
    _style(ax, title, xlabel)
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    ax.margins(x=0.12)
    if all(float(v).is_integer() for v in values):
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def resolve_rate_chart(groups: dict[str, dict[str, tuple[int, int]]]) -> bytes:
    """Grouped bars: one group per task set, one bar per policy, height = resolve
    rate (%), each bar annotated ``resolved/total``."""
    task_sets = list(groups)
    policies: list[str] = []
    for per_policy in groups.values():
        for p in per_policy:
            if p not in policies:
                policies.append(p)
    most = max(1, max(len(per) for per in groups.values()))
    width = 0.8 / most
    fig = _figure(max(5.0, 1.6 + 0.9 * len(task_sets) * most ** 0.5), 3.2)
    ax = fig.add_subplot(1, 1, 1)
    labelled: set[str] = set()
    for i, ts in enumerate(task_sets):
        present = [p for p in policies if p in groups[ts]]
        left = i - width * len(present) / 2  # the bars of a group are centred on its tick
        for k, policy in enumerate(present):
            resolved, total = groups[ts][policy]
            x = left + width * (k + 0.5)
            h = 100.0 * resolved / total if total else 0.0
            color = COLORS[policies.index(policy) % len(COLORS)]
            ax.bar([x], [h], width=width * 0.92, color=color, label=None if policy in labelled else _label(policy))
            labelled.add(policy)
            ax.text(x, h + 1.5, f"{resolved}/{total}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(task_sets)))
    ax.set_xticklabels([_label(t, 30) for t in task_sets], fontsize=8)
    ax.set_xlim(-0.6, len(task_sets) - 0.4)
    ax.set_ylim(0, 110)
    ax.set_ylabel("resolved (%)", fontsize=8)
    _style(ax, "Resolve rate per task set and policy")
    ax.grid(False, axis="x")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _png(fig)

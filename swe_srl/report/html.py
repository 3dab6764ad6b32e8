"""Render :class:`~swe_srl.report.discover.RunContents` as one self-contained
HTML page: inline CSS, charts embedded as base64 PNG, no scripts, no network.
Everything read from files is HTML-escaped; links to per-instance files are
relative to the page's own folder."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import quote

from swe_srl import __version__
from swe_srl.report import plots
from swe_srl.report.discover import EvalOut, RunContents, ScoreOut, TrainingOut, agent_run_labels
from swe_srl.report.metrics import Series, headlines, series_from_records

MAX_LIST_ITEMS = 20
MAX_TABLE_ROWS = 2000
MAX_PREDICTION_ROWS = 300
MAX_TEXT = 300
MAX_SERIES_PER_GRID = 24
MAX_BARS = 16
# Long parts of a training summary.json, shown collapsed.
HIDDEN_SUMMARY_KEYS = ("last_logged", "validation", "plots", "command", "config")

CSS = """
:root { --fg:#1d2330; --muted:#5d6675; --line:#d9dee7; --bg:#ffffff; --panel:#f6f8fb; --accent:#1f6feb; }
* { box-sizing: border-box; }
body { margin:0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Liberation Sans", "DejaVu Sans", sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 20px 28px 60px; }
header.page { border-bottom: 2px solid var(--line); margin-bottom: 10px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 19px; margin: 30px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
h4 { font-size: 13px; margin: 12px 0 4px; color: var(--muted); text-transform: none; }
.meta, .muted { color: var(--muted); font-size: 12.5px; }
code, .path { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 12px; overflow-wrap: anywhere; }
nav.toc { font-size: 13px; margin: 6px 0 10px; }
nav.toc a { margin-right: 14px; color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 12.5px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.grid { display: flex; flex-wrap: wrap; gap: 0 22px; align-items: flex-start; }
.grid > figure, .grid > .fig { flex: 0 1 500px; }
.nested { margin-left: 14px; }
h3 .path { font-size: 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; background: #fff; }
.tiles { display: flex; flex-wrap: wrap; gap: 10px; margin: 10px 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; background: var(--panel); }
.tile .v { font-size: 20px; font-weight: 650; }
.tile .k { font-size: 12px; color: var(--muted); }
figure { margin: 8px 0 14px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
figcaption { font-size: 12px; color: var(--muted); }
p.missing { color: var(--muted); font-style: italic; margin: 4px 0 8px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11.5px; font-weight: 600; }
.b-resolved { background: #d8f5dd; color: #17602a; }
.b-unresolved { background: #fde2e1; color: #8c1c13; }
.b-empty_patch { background: #eceff3; color: #49505a; }
.b-error { background: #fff0c2; color: #7a5600; }
.b-incomplete { background: #e6ecff; color: #24408e; }
ul.notes { font-size: 12.5px; color: var(--muted); }
details { margin: 6px 0; }
summary { cursor: pointer; color: var(--muted); font-size: 12.5px; }
pre { background: var(--panel); padding: 8px; overflow-x: auto; font-size: 12px; max-height: 360px; }
"""

SECTIONS = [
    ("overview", "Overview"),
    ("scores", "Step scores"),
    ("training", "Training"),
    ("dataset", "Dataset statistics"),
    ("convert", "Conversion"),
    ("agent", "Agent runs"),
    ("evaluation", "Evaluation"),
]


# ---------------------------------------------------------------- small helpers


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def fmt(v: Any) -> str:
    """A value shown in a cell (escaped)."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return esc(v)
        if v == int(v) and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and all(not isinstance(x, (dict, list)) for x in v) and len(v) <= 8:
        return ", ".join(fmt(x) for x in v) or "—"
    if isinstance(v, (list, tuple)):
        return f"<span class=muted>[{len(v)} items]</span>"
    if isinstance(v, dict):
        return f"<span class=muted>{{{len(v)} keys}}</span>"
    text = str(v)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return esc(text)


def _cell(v: Any) -> str:
    cls = ' class="num"' if _is_num(v) else ""
    return f"<td{cls}>{fmt(v)}</td>"


def img(png: bytes, alt: str, caption: str | None = None, *, cls: str = "plot") -> str:
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img class="{cls}" alt="{esc(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def missing(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def kv_table(rows: Iterable[tuple[Any, Any]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th>{_cell(v)}</tr>" for k, v in rows)
    return f"<table class=kv>{body}</table>" if body else ""


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, num_cols: Sequence[int] = ()) -> str:
    """``rows`` hold ready-made (already escaped) cell HTML."""
    head = "".join(f'<th{" class=num" if i in num_cols else ""}>{esc(h)}</th>' for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td{" class=num" if i in num_cols else ""}>{c}</td>' for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Linker:
    """Relative links from the page's folder to files under RUN_DIR."""

    def __init__(self, page: Path):
        self.base = page.resolve().parent

    def href(self, target: Path) -> str:
        rel = os.path.relpath(target.resolve(), self.base)
        return esc(quote(rel.replace(os.sep, "/"), safe="/._-~"))

    def a(self, target: Path, text: str | None = None) -> str:
        return f'<a href="{self.href(target)}">{esc(text if text is not None else target.name)}</a>'


def _path(found: RunContents, p: Path) -> str:
    return f'<span class="path">{esc(found.rel(p))}</span>'


# ---------------------------------------------------------------- generic JSON objects

_COUNT_KEY = re.compile(r"(tool|action|_by|by_|counts?$|reason)", re.I)
# Provenance records, shown collapsed as JSON.
COLLAPSED_KEYS = {"command", "config"}


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _flat_list(v: Any) -> bool:
    """A short list of short scalars, shown inline in one cell."""
    return isinstance(v, list) and len(v) <= 8 and all(_scalar(x) for x in v) and sum(len(str(x)) for x in v) <= 120


def render_obj(obj: dict[str, Any], *, depth: int = 0, charts: bool = True, title: str = "") -> str:
    """A JSON object as compact tables: scalars in a key/value table, flat
    sub-objects as their own tables (and a bar chart for count-like ones),
    objects of objects as a matrix, lists of strings as bounded lists; deeper
    levels nest. Small tables flow side by side, charts follow them."""
    blocks: list[str] = []
    wide: list[str] = []
    figures: list[str] = []
    scalars = [(k, v) for k, v in obj.items() if _scalar(v) or _flat_list(v)]
    if scalars:
        blocks.append(kv_table(scalars))
    for key, value in obj.items():
        if _scalar(value) or _flat_list(value):
            continue
        label = f"{title}{key}"
        head = f"<h4>{esc(label)}</h4>"
        if key in COLLAPSED_KEYS:
            wide.append(_json_details(value, label))
            continue
        if isinstance(value, dict):
            if not value:
                blocks.append(head + missing("empty"))
            elif all(_scalar(v) or _flat_list(v) for v in value.values()):
                nums = [(str(k), float(v)) for k, v in value.items() if _is_num(v) and math.isfinite(v)]
                if charts and len(nums) == len(value) and len(nums) >= 2 and _COUNT_KEY.search(str(key)):
                    # counts: the chart carries the numbers; the table stays one click away
                    nums.sort(key=lambda kv: -kv[1])
                    if len(nums) > MAX_BARS:
                        nums = nums[: MAX_BARS - 1] + [(f"({len(nums) - MAX_BARS + 1} others)", sum(v for _, v in nums[MAX_BARS - 1:]))]
                    png = plots.bar_chart(label, [k for k, _ in nums], [v for _, v in nums])
                    figures.append(
                        img(png, f"{label} chart", cls="plot chart-bar")
                        + f"<details><summary>{esc(label)} as a table</summary>{kv_table(value.items())}</details>"
                    )
                else:
                    blocks.append(head + kv_table(value.items()))
            elif all(isinstance(v, dict) and all(_scalar(x) for x in v.values()) for v in value.values()):
                cols: list[str] = []
                for v in value.values():
                    for c in v:
                        if c not in cols:
                            cols.append(c)
                rows = [[esc(k)] + [fmt(v.get(c)) for c in cols] for k, v in value.items()]
                blocks.append(head + table([str(key), *map(str, cols)], rows, num_cols=range(1, len(cols) + 1)))
            elif depth < 2:
                wide.append(head + f'<div class="nested">{render_obj(value, depth=depth + 1, charts=charts, title=label + " / ")}</div>')
            else:
                wide.append(head + _json_details(value))
        elif isinstance(value, list):
            head = f"<h4>{esc(label)} <span class=muted>({len(value)})</span></h4>"
            if all(_scalar(x) for x in value):
                items = "".join(f"<li>{fmt(x)}</li>" for x in value[:MAX_LIST_ITEMS])
                more = f"<li class=muted>… and {len(value) - MAX_LIST_ITEMS} more</li>" if len(value) > MAX_LIST_ITEMS else ""
                wide.append(f"{head}<ul>{items}{more}</ul>")
            elif all(isinstance(x, dict) for x in value):
                cols = []
                for x in value[:MAX_LIST_ITEMS]:
                    for c in x:
                        if c not in cols:
                            cols.append(c)
                cols = cols[:12]
                rows = [[fmt(x.get(c)) for c in cols] for x in value[:MAX_LIST_ITEMS]]
                more = f"<p class=muted>… and {len(value) - MAX_LIST_ITEMS} more</p>" if len(value) > MAX_LIST_ITEMS else ""
                wide.append(head + table(list(map(str, cols)), rows) + more)
            else:
                wide.append(head + _json_details(value))
    out = ""
    if blocks:
        out += '<div class="grid">' + "".join(f"<div>{b}</div>" for b in blocks) + "</div>"
    out += "".join(wide)
    if figures:
        out += '<div class="grid">' + "".join(f"<div class=fig>{f}</div>" for f in figures) + "</div>"
    return out


def _json_details(value: Any, label: str = "show JSON") -> str:
    import json

    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if len(text) > 20_000:
        text = text[:20_000] + "\n… (cut)"
    return f"<details><summary>{esc(label)}</summary><pre>{esc(text)}</pre></details>"


# ---------------------------------------------------------------- sections


def _section(key: str, body: str) -> str:
    title = dict(SECTIONS)[key]
    return f'<section id="{key}"><h2>{esc(title)}</h2>{body}</section>'


def _brief(v: Any) -> str:
    if isinstance(v, dict):
        nums = [(k, x) for k, x in v.items() if _is_num(x)]
        return " / ".join(f"{esc(k)} {fmt(x)}" for k, x in nums[:4]) or "—"
    return fmt(v)


def overview(found: RunContents, tr_series: list[tuple[TrainingOut, dict[str, Series]]]) -> str:
    tiles: list[tuple[str, str]] = []
    for ds in found.datasets:
        rows = ds.stats.get("rows", ds.stats.get("num_rows", ds.stats.get("instances")))
        if rows is not None:
            tiles.append((f"dataset rows · {found.rel(ds.path)}", _brief(rows)))
    for cv in found.converts:
        if "trajectories" in cv.report:
            tiles.append((f"trajectories converted · {found.rel(cv.path)}", _brief(cv.report.get("trajectories"))))
    for tr, series in tr_series:
        h = headlines(series)
        if h.reward and series[h.reward].y:
            tiles.append((f"final reward · {found.rel(tr.path)}", fmt(series[h.reward].last)))
        for name in h.similarity[:1]:
            tiles.append((f"final {name} · {found.rel(tr.path)}", fmt(series[name].last)))
    for sc in found.scores:
        if _is_num(sc.data.get("mean_similarity")):
            tiles.append((f"mean similarity · {sc.label}", fmt(sc.data["mean_similarity"])))
    for run in found.agent_runs:
        _, policy = agent_run_labels(run)
        summ = run.summary or {}
        total = summ.get("total_tasks", len(run.predictions) if run.predictions else None)
        done = summ.get("submitted", summ.get("nonempty_patches"))
        if _is_num(total) and _is_num(done):
            tiles.append((f"submitted · {policy or found.rel(run.path)}", f"{fmt(done)}/{fmt(total)}"))
    for ev in found.evals:
        total, resolved = _eval_counts(ev)
        rate = f"{100.0 * resolved / total:.1f}%" if total else "—"
        tiles.append((f"resolved · {ev.policy} on {ev.task_set or '?'}", f"{rate} <span class=muted>({resolved}/{total})</span>"))
    tile_html = "".join(f'<div class="tile"><div class="v">{v}</div><div class="k">{esc(k)}</div></div>' for k, v in tiles)
    found_rows = []
    for kind, items in (
        ("dataset (stats.json)", [d.path for d in found.datasets]),
        ("conversion (report.json)", [c.path for c in found.converts]),
        ("training (metrics)", [t.path for t in found.trainings]),
        ("agent run (summary / predictions)", [a.path for a in found.agent_runs]),
        ("evaluation (run report)", [e.path for e in found.evals]),
        ("step scores (swe-srl score)", [sc.path for sc in found.scores]),
    ):
        found_rows.append([esc(kind), str(len(items)), ", ".join(_path(found, p) for p in items) or "<span class=muted>not found</span>"])
    parts = [f'<div class="tiles">{tile_html}</div>' if tiles else "", table(["stage output", "found", "where"], found_rows, num_cols=[1])]
    if found.notes:
        items = "".join(f"<li>{esc(n)}</li>" for n in found.notes[:50])
        more = f"<li>… and {len(found.notes) - 50} more</li>" if len(found.notes) > 50 else ""
        parts.append(f"<h4>notes</h4><ul class=notes>{items}{more}</ul>")
    return _section("overview", "".join(parts))


def _pct(v: Any) -> str:
    return f"{100.0 * v:.1f}%" if _is_num(v) else "—"


def _score_rows(scores: list[ScoreOut]) -> list[list[str]]:
    best = max((sc.data["mean_similarity"] for sc in scores if _is_num(sc.data.get("mean_similarity"))), default=None)
    rows = []
    for sc in scores:
        d = sc.data
        sim = d.get("mean_similarity")
        sim_html = fmt(round(sim, 4)) if _is_num(sim) else "—"
        if best is not None and len(scores) > 1 and sim == best:
            sim_html = f"<b>{sim_html}</b>"
        rows.append([
            esc(sc.label), fmt(d.get("split")), fmt(d.get("samples")), _pct(d.get("format_valid_rate")), sim_html,
            fmt(round(d["same_tool_similarity"], 4)) if _is_num(d.get("same_tool_similarity")) else "—",
            _pct(d.get("exact_match_rate")), fmt(round(d["mean_reward"], 4)) if _is_num(d.get("mean_reward")) else "—",
            fmt(d.get("max_new_tokens")), fmt(d.get("backend")),
        ])
    return rows


def scores_section(found: RunContents) -> str:
    """One comparison table: each scored model's format-valid rate, mean similarity and exact match."""
    if not found.scores:
        return _section("scores", missing("Not found: no score*.json or scores/*.json (from swe-srl score) under the run directory."))
    scores = found.scores
    parts = [
        "<p class=muted>Greedy responses to held-out SRL prompts (swe-srl score): each model answers every prompt once; mean similarity counts a format "
        "failure as 0 (the number the SRL paper selects checkpoints by), mean reward counts it as -1. "
        "The best mean similarity is in bold.</p>",
        table(["model", "split", "samples", "format valid", "mean similarity", "same-tool similarity", "exact match",
               "mean reward", "max new tokens", "backend"], _score_rows(scores), num_cols=[2, 3, 4, 5, 6, 7, 8]),
    ]
    tools: list[str] = []
    for sc in scores:
        by_tool = sc.data.get("by_tool")
        for tool in by_tool if isinstance(by_tool, dict) else ():
            if tool not in tools:
                tools.append(tool)
    if tools:
        rows = []
        for sc in scores:
            by_tool = sc.data.get("by_tool") if isinstance(sc.data.get("by_tool"), dict) else {}
            cells = [esc(sc.label)]
            for tool in tools:
                t = by_tool.get(tool)
                if isinstance(t, dict) and _is_num(t.get("mean_similarity")):
                    cells.append(f"{fmt(round(t['mean_similarity'], 4))} <span class=muted>({fmt(t.get('samples'))})</span>")
                else:
                    cells.append("—")
            rows.append(cells)
        parts.append("<details><summary>mean similarity by expert tool (samples)</summary>"
                     + table(["model", *tools], rows, num_cols=list(range(1, len(tools) + 1))) + "</details>")
    files = ", ".join(f"{esc(sc.label)}: {_path(found, sc.path)}" for sc in scores)
    parts.append(f"<p class=muted>files: {files}</p>")
    return _section("scores", "".join(parts))


def dataset_section(found: RunContents) -> str:
    if not found.datasets:
        return _section("dataset", missing("Not found: no stats.json (from swe-srl dataset) under the run directory."))
    parts = []
    for ds in found.datasets:
        splits = f" · splits: {esc(', '.join(ds.splits))}" if ds.splits else ""
        parts.append(f'<div class="card"><h3>{_path(found, ds.path)}</h3><p class=meta>stats.json{splits}</p>{render_obj(ds.stats)}</div>')
    return _section("dataset", "".join(parts))


def convert_section(found: RunContents) -> str:
    if not found.converts:
        return _section("convert", missing("Not found: no report.json from swe-srl convert under the run directory."))
    parts = []
    for cv in found.converts:
        body = render_obj(cv.report)
        parts.append(f'<div class="card"><h3>{_path(found, cv.path)}</h3>{body}</div>')
    return _section("convert", "".join(parts))


def _training_card(found: RunContents, tr: TrainingOut, series: dict[str, Series]) -> str:
    h = headlines(series)
    parts = [
        f'<div class="card"><h3>{_path(found, tr.path)}</h3>',
        f"<p class=meta>{esc(tr.source)}: {len(tr.records)} records, {len(series)} numeric series"
        + (f", {tr.bad_lines} malformed lines skipped" if tr.bad_lines else "")
        + "</p>",
    ]
    heads_html: list[str] = []
    if h.reward and len(series[h.reward].y) >= 1:
        std = series.get(h.reward_std) if h.reward_std else None
        png = plots.line_chart(
            "Reward (mean" + (" ± std over rollouts)" if std else ")"),
            [(h.reward, series[h.reward], std)],
            ylabel="reward",
        )
        heads_html.append(img(png, "reward mean and std", f"{h.reward}" + (f" with ± {h.reward_std} band" if std else ""), cls="plot headline reward"))
    if h.drop:
        png = plots.line_chart("Dynamic sampling: fraction of groups dropped", [(n, series[n], None) for n in h.drop], unit_interval=True)
        heads_html.append(img(png, "dynamic sampling drop rate", ", ".join(h.drop), cls="plot headline drop"))
    if h.similarity:
        png = plots.line_chart("Validation similarity", [(n, series[n], None) for n in h.similarity], unit_interval=True)
        heads_html.append(img(png, "validation similarity", ", ".join(h.similarity), cls="plot headline similarity"))
    if heads_html:
        parts.append('<div class="grid">' + "".join(heads_html) + "</div>")
    else:
        parts.append(missing("No reward, drop-rate or validation-similarity series in this log."))
    if not series:
        parts.append(missing("No numeric series in this log."))
    # Every other series, as small multiples.
    # every other series; the ones that move first, flat ones after them
    rest = [n for n in h.rest if len(series[n].y) >= 2]
    rest.sort(key=lambda n: min(series[n].y) == max(series[n].y))
    for i in range(0, len(rest), MAX_SERIES_PER_GRID):
        chunk = rest[i : i + MAX_SERIES_PER_GRID]
        items = [(series[n], series.get(h.bands[n]) if n in h.bands else None) for n in chunk]
        parts.append(img(plots.small_multiples(items), "other logged series", "other logged series: " + ", ".join(chunk), cls="plot series-grid"))
    if series:
        rows = []
        for name, s in series.items():
            rows.append([esc(name), str(len(s.y)), fmt(s.y[0]), fmt(s.last), fmt(min(s.y)), fmt(max(s.y))])
        parts.append("<details><summary>all series: first, last, min, max</summary>")
        parts.append(table(["series", "points", "first", "last", "min", "max"], rows, num_cols=[1, 2, 3, 4, 5]))
        parts.append("</details>")
    if tr.summary:
        shown = {k: v for k, v in tr.summary.items() if k not in HIDDEN_SUMMARY_KEYS}
        parts.append("<h4>summary.json</h4>" + render_obj(shown, charts=False))
        rest_keys = [k for k in tr.summary if k in HIDDEN_SUMMARY_KEYS]
        if rest_keys:
            parts.append(f"<details><summary>summary.json: {esc(', '.join(rest_keys))}</summary>"
                         + render_obj({k: tr.summary[k] for k in rest_keys}, charts=False) + "</details>")
    if tr.plots:
        parts.append("<h4>plots written by the trainer</h4>")
        parts.append('<div class="grid">' + "".join(img(png, name, name, cls="plot trainer-plot") for name, png in tr.plots) + "</div>")
    if tr.config:
        parts.append(_json_details(tr.config, "training config"))
    if tr.config_text:
        parts.append(f"<details><summary>config.yaml</summary><pre>{esc(tr.config_text)}</pre></details>")
    parts.append("</div>")
    return "".join(parts)


def training_section(found: RunContents, tr_series: list[tuple[TrainingOut, dict[str, Series]]]) -> str:
    if not found.trainings:
        return _section("training", missing("Not found: no metrics.jsonl (from swe-srl train) under the run directory."))
    parts = []
    # Runs side by side on the validation similarity, when there are several.
    compare = []
    for tr, series in tr_series:
        for name in headlines(series).similarity[:1]:
            compare.append((f"{found.rel(tr.path)}: {name}", series[name], None))
    if len(compare) >= 2:
        png = plots.line_chart("Validation similarity by run", compare, unit_interval=True)
        parts.append('<div class="grid">' + img(png, "validation similarity by run", cls="plot headline compare") + "</div>")
    for tr, series in tr_series:
        parts.append(_training_card(found, tr, series))
    return _section("training", "".join(parts))


def _patch_size(patch: Any) -> tuple[int, int] | None:
    if not isinstance(patch, str):
        return None
    plus = minus = 0
    for line in patch.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            plus += 1
        elif line.startswith("-") and not line.startswith("---"):
            minus += 1
    return plus, minus


def agent_section(found: RunContents, link: Linker) -> str:
    if not found.agent_runs:
        return _section("agent", missing("Not found: no summary.json / predictions.jsonl (from swe-srl run) under the run directory."))
    parts = []
    for run in found.agent_runs:
        task_set, policy = agent_run_labels(run)
        files = [link.a(run.path / n, n) for n in ("summary.json", "predictions.jsonl", "trajectories.jsonl") if (run.path / n).is_file()]
        body = [f'<div class="card"><h3>{_path(found, run.path)}</h3>',
                f"<p class=meta>policy: {esc(policy or '?')} · task set: {esc(task_set or '?')} · files: {' '.join(files)}</p>"]
        if run.summary:
            body.append(render_obj(run.summary))
        if run.predictions:
            empty = sum(1 for p in run.predictions if not (isinstance(p.get("model_patch"), str) and p["model_patch"].strip()))
            body.append(f"<h4>predictions <span class=muted>({len(run.predictions)}, {empty} with an empty patch)</span></h4>")
            rows = []
            for p in run.predictions[:MAX_PREDICTION_ROWS]:
                size = _patch_size(p.get("model_patch"))
                rows.append([
                    fmt(p.get("instance_id")),
                    fmt(p.get("model_name_or_path")),
                    (f"+{size[0]} −{size[1]}" if any(size) else "<span class=muted>empty</span>") if size else "—",
                ])
            body.append(table(["instance", "model", "patch lines"], rows, num_cols=[2]))
            if len(run.predictions) > MAX_PREDICTION_ROWS:
                body.append(f"<p class=muted>… and {len(run.predictions) - MAX_PREDICTION_ROWS} more in predictions.jsonl</p>")
        elif run.predictions_file is not None:
            body.append(missing("predictions.jsonl holds no predictions."))
        body.append("</div>")
        parts.append("".join(body))
    return _section("agent", "".join(parts))


def _eval_counts(ev: EvalOut) -> tuple[int, int]:
    rep = ev.report
    total = rep.get("total_instances")
    if not _is_num(total):
        total = len(ev.instances)
    resolved = rep.get("resolved_instances")
    if not _is_num(resolved):
        resolved = sum(1 for i in ev.instances if i.status == "resolved")
    return int(total), int(resolved)


def _tests_cell(verdict: dict[str, Any] | None, key: str) -> str:
    if not verdict or not isinstance(verdict.get("tests_status"), dict):
        return "—"
    part = verdict["tests_status"].get(key)
    if not isinstance(part, dict):
        return "—"
    ok = part.get("success") or []
    bad = part.get("failure") or []
    if not isinstance(ok, list) or not isinstance(bad, list):
        return "—"
    return f"{len(ok)}/{len(ok) + len(bad)}"


def evaluation_section(found: RunContents, link: Linker) -> str:
    if not found.evals:
        return _section("evaluation", missing("Not found: no evaluation run report (report.json from swe-srl eval) under the run directory."))
    parts = []
    groups: dict[str, dict[str, tuple[int, int]]] = {}
    rows = []
    for ev in found.evals:
        total, resolved = _eval_counts(ev)
        ts = ev.task_set or "tasks"
        policy = ev.policy or ev.path.name
        per = groups.setdefault(ts, {})
        if policy in per:
            policy = f"{policy} ({found.rel(ev.path)})"
        per[policy] = (resolved, total)
        rep = ev.report
        rows.append([
            esc(ts), esc(policy), link.a(ev.report_file, found.rel(ev.report_file)),
            fmt(total), fmt(rep.get("completed_instances")), fmt(resolved),
            fmt(rep.get("empty_patch_instances", len(rep.get("empty_patch_ids") or []) if isinstance(rep.get("empty_patch_ids"), list) else None)),
            fmt(rep.get("error_instances", len(rep.get("error_ids") or []) if isinstance(rep.get("error_ids"), list) else None)),
            f"{100.0 * resolved / total:.1f}%" if total else "—",
        ])
    parts.append(img(plots.resolve_rate_chart(groups), "resolve rate per task set and policy", "resolved / total instances", cls="plot headline resolve"))
    parts.append(table(["task set", "policy", "run report", "total", "completed", "resolved", "empty patch", "error", "resolve rate"], rows, num_cols=[3, 4, 5, 6, 7, 8]))
    for ev in found.evals:
        total, resolved = _eval_counts(ev)
        body = [f'<div class="card"><h3>{esc(ev.policy or "?")} on {esc(ev.task_set or "tasks")} <span class=muted>· {_path(found, ev.path)}</span></h3>']
        reasons = ev.report.get("failure_reasons")
        if isinstance(reasons, dict) and reasons:
            tally: dict[str, int] = {}
            for r in reasons.values():
                tally[str(r)] = tally.get(str(r), 0) + 1
            body.append("<p class=meta>failures: " + esc(", ".join(f"{k} {n}" for k, n in sorted(tally.items()))) + "</p>")
        if not ev.instances:
            body.append(missing("No instances listed in this run report."))
        else:
            inst_rows = []
            for inst in ev.instances[:MAX_TABLE_ROWS]:
                links = []
                if inst.folder is not None:
                    for name in ("patch.diff", "test_output.txt", "report.json"):
                        if (inst.folder / name).is_file():
                            links.append(link.a(inst.folder / name, name))
                v = inst.verdict or {}
                applied = v.get("patch_successfully_applied")
                reason = reasons.get(inst.instance_id) if isinstance(reasons, dict) else None
                if not reason and v.get("resolution") == "RESOLVED_PARTIAL":
                    reason = "partially resolved"
                if not reason and v.get("status") not in (None, "resolved", "unresolved"):
                    reason = v.get("status")
                error = v.get("error")
                if isinstance(error, str) and error.strip():
                    reason = f"{reason}: {error.strip()}" if reason else error.strip()
                inst_rows.append([
                    esc(inst.instance_id),
                    f'<span class="badge b-{esc(inst.status)}">{esc(inst.status.replace("_", " "))}</span>',
                    fmt(applied) if applied is not None else "—",
                    _tests_cell(v, "FAIL_TO_PASS"),
                    _tests_cell(v, "PASS_TO_PASS"),
                    fmt(reason) if reason else "",
                    " · ".join(links) or "<span class=muted>no files</span>",
                ])
            body.append(table(["instance", "status", "patch applied", "FAIL_TO_PASS", "PASS_TO_PASS", "note", "files"], inst_rows, num_cols=[3, 4]))
            if len(ev.instances) > MAX_TABLE_ROWS:
                body.append(f"<p class=muted>… and {len(ev.instances) - MAX_TABLE_ROWS} more (see the run report)</p>")
        body.append("</div>")
        parts.append("".join(body))
    return _section("evaluation", "".join(parts))


def render(found: RunContents, page: Path) -> str:
    """The whole page for ``found``, with links relative to ``page``."""
    link = Linker(page)
    tr_series = [(tr, series_from_records(tr.records)) for tr in found.trainings]
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    toc = "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in SECTIONS)
    body = [
        overview(found, tr_series),
        scores_section(found),  # first: did training help? (held-out scores, then the learning curves)
        training_section(found, tr_series),
        dataset_section(found),
        convert_section(found),
        agent_section(found, link),
        evaluation_section(found, link),
    ]
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>swe-srl report · {esc(found.root.name)}</title><style>{CSS}</style></head><body><main>"
        f'<header class="page"><h1>swe-srl run report</h1>'
        f'<p class=meta>run directory <span class="path">{esc(found.root)}</span> · generated {esc(now)} · swe-srl {esc(__version__)}</p>'
        f'<nav class="toc">{toc}</nav></header>'
        + "".join(body)
        + "</main></body></html>\n"
    )

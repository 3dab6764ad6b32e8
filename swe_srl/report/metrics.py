"""Training metrics as numeric series, and which of them are the headlines.

A metrics log is a list of JSON objects, one per logged step (TRL-style keys:
``step``, ``loss``, ``reward``, ``reward_std``, ``learning_rate``, ...; ours:
``dynamic_sampling/dropped_fraction``, ``format_failure_rate``,
``eval_action_similarity``). Nested objects are flattened with ``/``. Each key
becomes its own series over the records that carry a finite number for it, so
evaluation metrics logged every N steps keep their own x values.

>>> s = series_from_records([{"step": 1, "reward": 0.1, "reward_std": 0.2},
...                          {"step": 2, "reward": 0.3, "reward_std": 0.1},
...                          {"step": 2, "eval_action_similarity": 0.4}])
>>> s["reward"].x, s["reward"].y
([1.0, 2.0], [0.1, 0.3])
>>> h = headlines(s)
>>> h.reward, h.reward_std, h.similarity
('reward', 'reward_std', ['eval_action_similarity'])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

# Keys that index the log rather than measure anything.
X_KEYS = ("step", "global_step", "iteration", "iter")
NOT_SERIES = {"step", "global_step", "iteration", "iter", "timestamp", "time", "wall_time", "_runtime", "_timestamp"}


@dataclass
class Series:
    name: str
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    @property
    def last(self) -> float | None:
        return self.y[-1] if self.y else None


def _flatten(obj: dict[str, Any], prefix: str = "", out: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    out = {} if out is None else out
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and depth < 3:
            _flatten(v, key + "/", out, depth + 1)
        else:
            out[key] = v
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def series_from_records(records: Iterable[dict[str, Any]]) -> dict[str, Series]:
    """Every numeric key of ``records`` as a series, in first-seen order."""
    out: dict[str, Series] = {}
    for i, rec in enumerate(records):
        flat = _flatten(rec)
        x = None
        for k in X_KEYS:
            x = _number(flat.get(k))
            if x is not None:
                break
        if x is None:
            x = float(i)
        for k, v in flat.items():
            if k in NOT_SERIES:
                continue
            y = _number(v)
            if y is None:
                continue
            s = out.get(k)
            if s is None:
                s = out[k] = Series(k)
            s.x.append(x)
            s.y.append(y)
    return out


def _std_partner(name: str, names: Iterable[str]) -> str | None:
    """The std series that goes with ``name`` (``reward`` -> ``reward_std``,
    ``rewards/f/mean`` -> ``rewards/f/std``)."""
    names = set(names)
    candidates = [f"{name}_std", f"{name}/std", re.sub(r"mean$", "std", name), name.replace("/mean", "/std")]
    for c in candidates:
        if c != name and c in names:
            return c
    return None


def _is_validation(name: str) -> bool:
    return bool(re.match(r"(validation|eval|val)[/_]", name.lower()))


def _unit(s: Series) -> bool:
    return bool(s.y) and all(0.0 <= v <= 1.0 for v in s.y)


def _is_std(name: str) -> bool:
    return bool(re.search(r"(^|[/_])std($|[/_])", name))


@dataclass
class Headlines:
    reward: str | None = None
    reward_std: str | None = None
    drop: list[str] = field(default_factory=list)
    similarity: list[str] = field(default_factory=list)
    # What remains, in log order; std series that back a band are left out.
    rest: list[str] = field(default_factory=list)
    bands: dict[str, str] = field(default_factory=dict)  # mean series -> its std series


def headlines(series: dict[str, Series]) -> Headlines:
    """Pick the headline series: reward (with std band), drop rate, validation similarity."""
    names = list(series)
    h = Headlines()
    reward_like = [
        n for n in names
        if "reward" in n.lower() and not _is_std(n) and "zero_std" not in n and not _is_validation(n)
    ]
    for preferred in ("reward", "rewards/mean", "reward_mean", "train/reward", "train_reward"):
        if preferred in series:
            h.reward = preferred
            break
    else:
        if reward_like:
            h.reward = min(reward_like, key=len)
    if h.reward:
        h.reward_std = _std_partner(h.reward, names)
    # Drop *rates* only (values in [0, 1]); counts of dropped groups stay with the rest.
    drops = [n for n in names if "drop" in n.lower() and _unit(series[n])]
    h.drop = [n for n in drops if re.search(r"frac|rate|ratio|share|percent", n.lower())] or drops
    if not h.drop and "frac_reward_zero_std" in series:
        h.drop = ["frac_reward_zero_std"]
    h.similarity = [n for n in names if "similarity" in n.lower() and not _is_std(n)]
    used = {h.reward, h.reward_std, *h.drop, *h.similarity}
    for n in names:
        if n in used:
            continue
        partner = _std_partner(n, names)
        if partner and partner not in used:
            h.bands[n] = partner
    band_std = set(h.bands.values())
    h.rest = [n for n in names if n not in used and n not in band_std]
    return h

"""Action similarity: the SRL paper's ``difflib`` ratio, bit for bit, but fast.

The reward compares two strings with
``difflib.SequenceMatcher(None, pred, expert, autojunk=False).ratio()``
(``2 * M / T``, ``M`` the characters in the matching blocks that difflib's
recursive longest-match finds, ``T`` the total length). Order matters: difflib
indexes the *second* string, and the ratio is not symmetric in general, so the
model's action always comes first and the expert action second.

Backends (``name`` for :func:`get_similarity` and the ``srl.similarity`` option):

``difflib`` (default)
    Exactly the standard library's value, from the fastest exact backend
    available (:func:`backend` says which):

    * ``c``: ``_matchcount.c`` next to this file, the same algorithm with
      arrays instead of dicts (about 60x the standard library on real
      actions), compiled on first use with the system C compiler into
      ``$SWE_SRL_CACHE`` (default ``~/.cache/swe-srl``) and loaded with ctypes;
      ``SWE_SRL_NO_CC=1`` skips it;
    * ``cydifflib``: a compiled port of difflib from PyPI (10-25x);
    * ``difflib``: the standard library.

    Each accelerated backend must reproduce the standard library on a
    self-check set before it is used; otherwise the next one is tried.
``difflib-stdlib``
    The standard library itself (the reference; slow).
``indel``
    ``rapidfuzz``'s normalised Indel similarity ``1 - (ins + del) / T`` =
    ``2 * LCS / T``. Not identical to difflib (the longest common subsequence is
    at least as long as difflib's matches, so it is never lower), but one to two
    orders of magnitude faster again; for very large batches or long strings.

>>> action_similarity("abcd", "bcde")
0.75
>>> action_similarity("", "")
1.0
>>> round(indel_similarity("abcd", "bcde"), 4)
0.75
"""

from __future__ import annotations

import ctypes
import difflib
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from swe_srl.paths import cache_root

__all__ = [
    "action_similarity", "difflib_ratio", "indel_similarity", "batch_similarity",
    "get_similarity", "SIMILARITIES", "backend", "use_backend",
]

SimilarityFn = Callable[[str, str], float]

# Known-answer pairs for the self-check: ASCII, non-ASCII (BMP and astral),
# repeated characters, and strings long enough to exercise every code path.
_SELF_CHECK = [
    ("abcd", "bcde"),
    ("", "x"),
    ("<function=bash>\n<parameter=command>ls -la</parameter>\n</function>",
     "<function=bash>\n<parameter=command>ls</parameter>\n</function>"),
    ("größe = 1 # 中文 😀 ok", "grosse = 1 # 中 😀 ko"),
    ("ab" * 300 + "x" * 50, "ba" * 280 + "y" * 70),
    ("\x00\r\n\t" * 10, "\t\n" * 13),
]

_matcher_cls = None
_backend = None


def difflib_ratio(pred: str, expert: str) -> float:
    """The standard library's ratio (reference implementation)."""
    return difflib.SequenceMatcher(None, pred, expert, autojunk=False).ratio()


def _encode(s: str) -> bytes:
    return s.encode("utf-32-le", "surrogatepass")


class _CMatcher:
    """The SequenceMatcher subset the reward uses (``set_seq1``, ``ratio``), on the C match count."""

    lib = None

    def __init__(self, isjunk, a: str, b: str, autojunk: bool = False):
        self._b, self._eb = b, _encode(b)
        self.set_seq1(a)

    def set_seq1(self, a: str) -> None:
        self._a, self._ea = a, _encode(a)

    def ratio(self) -> float:
        matches = self.lib.match_count(self._ea, len(self._a), self._eb, len(self._b))
        if matches < 0:
            raise MemoryError("match_count: out of memory")
        length = len(self._a) + len(self._b)
        return 2.0 * matches / length if length else 1.0  # difflib's _calculate_ratio


def _cache_dir() -> Path:
    return cache_root()


def _load_c():
    """Compile (once, cached by source hash) and load ``_matchcount.c``; None when not possible."""
    if os.environ.get("SWE_SRL_NO_CC"):
        return None
    src = Path(__file__).with_name("_matchcount.c")
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not src.is_file():
        return None
    tag = hashlib.sha256(src.read_bytes() + sys.platform.encode() + os.uname().machine.encode()).hexdigest()[:16]
    lib_path = _cache_dir() / f"matchcount-{tag}.so"
    try:
        if not lib_path.exists():
            if not cc:
                return None
            lib_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = lib_path.with_name(f".{lib_path.name}.{os.getpid()}.tmp")
            subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(src)],
                           check=True, capture_output=True, timeout=120)
            os.replace(tmp, lib_path)
        lib = ctypes.CDLL(str(lib_path))
    except (OSError, subprocess.SubprocessError):  # no compiler, read-only cache...: use the next backend
        return None
    lib.match_count.restype = ctypes.c_longlong
    lib.match_count.argtypes = [ctypes.c_char_p, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32]
    return lib


def _exact_on_self_check(cls) -> bool:
    return all(
        cls(None, a, b, autojunk=False).ratio() == difflib_ratio(a, b)
        and cls(None, b, a, autojunk=False).ratio() == difflib_ratio(b, a)
        for a, b in _SELF_CHECK
    )


def _resolve():
    """The fastest backend that reproduces difflib on the self-check: C, cydifflib, difflib."""
    global _matcher_cls, _backend
    if _matcher_cls is not None:
        return _matcher_cls
    cls, name = difflib.SequenceMatcher, "difflib"
    lib = _load_c()
    if lib is not None:
        _CMatcher.lib = lib
        if _exact_on_self_check(_CMatcher):
            cls, name = _CMatcher, "c"
    if name == "difflib":
        try:
            import cydifflib
        except ImportError:  # optional accelerator
            cydifflib = None
        if cydifflib is not None and _exact_on_self_check(cydifflib.SequenceMatcher):
            cls, name = cydifflib.SequenceMatcher, "cydifflib"
    _matcher_cls, _backend = cls, name
    return cls


def use_backend(name: str) -> str:
    """Force a backend (``c``, ``cydifflib``, ``difflib``) for benchmarks and tests; returns the previous one."""
    global _matcher_cls, _backend
    previous = backend()
    if name == "c":
        lib = _load_c()
        if lib is None:
            from swe_srl.errors import ConfigError

            raise ConfigError("the C similarity backend is unavailable (no C compiler, or SWE_SRL_NO_CC is set)")
        _CMatcher.lib = lib
        _matcher_cls = _CMatcher
    elif name == "cydifflib":
        import cydifflib

        _matcher_cls = cydifflib.SequenceMatcher
    elif name == "difflib":
        _matcher_cls = difflib.SequenceMatcher
    else:
        raise ValueError(f"unknown backend {name!r}")
    _backend = name
    return previous


def backend() -> str:
    """``"c"``, ``"cydifflib"`` or ``"difflib"``: what :func:`action_similarity` uses."""
    _resolve()
    return _backend  # type: ignore[return-value]


def action_similarity(pred: str, expert: str) -> float:
    """``difflib.SequenceMatcher(None, pred, expert, autojunk=False).ratio()``, fast.

    >>> action_similarity("ls -la", "ls -la")
    1.0
    >>> action_similarity("ls", "") == difflib_ratio("ls", "")
    True
    """
    if pred == expert:
        return 1.0  # difflib: 2 * len / (2 * len), and 1.0 for two empty strings
    return _resolve()(None, pred, expert, autojunk=False).ratio()


def indel_similarity(pred: str, expert: str) -> float:
    """``2 * LCS / T`` (rapidfuzz normalised Indel similarity); >= difflib's ratio."""
    from rapidfuzz.distance import Indel

    return float(Indel.normalized_similarity(pred, expert))


SIMILARITIES: dict[str, SimilarityFn] = {
    "difflib": action_similarity,
    "difflib-stdlib": difflib_ratio,
    "indel": indel_similarity,
}


def get_similarity(name: str | SimilarityFn) -> SimilarityFn:
    """A similarity by name (``difflib``, ``difflib-stdlib``, ``indel``) or a callable."""
    if callable(name):
        return name
    try:
        return SIMILARITIES[name]
    except KeyError:
        from swe_srl.errors import ConfigError

        raise ConfigError(f"unknown similarity {name!r}; valid: {', '.join(SIMILARITIES)}") from None


def batch_similarity(preds: Sequence[str], experts: Sequence[str], similarity: str | SimilarityFn = "difflib") -> list[float]:
    """Similarity of each ``preds[i]`` to ``experts[i]``.

    With the exact backend, consecutive pairs sharing the same expert (a GRPO
    group: G rollouts of one prompt) reuse one matcher, whose index of the
    expert string is built once, and identical rollouts are scored once.

    >>> batch_similarity(["ab", "abc", "x"], ["abc", "abc", "abc"]) == [difflib_ratio(p, "abc") for p in ["ab", "abc", "x"]]
    True
    """
    if len(preds) != len(experts):
        raise ValueError(f"{len(preds)} predictions but {len(experts)} expert actions")
    if similarity != "difflib" and similarity is not action_similarity:
        fn = get_similarity(similarity)
        return [fn(p, e) for p, e in zip(preds, experts)]
    cls = _resolve()
    out: list[float] = []
    matcher = None
    current = None
    seen: dict[str, float] = {}  # identical rollouts of the same expert (frequent late in training)
    for p, e in zip(preds, experts):
        if p == e:
            out.append(1.0)
            continue
        if matcher is None or e is not current and e != current:
            matcher = cls(None, "", e, autojunk=False)
            current = e
            seen = {}
        value = seen.get(p)
        if value is None:
            matcher.set_seq1(p)
            value = seen[p] = matcher.ratio()
        out.append(value)
    return out

"""Where the project keeps what it caches, defined once.

:func:`cache_root` is ``$SWE_SRL_CACHE`` when set, else
``$XDG_CACHE_HOME/swe-srl`` (``~/.cache/swe-srl`` when that variable is unset
or empty, as the XDG base-directory spec says). Every cache of the package
lives below it: bare repository mirrors, SWE-bench tables and pins, sandbox
wheelhouses, synthesis journals, the compiled similarity kernel. Nothing is
created on import; callers make the folders they write to.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_root"]


def cache_root() -> Path:
    """The package's cache folder (not created here).

    >>> import os; env = dict(os.environ)
    >>> os.environ.pop("SWE_SRL_CACHE", None) and None; os.environ["XDG_CACHE_HOME"] = "/tmp/xdg"
    >>> str(cache_root())
    '/tmp/xdg/swe-srl'
    >>> os.environ["XDG_CACHE_HOME"] = ""; cache_root() == Path.home() / ".cache" / "swe-srl"
    True
    >>> os.environ["SWE_SRL_CACHE"] = "/tmp/c"; str(cache_root())
    '/tmp/c'
    >>> os.environ.clear(); os.environ.update(env)
    """
    override = os.environ.get("SWE_SRL_CACHE")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "swe-srl"

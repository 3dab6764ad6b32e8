"""Docker repository sandboxes: images, a persistent shell, tools, limits, reset.

Importing this package is cheap: names load lazily on first access, and
Docker (docker-py) is imported only when an image is built or a sandbox starts.

>>> from swe_srl.sandbox import DockerSandbox, EnvSpec, build_env_image   # doctest: +SKIP
>>> image = build_env_image(EnvSpec(pip_packages=["pytest"]), "path/to/repo", "HEAD")
>>> with DockerSandbox.start(image) as sb:
...     sb.run("pytest -q").exit_code
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CommandResult": "swe_srl.sandbox.spec",
    "EnvSpec": "swe_srl.sandbox.spec",
    "SandboxConfig": "swe_srl.sandbox.spec",
    "SandboxError": "swe_srl.sandbox.spec",
    "build_env_image": "swe_srl.sandbox.images",
    "ensure_base_image": "swe_srl.sandbox.images",
    "DockerSandbox": "swe_srl.sandbox.docker_sandbox",
    "LocalSandbox": "swe_srl.sandbox.local",
    "reap_orphans": "swe_srl.sandbox.reaper",
    "prune": "swe_srl.sandbox.reaper",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swe_srl.sandbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))

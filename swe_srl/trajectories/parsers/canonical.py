"""Our own canonical JSONL (``swe-srl convert`` and ``swe-srl run`` output), read back."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from swe_srl.errors import ParseError, SweSrlError
from swe_srl.io import iter_jsonl
from swe_srl.trajectories.models import FORMAT_TAG, Trajectory


class CanonicalParser:
    name = "canonical"

    def detect(self, path: Path, head: bytes) -> float:
        return 1.0 if head.lstrip().startswith(b"{") and FORMAT_TAG.encode() in head[:4096] else 0.0

    def parse(self, path: Path) -> Iterator[Trajectory | ParseError]:
        for lineno, rec in iter_jsonl(path, strict=False):
            where = f"{path}:{lineno}"
            if isinstance(rec, SweSrlError):
                yield ParseError("invalid JSON", where)
                continue
            if not isinstance(rec, dict):
                yield ParseError("record is not a JSON object", where)
                continue
            try:
                yield Trajectory.from_dict(rec)
            except SweSrlError as e:
                yield ParseError(str(e), where)


def load_trajectories(path: str | Path) -> Iterator[Trajectory]:
    """Stream canonical trajectories from a JSONL file; bad lines raise with file:line."""
    path = Path(path)
    for lineno, rec in iter_jsonl(path):
        try:
            yield Trajectory.from_dict(rec)
        except SweSrlError as e:
            raise SweSrlError(f"{path}:{lineno}: {e}") from None

"""Text helpers shared by the stages (truncation markers, decoding)."""

from __future__ import annotations

TRUNCATION_MARKER = "\n<<< {n} characters elided >>>\n"


def truncate_middle(text: str, max_chars: int, *, marker: str = TRUNCATION_MARKER) -> str:
    """Keep the head and the tail of ``text`` with an explicit marker between.

    >>> truncate_middle("abcdefghij", 6, marker="[{n}]")
    'abc[4]hij'
    >>> truncate_middle("short", 10)
    'short'
    """
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = max_chars // 2
    tail = max_chars - head
    elided = len(text) - head - tail
    return text[:head] + marker.format(n=elided) + text[len(text) - tail:]


def decode(data: bytes) -> str:
    """Decode bytes as UTF-8, replacing undecodable bytes (never raises)."""
    return data.decode("utf-8", errors="replace")

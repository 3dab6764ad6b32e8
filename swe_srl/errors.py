"""The project's own exceptions. Every error a user can cause derives from
:class:`SweSrlError` and carries a one-line message naming the file, line or
field at fault; the CLI prints that line and exits non-zero, never a traceback."""

from __future__ import annotations


class SweSrlError(Exception):
    """Base class: a user-facing, one-line error."""


class ParseError(SweSrlError):
    """An agent log (or one record of it, or one input path) could not be parsed.

    ``where`` is ``file``, ``file:line`` or ``file[i]``; ``reason`` a short
    explanation. The parsers' only error type: raised inside a parser, yielded
    by its ``parse()`` for each thing skipped (see :mod:`swe_srl.trajectories.parsers`).
    """

    def __init__(self, reason: str, where: str | None = None):
        self.reason = reason
        self.where = where
        super().__init__(f"{where}: {reason}" if where else reason)


class UnknownFormatError(ParseError):
    """No parser recognises the input."""


class ConfigError(SweSrlError):
    """A configuration file or override is invalid."""


class NotYetAvailableError(SweSrlError):
    """A command whose stage has not landed yet."""


class FormatError(SweSrlError):
    """A model response does not follow the think-then-one-action format."""

"""The base of every configuration model, and its one-line errors.

Every config (the prompt, datasets, the agent, sandboxes, environment specs,
sampling, the training sections) is a pydantic model derived from
:class:`Config`: ``extra="forbid"`` (a mistyped key is an error, never
ignored), a ``description`` per field (the README's configuration reference
is generated from them), and validation errors turned into one
:class:`~swe_srl.errors.ConfigError` line naming the source and the key::

    c.yaml: srl.epsilonn: unknown key; valid: epsilon, max_refill_rounds, similarity, compare; did you mean epsilon?

Constructing a model directly (``SandboxConfig(cpus=0)``) raises the same
ConfigError, so the CLI shows one line, not a traceback.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from swe_srl.errors import ConfigError

__all__ = ["Config", "ConfigError", "config_error", "suggest", "validate_value"]


def suggest(key: str, valid: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` for close matches of ``key`` among ``valid`` (else "").

    >>> suggest("learning_rat", ["learning_rate", "seed"])
    '; did you mean learning_rate?'
    """
    close = difflib.get_close_matches(key, list(valid), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


_EXPECTED = {
    "int": "an integer", "float": "a number", "bool": "true/false", "string": "a string", "list": "a list",
    "tuple": "a list", "dict": "a mapping", "model": "a mapping", "model_attributes": "a mapping",
}


def _message(err: Mapping[str, Any], keys: list[str] | None) -> str:
    kind = str(err.get("type", ""))
    got = err.get("input")
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        leaf = str(err["loc"][-1]) if err.get("loc") else ""
        return "unknown key" + (f"; valid: {', '.join(keys)}{suggest(leaf, keys)}" if keys else "")
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected", "")))
        return f"expected one of {', '.join(options)}, got {got!r}"
    base = kind.rsplit("_", 1)[0] if kind.endswith(("_type", "_parsing", "_from_float")) else ""
    if kind == "int_from_float":
        base = "int"
    if base in _EXPECTED:
        return f"expected {_EXPECTED[base]}, got {got!r}"
    msg = str(err.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


def _keys_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str] | None:
    """The valid keys of the (nested) model that holds ``loc``'s last key."""
    for part in loc[:-1]:
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        ann = field.annotation if field is not None else None
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(model.model_fields) if model is not None else None


def config_error(e: ValidationError, source: str, names: Mapping[str, str] | None = None,
                 model: type[BaseModel] | None = None) -> ConfigError:
    """The first error of ``e`` as one line: ``source: key: what is wrong``; ``names``
    renames keys (e.g. to the CLI flags that set them)."""
    err = e.errors()[0]
    loc = tuple(err.get("loc", ()))
    where = ".".join(str(p) for p in loc)
    where = (names or {}).get(where, where)
    msg = _message(err, _keys_at(model, loc) if err.get("type") == "extra_forbidden" else None)
    return ConfigError(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")


def validate_value(tp: Any, value: Any, where: str) -> Any:
    """``value`` checked (and coerced as pydantic's lax mode does, numbers also to
    strings) against the type ``tp``; a ConfigError naming ``where`` otherwise.

    >>> validate_value(int, "3", "max_steps")
    3
    >>> validate_value(int, "abc", "c.yaml: max_steps")
    Traceback (most recent call last):
    ...
    swe_srl.errors.ConfigError: c.yaml: max_steps: expected an integer, got 'abc'
    """
    try:
        return TypeAdapter(tp, config=ConfigDict(coerce_numbers_to_str=True)).validate_python(value)
    except ValidationError as e:
        raise config_error(e, where) from None


class Config(BaseModel):
    """A configuration model: unknown keys are errors, every error is one line."""

    model_config = ConfigDict(extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise config_error(e, type(self).__name__, model=type(self)) from None

    # Validation itself must not go through this __init__ (pydantic would call it for every
    # nested model and from_dict could not name its source): mark it as the base init, as
    # pydantic's own RootModel does, so only direct construction passes here.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, names: Mapping[str, str] | None = None):
        """Validate the mapping ``data``; a bad key or value is a one-line
        :class:`ConfigError` naming ``source`` and the key (as ``names`` calls it)."""
        source = source or cls.__name__
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of {cls.__name__} fields, got {type(data).__name__}")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as e:
            raise config_error(e, source, names, model=cls) from None

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (what outputs record)."""
        return self.model_dump(mode="json")

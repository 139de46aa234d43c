"""Flat records that cross a process or file boundary: a dataclass whose fields are its JSON
keys. Readers take what they know and refuse a record that lacks a field without a default."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, Self

_SCALARS = {"int": int, "float": float, "str": str, "bool": bool}


def _read(annotation: str, value: Any) -> Any:
    """A JSON value as the field's declared type: scalars checked, lists of tuples as tuples."""
    kind, _, rest = annotation.partition(" | ")
    if value is None and rest == "None":
        return None
    if kind in _SCALARS:
        if kind in ("int", "float") and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{value!r} is not a number")
        return _SCALARS[kind](value)
    if kind.startswith("tuple"):
        return tuple(value)
    return value


class JsonRecord:
    """Mixin for flat dataclasses: `to_json` writes every field; tuples travel as lists."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        values = {}
        for f in fields(cls):
            if f.name in data:
                values[f.name] = _read(str(f.type), data[f.name])
            elif f.default is MISSING and f.default_factory is MISSING:
                raise KeyError(f.name)
        return cls(**values)

"""Decode any protobuf message without its schema, for showing bundle metadata whose .proto
(MediaPipe's LlmParameters) is not installed: field numbers with strings, ints and nested
messages, strictly bounded so garbage cannot loop or recurse forever."""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 8


class WireError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def decode(data: bytes, depth: int = 0) -> list[tuple[int, Any]]:
    """[(field number, value)], values as int, str, bytes or a nested list."""
    fields: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WireError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = int.from_bytes(data[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(data[pos : pos + 4], "little"), pos + 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise WireError("length past the end")
            value = _bytes_value(data[pos : pos + length], depth)
            pos += length
        else:
            raise WireError(f"wire type {wire}")
        if pos > len(data):
            raise WireError("truncated field")
        fields.append((number, value))
    return fields


def _bytes_value(chunk: bytes, depth: int) -> Any:
    try:
        text = chunk.decode("utf-8")
        if all(c.isprintable() or c in "\n\t\r" for c in text):
            return text
    except UnicodeDecodeError:
        pass
    if depth < _MAX_DEPTH:
        try:
            return decode(chunk, depth + 1)
        except WireError:
            pass
    return chunk


def strings(fields: list[tuple[int, Any]]) -> list[str]:
    """Every string anywhere in a decoded message, in order."""
    found = []
    for _, value in fields:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            found.extend(strings(value))
    return found

"""JSON through orjson where it is installed (a wheel exists for every Pi but the armv6 Zero and 1), else json."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

orjson: ModuleType | None
try:
    import orjson
except ImportError:  # no wheel (armv6): the standard library, slower and otherwise the same
    orjson = None

MAX_INT_DIGITS = 40
"""The standard library's parser: integers longer than this are refused before conversion (it is quadratic)."""


class NotJSON(ValueError):
    """Text that is not strict JSON, or nests too deep, or holds a number a double cannot."""


def parse(payload: bytes) -> Any:
    """Parse strict JSON (no NaN or Infinity, valid UTF-8, nesting bounded); raise NotJSON naming the fault."""
    if orjson is not None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise NotJSON(str(exc)) from None
    try:
        return _DECODER.decode(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotJSON(str(exc)) from None
    except RecursionError:  # the C parser stops cleanly at the interpreter's recursion limit
        raise NotJSON("nested too deeply") from None


def dump(data: Any) -> str:
    """Return `data` as JSON text (with orjson, a large lab's batch in a seventh of json.dumps's time).

    Only for values that are finite by construction (a batch's readings): orjson writes NaN as null.
    """
    return orjson.dumps(data).decode() if orjson is not None else json.dumps(data)


def load(text: str) -> Any:
    """Parse stored JSON text, written by `dump` or by json.dumps (which may have written NaN)."""
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # NaN or Infinity from json.dumps: the standard library reads them back
    return json.loads(text)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NotJSON(f"an integer of {len(text)} digits does not fit a float")
    return int(text)


def _constant(name: str) -> float:
    raise NotJSON(f"{name} is not a number in JSON")


_DECODER = json.JSONDecoder(parse_int=_int, parse_constant=_constant)
"""Made once: json.loads with hooks would build a decoder per message."""

"""The versioned JSON wire schema: inquiries, results and status, and their topics."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any

from labmon import jsontext
from labmon.models import READING_FIELDS, Reading, Result, trusted_reading, trusted_result

SCHEMA_VERSION = 1
MAX_PAYLOAD = 256 * 1024
"""The default of [broker] max_payload: bytes a message may have; a result of a few hundred readings fits."""
MAX_ID = 128


class MessageError(ValueError):
    """A payload that is not a valid labmon message of the expected kind."""


@dataclass(frozen=True)
class Inquiry:
    """The collector's request for one measurer's readings."""

    id: str
    sent_at: float
    sender: str = ""
    """Who asks: "PREFIX-collector" from a collector; a measurer answers it before anyone else."""
    received_at: float | None = None
    """When it reached the measurer, on the measurer's clock (set there on arrival; not on the wire)."""


def collector_sender(client_id_prefix: str) -> str:
    """Return the sender name of a collector's inquiries (and the one its measurers answer first)."""
    return f"{client_id_prefix}-collector"


@dataclass(frozen=True)
class Topics:
    """The topic names of one measurer under a prefix."""

    prefix: str
    measurer: str

    @property
    def inquiries(self) -> str:
        return f"{self.prefix}/{self.measurer}/inquiries"

    @property
    def results(self) -> str:
        return f"{self.prefix}/{self.measurer}/results"

    @property
    def status(self) -> str:
        return f"{self.prefix}/{self.measurer}/status"

    @property
    def everyone(self) -> str:
        """The inquiries addressed to every measurer under the prefix (a collector with `inquire = "all"`)."""
        return f"{self.prefix}/inquiries"


ONLINE = b"online"
OFFLINE = b"offline"


def encode_inquiry(inquiry: Inquiry) -> bytes:
    """Return the wire form of an inquiry."""
    inquiry_data = {"type": "inquiry", "id": inquiry.id, "sent_at": inquiry.sent_at, "sender": inquiry.sender}
    return _dump({"labmon": SCHEMA_VERSION, **inquiry_data}, [inquiry.sent_at])


def decode_inquiry(payload: bytes, limit: int = MAX_PAYLOAD, received_at: float | None = None) -> Inquiry:
    """Parse an inquiry (that arrived at `received_at`, the receiver's clock), or raise MessageError naming what is
    wrong."""
    data = _load(payload, "inquiry", limit)
    inquiry_id = _field(data, "id", str)
    if len(inquiry_id) > MAX_ID:
        raise MessageError(f"field 'id' is longer than {MAX_ID} characters")
    sender = data.get("sender", "")
    if not isinstance(sender, str) or len(sender) > MAX_ID:
        raise MessageError(f"field 'sender' is not a string of at most {MAX_ID} characters")
    return Inquiry(id=inquiry_id, sent_at=_number(data, "sent_at"), sender=sender, received_at=received_at)


_reading_values = attrgetter(*READING_FIELDS)
"""A reading's fields in order (dataclasses.asdict copies each value deeply: twice the cost of a 2-reading result)."""


def encode_result(result: Result) -> bytes:
    """Return the wire form of a result; ValueError if a number in it is not finite (JSON has no NaN)."""
    data: dict[str, Any] = {
        "labmon": SCHEMA_VERSION,
        "type": "result",
        "inquiry_id": result.inquiry_id,
        "measurer": result.measurer,
        "measured_at": result.measured_at,
    }
    numbers = [result.measured_at]
    for key, at in (("received_at", result.received_at), ("replied_at", result.replied_at)):
        if at is not None:
            data[key] = at
            numbers.append(at)
    if result.read_seconds:
        data["read_seconds"] = result.read_seconds
        numbers.extend(result.read_seconds.values())
    numbers.extend([r.value for r in result.readings if r.value is not None])
    return _dump(data, numbers, result.readings)


def decode_result(payload: bytes, limit: int = MAX_PAYLOAD) -> Result:
    """Parse a result, or raise MessageError naming what is wrong."""
    data = _load(payload, "result", limit)
    raw_readings = _field(data, "readings", list)
    return trusted_result(
        _field(data, "inquiry_id", str),
        _field(data, "measurer", str),
        _number(data, "measured_at"),
        _readings(raw_readings),
        _optional_number(data, "received_at"),
        _optional_number(data, "replied_at"),
        None,
        _read_seconds(data),
    )


def decode_status(payload: bytes) -> bytes:
    """Return a status payload (online or offline), or raise MessageError."""
    if payload not in (ONLINE, OFFLINE):
        raise MessageError("a status is 'online' or 'offline'")
    return payload


_wire_fields = itemgetter("instrument", "name", "unit", "status", "value")
_isfinite = math.isfinite


def _readings(items: list[Any]) -> tuple[Reading, ...]:
    """Return a result's readings, or raise MessageError naming the first that is wrong."""
    # The common case checked with exact types in one loop (a large lab decodes tens of thousands a cycle: a
    # function call and five dict lookups per reading were half of it); anything else goes through the checks
    # that name what is wrong.
    readings: list[Reading] = []
    append = readings.append
    for index, item in enumerate(items):
        try:
            instrument, name, unit, status, value = _wire_fields(item)
        except (KeyError, TypeError):  # not an object, or a field missing
            append(_checked_reading(item, index))
            continue
        if type(instrument) is str and type(name) is str and type(unit) is str:
            if status == "ok" and (type(value) is float or type(value) is int) and _isfinite(value):
                append(trusted_reading(name, float(value), unit, "ok", None, instrument))
                continue
            if status == "error" and value is None and type(error := item.get("error")) is str:
                append(trusted_reading(name, None, unit, "error", error, instrument))
                continue
        append(_checked_reading(item, index))
    return tuple(readings)


def _checked_reading(item: Any, index: int) -> Reading:
    if not isinstance(item, dict):
        raise MessageError(f"readings[{index}] is not an object")
    status = _field(item, "status", str)
    value = item.get("value")
    if status == "ok":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise MessageError(f"readings[{index}] has status ok but no finite numeric value")
        error = None
    elif status == "error":
        if value is not None:
            raise MessageError(f"readings[{index}] has status error but carries a value")
        error = _field(item, "error", str)
    else:
        raise MessageError(f"readings[{index}] has unknown status {status!r}")
    return Reading(
        instrument=_field(item, "instrument", str),
        name=_field(item, "name", str),
        value=None if value is None else float(value),
        unit=_field(item, "unit", str),
        status=status,
        error=error,
    )


def _dump(data: dict[str, Any], numbers: list[float], readings: tuple[Reading, ...] | None = None) -> bytes:
    """Return `data` as compact JSON, with `readings` (if given) as its last key, each an object of READING_FIELDS;
    `numbers` are its floats, which must be finite (orjson writes NaN as null)."""
    if jsontext.orjson is not None:
        if not all(map(math.isfinite, numbers)):
            raise ValueError("Out of range float values are not JSON compliant")
        # orjson writes a Reading (a dataclass) itself, its fields in order: no dict made per reading
        whole = data if readings is None else {**data, "readings": readings}
        try:
            return bytes(jsontext.orjson.dumps(whole))  # a tenth of json.dumps's time for a measurer's answer
        except TypeError:  # a float subclass (numpy's, from a plugin): json.dumps writes it
            pass
    if readings is not None:
        data = {**data, "readings": [dict(zip(READING_FIELDS, _reading_values(r), strict=True)) for r in readings]}
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def _load(payload: bytes, kind: str, limit: int) -> dict[str, Any]:
    if len(payload) > limit:
        raise MessageError(f"{len(payload)} bytes, more than max_payload ({limit})")
    try:
        data = jsontext.parse(payload)
    except jsontext.NotJSON as exc:
        raise MessageError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MessageError("not a JSON object")
    version = data.get("labmon")
    if version != SCHEMA_VERSION:
        raise MessageError(f"schema version {version!r}, expected {SCHEMA_VERSION}")
    if data.get("type") != kind:
        raise MessageError(f"message type {data.get('type')!r}, expected {kind!r}")
    return data


def _field(data: dict[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise MessageError(f"field {key!r} missing or not a {kind.__name__}")
    return value


def _read_seconds(data: dict[str, Any]) -> dict[str, float] | None:
    seconds = data.get("read_seconds")
    if seconds is None:
        return None
    if not isinstance(seconds, dict):
        raise MessageError("field 'read_seconds' is not an object")
    return {
        name: value if type(value) is float and _isfinite(value) else _checked_number(value, name)
        for name, value in seconds.items()
    }


def _optional_number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None or (type(value) is float and _isfinite(value)):  # the common cases, without a call
        return value
    return _checked_number(value, key)


def _number(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if type(value) is float and _isfinite(value):
        return value
    return _checked_number(value, key)


def _checked_number(value: Any, key: str) -> float:
    """Return `value` (of field `key`) as a float, or raise MessageError if it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise MessageError(f"field {key!r} missing or not a finite number")
    return float(value)

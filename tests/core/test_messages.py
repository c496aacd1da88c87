import contextlib
import json
import random

import pytest

from labmon.messages import (
    OFFLINE,
    ONLINE,
    Inquiry,
    MessageError,
    decode_inquiry,
    decode_result,
    decode_status,
    encode_inquiry,
    encode_result,
)
from labmon.models import Reading, Result


def _result() -> Result:
    return Result(
        inquiry_id="abc",
        measurer="table1",
        measured_at=1700000000.5,
        readings=(
            Reading("lock_error", 0.05, "V", instrument="laser1"),
            Reading.failed("*", "no answer within 5s", ""),
        ),
    )


def test_inquiry_round_trip():
    inquiry = Inquiry("id1", 1700000000.0)
    assert decode_inquiry(encode_inquiry(inquiry)) == inquiry


def test_result_round_trip_keeps_errors_apart_from_values():
    decoded = decode_result(encode_result(_result()))
    assert decoded == _result()
    assert decoded.readings[1].value is None and decoded.readings[1].status == "error"


def test_integer_values_become_floats_and_unknown_fields_are_ignored():
    item = {"instrument": "a", "name": "b", "unit": "V", "status": "ok", "value": 3, "extra": 1}
    (reading,) = decode_result(_mutated(readings=[item])).readings
    assert reading == Reading("b", 3.0, "V", instrument="a") and type(reading.value) is float


def test_wire_form_is_versioned_json():
    data = json.loads(encode_result(_result()))
    assert data["labmon"] == 1 and data["type"] == "result"


def _mutated(**changes) -> bytes:
    data = json.loads(encode_result(_result()))
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"value1:Main Chamber Pressure:1E-9:<p>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (_mutated(labmon=2), "schema version"),
        (_mutated(type="inquiry"), "message type"),
        (_mutated(measurer=5), "'measurer'"),
        (_mutated(measured_at="yesterday"), "'measured_at'"),
        (_mutated(measured_at=True), "'measured_at'"),
        (_mutated(received_at="soon"), "'received_at'"),
        (_mutated(replied_at=False), "'replied_at'"),
        (_mutated(read_seconds={"laser1": True}), "'laser1'"),
        (_mutated(read_seconds={"laser1": "slow"}), "'laser1'"),
        (_mutated(readings=[{"instrument": "a", "name": "b", "unit": "", "status": "ok", "value": None}]), "no finite"),
        (_mutated(readings=[{"instrument": "a", "name": "b", "unit": "", "status": "ok", "value": True}]), "no finite"),
        (
            _mutated(readings=[{"instrument": "a", "name": "b", "unit": "", "status": "error", "value": 9999}]),
            "carries a value",
        ),
        (
            _mutated(readings=[{"instrument": "a", "name": "b", "unit": "", "status": "meh", "value": 1}]),
            "unknown status",
        ),
        (_mutated(readings=["x"]), "not an object"),
        (_mutated(readings=[["a", "b", "", "ok", 1.0]]), "not an object"),
        (_mutated(readings=[{"instrument": "a", "name": "b", "status": "ok", "value": 1.0}]), "'unit'"),
        (
            _mutated(readings=[{"instrument": "a", "name": "b", "unit": "", "status": "error", "value": None}]),
            "'error'",
        ),
    ],
)
def test_decode_rejects_what_is_not_a_result(payload, complaint):
    with pytest.raises(MessageError, match=complaint):
        decode_result(payload)


def test_whole_numbers_of_seconds_are_taken_as_floats():
    result = decode_result(_mutated(measured_at=5, received_at=4, replied_at=6, read_seconds={"laser1": 1}))
    times = (result.measured_at, result.received_at, result.replied_at, result.read_seconds)
    assert times == (5.0, 4.0, 6.0, {"laser1": 1.0})
    assert all(type(t) is float for t in (*times[:3], *times[3].values()))


def test_a_reading_off_the_common_form_is_still_taken_when_valid():
    error = {"instrument": "a", "name": "b", "unit": "V", "status": "error", "error": "timeout"}  # no "value" key
    ok = {"instrument": "a", "name": "c", "unit": "V", "status": "ok", "value": 3}
    readings = decode_result(_mutated(readings=[error, ok])).readings
    assert readings == (
        Reading("b", None, "V", "error", "timeout", "a"),
        Reading("c", 3.0, "V", "ok", None, "a"),
    )
    assert type(readings[1].value) is float


def test_nan_reading_becomes_an_error_not_a_value():
    reading = Reading.ok("x", float("nan"), "V")
    assert reading.status == "error" and reading.value is None


def _hostile() -> list[bytes]:
    """The payloads that once ended in tracebacks or flooded the log, and their kin."""
    result = encode_result(_result())
    return [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"labmon": 1, "type": "result", "measured_at": ' + b"9" * 400 + b"}",
        b'{"labmon": 1, "type": "result", "measured_at": ' + b"9" * 5000 + b"}",
        b'{"labmon": 1, "type": "inquiry", "id": "q", "sent_at": -' + b"9" * 5000 + b"}",
        b'{"labmon": 1, "type": "result", "measured_at": 1e999}',
        b'{"labmon": 1, "type": "result", "measured_at": NaN}',
        b'{"labmon": 1, "type": "result", "measurer": "' + b"x" * 1_000_000 + b'"}',
        result.replace(b"0.05", b"1" + b"0" * 400),
        b"online\n2026-01-01 12:00:00 ERROR labmon: fake line",
        b"",
        b"\x00" * 100,
    ]


@pytest.mark.parametrize("payload", _hostile(), ids=range(len(_hostile())))
def test_hostile_payloads_are_malformed_messages_never_crashes(payload):
    for decode in (decode_result, decode_inquiry, decode_status):
        with pytest.raises(MessageError):
            decode(payload)


def test_size_is_checked_before_parsing():
    with pytest.raises(MessageError, match="more than max_payload"):
        decode_result(b"{" * 2000, limit=1024)


def test_thousands_of_random_payloads_raise_only_message_errors():
    rng = random.Random(15)
    valid = [encode_result(_result()), encode_inquiry(Inquiry("q", 1.0))]
    for _ in range(3000):
        base = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 8)):
            spot = rng.randrange(len(base))
            kind = rng.random()
            if kind < 0.4:
                base[spot] = rng.randrange(256)
            elif kind < 0.7:
                base[spot:spot] = rng.choice([b"[", b"{", b"9" * rng.randint(1, 600), b'"', b"\\", b"1e999", b"-"])
            else:
                del base[spot : spot + rng.randint(1, 10)]
        for decode in (decode_result, decode_inquiry, decode_status):
            with contextlib.suppress(MessageError):
                decode(bytes(base))


def test_status_is_online_or_offline_only():
    assert decode_status(b"online") == ONLINE and decode_status(b"offline") == OFFLINE


def test_without_orjson_the_standard_library_decodes_and_refuses_alike(monkeypatch):
    """A Pi Zero or Pi 1 (armv6) has no orjson wheel: the standard library's parser takes over."""
    from labmon import jsontext

    monkeypatch.setattr(jsontext, "orjson", None)
    assert decode_result(encode_result(_result())) == _result()
    for payload in _hostile():
        for decode in (decode_result, decode_inquiry, decode_status):
            with pytest.raises(MessageError):
                decode(payload)
    with pytest.raises(MessageError, match="digits"):
        decode_result(b'{"labmon": 1, "type": "result", "measured_at": ' + b"9" * 50 + b"}")


def test_stored_text_from_json_dumps_with_nan_reads_back():
    """Outbox items written before orjson (json.dumps writes NaN) must not block their queue."""
    from labmon import jsontext

    assert jsontext.load(json.dumps({"value": float("inf")})) == {"value": float("inf")}


@pytest.mark.parametrize("parser", ["orjson", "json"])
def test_a_batch_reads_back_from_its_stored_form_and_from_to_dict(monkeypatch, parser):
    """The outbox stores Batch.stored() through jsontext.dump; items stored before as to_dict read back too."""
    from labmon import jsontext
    from labmon.messages import decode_result
    from labmon.models import READING_FIELDS, Batch

    if parser == "json":
        monkeypatch.setattr(jsontext, "orjson", None)
    wired = decode_result(encode_result(_result()))  # readings built by the decoder's fast path
    batch = Batch(7, 1700000060.0, (_result(), wired), missing=("table2",), disconnected=("table3",))
    batch.series()  # a cached property is not stored
    stored = jsontext.load(jsontext.dump(batch.stored()))
    assert list(stored) == list(batch.to_dict())
    assert stored["results"][1]["readings"][0] == [getattr(wired.readings[0], f) for f in READING_FIELDS]
    assert Batch.from_dict(stored) == batch == Batch.from_dict(batch.stored())  # arrays as lists or tuples
    assert Batch.from_dict(jsontext.load(jsontext.dump(batch.to_dict()))) == batch
    with pytest.raises(TypeError):
        jsontext.dump({"not data": object()})


@pytest.mark.parametrize("encoder", ["orjson", "json"])
def test_a_result_with_a_number_json_cannot_hold_is_refused_not_sent_as_null(monkeypatch, encoder):
    """orjson writes NaN as null (an ok reading without a value); encoding refuses it as json.dumps does."""
    from labmon import jsontext

    if encoder == "json":
        monkeypatch.setattr(jsontext, "orjson", None)
    assert decode_result(encode_result(_result())) == _result()
    bad_value = Result("q", "m", 1.0, (Reading("x", float("nan"), "V", instrument="a"),))
    bad_time = Result("q", "m", 1.0, (), replied_at=float("inf"))
    bad_seconds = Result("q", "m", 1.0, (), read_seconds={"a": float("nan")})
    for result in (bad_value, bad_time, bad_seconds):
        with pytest.raises(ValueError, match="not JSON compliant"):
            encode_result(result)


@pytest.mark.parametrize("encoder", ["orjson", "json"])
def test_a_reading_a_plugin_made_with_a_numpy_number_is_sent_as_its_value(monkeypatch, encoder):
    """Reading(name, numpy.float64(...)) is a float to the type checks; json.dumps wrote it, and so must orjson."""
    numpy = pytest.importorskip("numpy", reason="labmon-core alone has no numpy: this runs in the full suite")

    from labmon import jsontext

    if encoder == "json":
        monkeypatch.setattr(jsontext, "orjson", None)
    result = Result("q", "m", 1.0, (Reading("x", numpy.float64(0.25), "V", instrument="a"),), read_seconds={"a": 0.5})
    [reading] = decode_result(encode_result(result)).readings
    assert reading == Reading("x", 0.25, "V", instrument="a") and type(reading.value) is float


def test_orjson_and_json_write_a_result_byte_for_byte_alike(monkeypatch):
    """orjson writes each Reading (a dataclass) itself: its fields, in READING_FIELDS order, as json.dumps's dicts."""
    from dataclasses import fields

    from labmon import jsontext
    from labmon.models import READING_FIELDS

    assert tuple(field.name for field in fields(Reading)) == READING_FIELDS
    result = Result("abc", "table1", 1.5, _result().readings, 1.25, 1.75, read_seconds={"laser1": 0.01})
    fast = encode_result(result)
    monkeypatch.setattr(jsontext, "orjson", None)
    assert encode_result(result) == fast
    assert json.loads(fast)["readings"][0] == {
        "name": "lock_error", "value": 0.05, "unit": "V", "status": "ok", "error": None, "instrument": "laser1"
    }  # fmt: skip
    assert encode_result(Result("abc", "table1", 1.5, ())).endswith(b',"readings":[]}')

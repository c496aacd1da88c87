import json

import pytest

from labmon.messages import Inquiry, MessageError, decode_inquiry, decode_result, encode_inquiry, encode_result
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
    ],
)
def test_decode_rejects_what_is_not_a_result(payload, complaint):
    with pytest.raises(MessageError, match=complaint):
        decode_result(payload)


def test_nan_reading_becomes_an_error_not_a_value():
    reading = Reading.ok("x", float("nan"), "V")
    assert reading.status == "error" and reading.value is None

import pytest

from labmon import Batch, PermanentError, Reading, Result, RetryLater, TransientError
from labmon.options import Secret
from labmon.testing import Answer, ScriptedServer
from labmon_ifttt.row import CELL_SEPARATOR, row_values
from labmon_ifttt.sink import IftttConfig, IftttSink

KEY = "k3y-that-must-never-show"
CONGRATS = Answer(200, b"Congratulations! You've fired the lab event")


def batch(cycle=1):
    readings = (
        Reading("lock_error", 0.05, "V", instrument="laser1"),
        Reading("*", None, "", "error", "no answer within 5s", instrument="oven"),
    )
    return Batch(cycle, 1700000000.0 + cycle, (Result("q", "table1", 1700000000.0, readings),), ("table2",))


def sink(server, **options):
    return IftttSink(IftttConfig(event="lab", key=Secret(KEY), base_url=server.url, timeout=0.5, **options))


def test_a_cycle_is_one_row_with_every_reading():
    values = row_values(batch(), None)
    assert values["value1"] == "2023-11-14T22:13:21.000+00:00"
    assert values["value2"] == "table1/laser1/lock_error=0.05 V"
    assert values["value3"] == "no reply: table2; table1/oven/*: no answer within 5s"


def test_columns_fix_the_order_and_leave_blanks():
    columns = ["table2/pump/pressure", "table1/laser1/lock_error", "table1/oven/*"]
    assert row_values(batch(), columns)["value2"] == CELL_SEPARATOR.join(["", "0.05", ""])


def test_posts_the_row_to_the_trigger_url():
    with ScriptedServer(CONGRATS) as server:
        sink(server).write(batch())
        (request,) = server.wait_for(1)
    assert request.path == f"/trigger/lab/with/key/{KEY}"
    assert set(request.json()) == {"value1", "value2", "value3"}


def test_json_mode_posts_the_whole_batch():
    with ScriptedServer(CONGRATS) as server:
        sink(server, mode="json").write(batch())
        (request,) = server.wait_for(1)
    assert request.path == f"/trigger/lab/json/with/key/{KEY}"
    assert Batch.from_dict(request.json()) == batch()


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (Answer.json(401, {"errors": [{"message": "You sent an invalid key."}]}), PermanentError),
        (Answer(429, b"slow down", {"Retry-After": "12"}), RetryLater),
        (Answer(503, b"maintenance"), TransientError),
        (Answer(200, b"late", delay=2.0), TransientError),
    ],
)
def test_failures_are_classified_and_never_show_the_key(answer, error):
    with ScriptedServer(answer) as server, pytest.raises(error) as caught:
        sink(server).write(batch())
    assert KEY not in str(caught.value)
    if error is RetryLater:
        assert caught.value.after == 12.0


def test_an_unreachable_service_does_not_show_the_key():
    dead = IftttSink(IftttConfig(event="lab", key=Secret(KEY), base_url="http://127.0.0.1:9", timeout=0.5))
    with pytest.raises(TransientError) as caught:
        dead.write(batch())
    assert KEY not in str(caught.value) and "***" in str(caught.value)


def test_header_row_names_the_columns():
    with ScriptedServer(CONGRATS) as server:
        sink(server, columns=["a/b/c", "d/e/f"]).send_header()
        (request,) = server.wait_for(1)
    assert request.json() == {"value1": "time", "value2": "a/b/c ||| d/e/f", "value3": "notes"}

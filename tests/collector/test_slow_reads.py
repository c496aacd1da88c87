"""A measurer whose reads take longer than the collector waits: one warning per instrument, naming both times."""

import logging
import re

import pytest

from labmon.messages import MessageError, decode_result, encode_result
from labmon.models import Result
from labmon.testing import wait_until
from labmon_collector.service import Collector
from tests.conftest import SIM_LASER, collector_table


def test_read_seconds_go_over_the_wire_and_older_results_have_none():
    result = Result("i", "m", 1.0, (), read_seconds={"scope": 9.2})
    assert decode_result(encode_result(result)).read_seconds == {"scope": 9.2}
    assert decode_result(encode_result(Result("i", "m", 1.0, ()))).read_seconds is None
    with pytest.raises(MessageError, match="read_seconds"):
        decode_result(encode_result(Result("i", "m", 1.0, ())).replace(b'"readings"', b'"read_seconds":3,"readings"'))


def test_a_read_longer_than_reply_timeout_is_warned_of_once_naming_instrument_and_times(
    lab_with, broker, write_config, caplog
):
    slow = {"type": "sim", "reading": "jitter", "unit": "s", "delay": "400ms"}
    (measurer,) = lab_with({"scope": slow, "laser1": SIM_LASER})
    collector = Collector(write_config(collector_table(broker, [measurer], reply_timeout="200ms")))
    collector.start()
    assert collector.wait_connected(10)
    warned = []
    with caplog.at_level(logging.WARNING, logger="labmon_collector.service"):
        for number in (1, 2, 3):
            assert collector.run_cycle(number).missing == (measurer,)
            wait_until(lambda n=number: collector.counters.late >= n, what="the late reply")
        warned = [r.getMessage() for r in caplog.records if "reply_timeout" in r.getMessage()]
    collector.stop()
    assert len(warned) == 1, warned
    assert re.search(
        rf"measurer {measurer}: instrument scope takes \d+\.\ds to read, the collector waits 0.2s", warned[0]
    )
    assert "laser1" not in warned[0]

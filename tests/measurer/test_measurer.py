import json

from labmon.messages import OFFLINE, ONLINE, Inquiry, Topics, decode_result, encode_inquiry
from labmon.testing import wait_until
from labmon_measurer.service import Measurer
from tests.conftest import SIM_LASER, invoke, measurer_table
from tests.measurer.conftest import FLAKY


def test_answers_an_inquiry_with_every_instrument(running, listen):
    topics = Topics("labmon", running.name)
    with listen("asker") as listener:
        listener.watch(topics.results)
        listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("q1", 1.0)))
        (payload,) = listener.wait_for(topics.results, lambda got: len(got) == 1)
    result = decode_result(payload)
    assert (result.inquiry_id, result.measurer) == ("q1", running.name)
    laser, oven = result.readings
    assert (laser.instrument, laser.name, laser.value, laser.unit) == ("laser1", "lock_error", 0.05, "V")
    assert (oven.instrument, oven.status) == ("oven", "error")
    assert "simulated instrument failure" in oven.error


def test_an_inquiry_to_everyone_is_answered_once_even_when_it_also_comes_addressed(running, listen):
    topics = Topics("labmon", running.name)
    with listen("everyone") as listener:
        listener.watch(topics.results)
        listener.client.publish(topics.everyone, encode_inquiry(Inquiry("all-1", 1.0)))
        listener.wait_for(topics.results, lambda got: len(got) == 1)
        listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("all-1", 1.0)))
        listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("next", 2.0)))  # after any answer to a copy
        got = listener.wait_for(topics.results, lambda got: b"next" in got[-1])
    assert [decode_result(p).inquiry_id for p in got] == ["all-1", "next"]
    # a copy answered would make three answers; a copy superseded by "next", a second excess inquiry
    assert running.answered == 2 and running.excess <= 1  # "next" may come within min_inquiry_interval


def test_a_malformed_inquiry_is_counted_and_the_next_one_answered(running, listen):
    topics = Topics("labmon", running.name)
    with listen("garbler") as listener:
        listener.watch(topics.results)
        listener.client.publish(topics.inquiries, b"measure please")
        listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("q2", 1.0)))
        listener.wait_for(topics.results, lambda got: len(got) == 1)
    assert running.rejected == 1 and running.answered == 1


def test_status_is_retained_online_then_offline_on_a_clean_stop(broker, write_config, listen):
    service = Measurer(write_config(measurer_table(broker, "status-probe")))
    service.start()
    topic = Topics("labmon", "status-probe").status
    with listen("status") as listener:
        listener.watch(topic)
        listener.wait_for(topic, lambda got: got[-1:] == [ONLINE])
        service.stop()
        listener.wait_for(topic, lambda got: got[-1:] == [OFFLINE])


def test_read_prints_readings_with_units_and_fails_on_errors(broker, write_config):
    config = write_config(measurer_table(broker, "reader", {"laser1": SIM_LASER, "oven": FLAKY}))
    result = invoke("read", str(config.path))
    assert result.exit_code == 1
    assert "laser1/lock_error" in result.output and "0.05 V" in result.output
    assert "oven/*" in result.output and "ERROR ConnectionError" in result.output
    result = invoke("read", "--json", str(config.path))
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0] == {
        "instrument": "laser1",
        "name": "lock_error",
        "value": 0.05,
        "unit": "V",
        "status": "ok",
        "error": None,
    }


def test_read_of_a_collector_config_says_what_to_do(write_config, broker):
    config = write_config({"collector": {"measurers": ["x"]}})
    result = invoke("read", str(config.path))
    assert result.exit_code == 1 and "has no [measurer] table" in result.output


def _messages(caplog, text):
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_an_inquiry_flood_reads_the_instruments_once_per_min_interval(broker, write_config, listen, caplog):
    table = measurer_table(broker, "flooded", {"laser1": SIM_LASER})
    table["measurer"]["min_inquiry_interval"] = "1h"
    service = Measurer(write_config(table))
    service.start()
    assert service.client.connected.wait(10)
    topics = Topics("labmon", "flooded")
    with listen("flooder") as listener:
        listener.watch(topics.results)
        for i in range(100):
            listener.client.publish(topics.inquiries, encode_inquiry(Inquiry(f"forged-{i}", 1.0)))
        got = listener.wait_for(topics.results, lambda got: any(b"forged-99" in p for p in got))
        wait_until(lambda: service.excess == 99)
    service.stop()
    results = [decode_result(p) for p in got]
    assert service.reads == 1 and len({r.measured_at for r in results}) == 1  # the latest reading, not new reads
    assert len(_messages(caplog, "faster than min_inquiry_interval")) == 1  # counted, logged once a minute


def test_a_measurer_says_when_inquiries_stop_and_when_they_resume(running, listen, caplog):
    topics = Topics("labmon", running.name)
    with listen("poller") as listener:
        listener.watch(topics.results)
        for i in range(2):
            listener.client.publish(topics.inquiries, encode_inquiry(Inquiry(f"q{i}", 1.0)))
            listener.wait_for(topics.results, lambda got, n=i + 1: len(got) == n)
        wait_until(lambda: _messages(caplog, "no inquiry for"))
        listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("q2", 1.0)))
        wait_until(lambda: _messages(caplog, "inquiries are arriving again"))
    assert "is the collector running and polling" in _messages(caplog, "no inquiry for")[0]


def test_two_measurers_with_one_name_back_off_instead_of_fighting(broker, write_config, caplog):
    config = write_config(measurer_table(broker, "cloned-card"))
    pair = [Measurer(config), Measurer(config)]
    for measurer in pair:
        measurer.start()
    try:
        wait_until(lambda: _messages(caplog, "another client connected"), timeout=30)
        (clash,) = _messages(caplog, "another client connected")
        assert "as labmon-measurer-cloned-card: two measurers named cloned-card?" in clash and "backing off" in clash
        waiting = [m for m in pair if m.client.reconnect_delays[0] >= 30]  # it stays away a while
        assert len(waiting) == 1
        (other,) = [m for m in pair if m is not waiting[0]]
        assert other.client.connected.wait(10)  # and the other keeps the connection
    finally:
        for measurer in pair:
            measurer.stop()


def test_a_stalled_instrument_costs_one_timeout_then_answers_say_it_is_still_busy(broker, write_config, listen):
    stalled = {"type": "sim", "reading": "vpp", "unit": "V", "delay": "30s", "timeout": "300ms"}
    table = measurer_table(broker, "stalled-scope", {"scope": stalled, "laser1": SIM_LASER})
    table["measurer"]["min_inquiry_interval"] = "0s"  # each inquiry reads
    service = Measurer(write_config(table))
    service.start()
    assert service.client.connected.wait(10)
    topics = Topics("labmon", "stalled-scope")
    try:
        with listen("stall-asker") as listener:
            listener.watch(topics.results)
            for n, inquiry in enumerate(["first", "second"], start=1):
                listener.client.publish(topics.inquiries, encode_inquiry(Inquiry(inquiry, 1.0)))
                listener.wait_for(topics.results, lambda got, n=n: len(got) == n)
            first, second = [decode_result(p) for p in listener.wait_for(topics.results, lambda got: len(got) == 2)]
    finally:
        service.stop()
    assert "no answer within 300ms" in first.readings[0].error and first.readings[1].status == "ok"
    assert "previous read still running" in second.readings[0].error and second.readings[1].status == "ok"
    assert first.read_seconds is not None and set(first.read_seconds) == {"laser1"}  # the reads that ended in time


def test_a_read_whose_thread_cannot_start_is_an_error_reading_and_one_chain_of_answers_goes_on(
    broker, write_config, listen, monkeypatch
):
    from labmon_measurer import sampling

    oven = {"type": "sim", "reading": "temperature", "unit": "degC", "level": 21.0}
    table = measurer_table(broker, "threadless", {"laser1": SIM_LASER, "oven": oven})
    table["measurer"]["min_inquiry_interval"] = "0s"
    refused = []

    def start_thread(thread):  # the system out of threads, once, for the oven's thread
        if thread.name == "instrument-oven" and not refused:
            refused.append(thread.name)
            raise RuntimeError("can't start new thread")
        thread.start()

    monkeypatch.setattr(sampling, "start_thread", start_thread)
    service = Measurer(write_config(table))
    service.start()
    topics = Topics("labmon", "threadless")
    try:
        assert service.client.connected.wait(10)
        with listen("threadless-asker") as listener:
            listener.watch(topics.results)
            listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("q1", 1.0)))
            listener.wait_for(topics.results, lambda got: len(got) == 1)
            listener.client.publish(topics.inquiries, encode_inquiry(Inquiry("q2", 2.0)))
            got = listener.wait_for(topics.results, lambda got: len(got) == 2)
    finally:
        service.stop()
    first, second = (decode_result(payload) for payload in got)
    assert first.inquiry_id == "q1" and [r.status for r in first.readings] == ["ok", "error"]
    assert "could not start a thread to read it: can't start new thread" in first.readings[1].error
    assert second.inquiry_id == "q2" and [r.status for r in second.readings] == ["ok", "ok"]  # not left busy
    assert service.answered == 2 and service.reads == 2 and refused == ["instrument-oven"]

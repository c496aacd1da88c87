import json

from labmon.messages import OFFLINE, ONLINE, Inquiry, Topics, decode_result, encode_inquiry
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

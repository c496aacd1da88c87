"""Fixtures of labmon-measurer's tests."""

import pytest

from labmon_measurer.service import Measurer
from tests.conftest import SIM_LASER, measurer_table

FLAKY = {"type": "sim", "reading": "temperature", "unit": "degC", "level": 21.0, "fail_every": 1}


@pytest.fixture
def running(broker, write_config, request):
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    config = write_config(measurer_table(broker, name, {"laser1": SIM_LASER, "oven": FLAKY}))
    service = Measurer(config)
    service.start()
    assert service.client.connected.wait(10)
    yield service
    service.stop()

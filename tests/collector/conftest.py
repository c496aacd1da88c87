"""Fixtures of labmon-collector's tests."""

import pytest

from labmon_collector.outbox import Outbox


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite", max_items=5)
    yield box
    box.close()

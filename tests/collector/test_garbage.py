"""The collector raises the young generation's threshold once it starts, and leaves a process's own choice alone."""

import gc
from collections.abc import Iterator

import pytest

from labmon_collector import garbage
from labmon_collector.service import Collector
from tests.conftest import collector_table


@pytest.fixture
def threshold() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize(
    ("set_before", "expected"),
    [
        (700, garbage.YOUNG_THRESHOLD),  # Python's default
        (0, 0),  # collection switched off
        (2 * garbage.YOUNG_THRESHOLD, 2 * garbage.YOUNG_THRESHOLD),
    ],
)
def test_relax_raises_only_a_lower_young_threshold(threshold: None, set_before: int, expected: int) -> None:
    gc.set_threshold(set_before, 10, 10)
    garbage.relax()
    assert gc.get_threshold() == (expected, 10, 10)


def test_a_started_collector_relaxes_it_until_stopped(threshold: None, broker, write_config) -> None:
    gc.set_threshold(700, 10, 10)
    collector = Collector(write_config(collector_table(broker, ["nobody"])))
    collector.start()
    try:
        assert gc.get_threshold()[0] == garbage.YOUNG_THRESHOLD
    finally:
        collector.stop()
    assert gc.get_threshold() == (700, 10, 10)  # a process hosting a collector (the bench's floor) gets its own back

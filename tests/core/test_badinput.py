import logging

from labmon.badinput import SHOWN_CHARS, BadInput, Throttle, shown


def test_shown_is_one_escaped_line_of_bounded_length():
    assert shown(b"online\n2026-01-01 ERROR fake line") == "online\\n2026-01-01 ERROR fake line"
    assert shown("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert shown(b"\xff\xfe") == "\\\\xff\\\\xfe"
    long = shown(b"x" * 1_000_000)
    assert len(long) < SHOWN_CHARS + 40 and long.endswith("(1000000 bytes)")
    assert all(len(shown(c * 500)) < SHOWN_CHARS + 40 for c in ["\n", "é", "🔥", "\\"])


def test_throttle_lets_one_through_per_minute_and_counts_the_rest():
    now = [0.0]
    throttle = Throttle(60.0, clock=lambda: now[0])
    assert throttle.passes("a") == 1
    assert [throttle.passes("a") for _ in range(5)] == [None] * 5
    assert throttle.passes("b") == 1  # each key on its own
    now[0] = 60.0
    assert throttle.passes("a") == 6


def test_bad_input_counts_everything_and_logs_each_topic_once_a_minute(caplog):
    bad = BadInput(logging.getLogger("test"), "a malformed message")
    with caplog.at_level(logging.WARNING):
        for _ in range(100):
            bad.report("labmon/t1/results", "not JSON", b"{\n" * 10_000)
    assert bad.count == 100
    (record,) = caplog.records
    assert "\n" not in record.getMessage() and len(record.getMessage()) < 3 * SHOWN_CHARS

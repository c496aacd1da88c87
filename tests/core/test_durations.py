import pytest

from labmon.times import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("60s", 60), ("20m", 1200), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), (" 1.5s ", 1.5)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "20", "m", "20 minutes", "1h-5m", "s20", "1x"])
def test_parse_duration_rejects_with_a_hint(text):
    with pytest.raises(ValueError, match='write it like "500ms"'):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.25, "250ms"), (59, "59s"), (1200, "20m"), (3900, "1h5m"), (90061, "1d1h")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text

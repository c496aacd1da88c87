import json

import pytest

from labmon.config import load_config
from labmon.plugins import collect, get_plugin_manager
from labmon_measurer.calibrate import Recording, percentile, propose_between, propose_sigma, summarize
from tests.conftest import invoke, measurer_table


def test_summary_and_sigma_proposal():
    samples = [float(v) for v in range(1, 101)]
    summary = summarize(samples)
    assert (summary.count, summary.mean, summary.minimum, summary.maximum) == (100, 50.5, 1.0, 100.0)
    assert summary.percentiles[50] == 50.5 and summary.percentiles[99] == pytest.approx(99.01)
    assert [n for n, _ in summary.running_std] == [10, 25, 50, 100]
    above = propose_sigma(summary, 2, "above")
    assert above.side == "above" and above.threshold == pytest.approx(50.5 + 2 * summary.std)
    assert propose_sigma(summary, 2, "below").threshold == pytest.approx(50.5 - 2 * summary.std)


def test_between_a_good_and_a_bad_recording():
    good = summarize([0.05 + 0.001 * i for i in range(100)])  # 0.05 .. 0.149
    bad = summarize([1.0 + 0.001 * i for i in range(100)])
    proposal = propose_between(good, bad)
    assert proposal.side == "above" and 0.149 < proposal.threshold < 1.0
    falls = propose_between(bad, good)  # a lock monitor whose voltage drops when unlocked
    assert falls.side == "below" and 0.149 < falls.threshold < 1.0
    overlap = propose_between(summarize([0.0, 1.0, 2.0]), summarize([1.0, 2.0, 3.0]))
    assert "OVERLAP" in overlap.reason


def test_percentile_interpolates():
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile([3.0], 99) == 3.0


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        summarize([1.0])


LOCKED = {"type": "sim", "reading": "lock_error", "unit": "V", "level": 0.05, "noise": 0.01, "seed": 1}
UNLOCKED = {**LOCKED, "level": 1.05}


def test_calibrate_records_and_writes_a_working_rule(broker, write_config, tmp_path):
    locked = write_config(measurer_table(broker, "table1", {"laser1": LOCKED}), "locked.toml")
    unlocked = write_config(measurer_table(broker, "table1", {"laser1": UNLOCKED}), "unlocked.toml")
    collector = tmp_path / "collector.toml"
    assert invoke("init", "collector", str(collector)).exit_code == 0
    before = collector.read_text()

    bad = invoke(
        "calibrate",
        str(unlocked.path),
        "laser1/lock_error",
        "--samples",
        "40",
        "--every",
        "0s",
        "--save",
        str(tmp_path / "unlocked.json"),
    )
    assert bad.exit_code == 0, bad.output
    assert len(json.loads((tmp_path / "unlocked.json").read_text())["samples"]) == 40

    result = invoke(
        "calibrate",
        str(locked.path),
        "laser1/lock_error",
        "--samples",
        "40",
        "--every",
        "0s",
        "--against",
        str(tmp_path / "unlocked.json"),
        "--write",
        str(collector),
        "--rule",
        "laser1-lock",
    )
    assert result.exit_code == 0, result.output
    assert "table1/laser1/lock_error: 40 samples in V" in result.output
    assert "proposed rule: above" in result.output and "added rule 'laser1-lock'" in result.output

    after = collector.read_text()
    assert after.startswith(before.rstrip())  # the rest of the file, comments included, is untouched
    assert invoke("check", str(collector)).exit_code == 0
    rule = load_config(collector, collect(get_plugin_manager())).collector.rules[-1]
    assert rule.select == "table1/laser1/lock_error" and 0.1 < rule.above < 1.0 and rule.for_ == 1200

    again = invoke(
        "calibrate",
        str(locked.path),
        "laser1/lock_error",
        "--samples",
        "5",
        "--every",
        "0s",
        "--write",
        str(collector),
        "--rule",
        "laser1-lock",
    )
    assert again.exit_code == 1 and "duplicate rule name 'laser1-lock'" in again.output
    assert collector.read_text() == after


def test_calibrate_names_the_instruments_when_the_series_is_wrong(broker, write_config):
    config = write_config(measurer_table(broker, "table1", {"laser1": LOCKED}))
    result = invoke("calibrate", str(config.path), "laser9/lock_error", "--samples", "5")
    assert result.exit_code == 2 and "instruments: laser1" in result.output


def test_a_recording_round_trips(tmp_path):
    recording = Recording("t/i/r", "V", [1.0, 2.0])
    recording.save(tmp_path / "r.json")
    assert Recording.load(tmp_path / "r.json") == recording

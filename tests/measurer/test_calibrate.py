import json

import pytest

from labmon.config import load_config
from labmon.plugins import collect, get_plugin_manager
from labmon_measurer.calibrate import (
    Proposal,
    Recording,
    histogram,
    percentile,
    propose_between,
    propose_sigma,
    refusals,
    summarize,
)
from tests.conftest import invoke, measurer_table


def test_summary_robust_statistics_and_sigma_proposal():
    samples = [float(v) for v in range(1, 101)]
    summary = summarize([*samples[:-1], 1e6])  # one wild sample moves the mean, not the median or MAD
    assert (summary.count, summary.median, summary.mad, summary.minimum) == (100, 50.5, 25.0, 1.0)
    assert summary.mean > 10_000 and summary.percentiles[25] == pytest.approx(25.75)
    summary = summarize(samples)
    assert [n for n, _ in summary.running_std] == [10, 25, 50, 100]
    above = propose_sigma(summary, 2, "above")
    assert above.side == "above" and above.threshold == pytest.approx(50.5 + 2 * summary.std)
    assert propose_sigma(summary, 2, "below").threshold == pytest.approx(50.5 - 2 * summary.std)


LOW = [0.05 + 0.001 * i for i in range(100)]  # 0.05 .. 0.149
HIGH = [1.0 + 0.001 * i for i in range(100)]


def test_the_side_comes_from_the_data_not_the_order():
    rises = propose_between(good=summarize(LOW), bad=summarize(HIGH))
    assert rises.side == "above" and 0.149 < rises.threshold < 1.0 and not rises.overlap
    falls = propose_between(good=summarize(HIGH), bad=summarize(LOW))  # a lock monitor whose voltage drops
    assert falls.side == "below" and 0.149 < falls.threshold < 1.0
    assert rises.fires(HIGH) == 1.0 and rises.fires(LOW) == 0.0 and falls.fires(LOW) == 1.0


def test_unsound_rules_are_named():
    overlap = propose_between(summarize([0.0, 1.0, 2.0]), summarize([1.0, 2.0, 3.0]))
    assert overlap.overlap and "OVERLAP" in overlap.reason
    assert "recordings overlap" in refusals(overlap, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], 0.01)[-1]
    never = Proposal(6.9e-6, "above", "k-sigma")  # the rule: above every unlocked value
    assert refusals(never, [1e-6, 2e-6], [3e-6, 4e-6], 0.01) == ["it would never have fired on the bad recording"]
    noisy = Proposal(0.1, "above", "k-sigma")
    assert refusals(noisy, LOW, None, 0.01) == ["it fires on 49.0% of the good recording, more than --max-false 1.0%"]
    assert refusals(Proposal(0.5, "above", ""), LOW, HIGH, 0.01) == []


def test_histogram_shows_both_states_and_the_threshold():
    lines = histogram(LOW, HIGH, 0.5, bins=10, width=20)
    assert len(lines) == 10 and lines[0].count("#") == 20 and lines[-1].count("*") == 20
    assert sum("<- threshold" in line for line in lines) == 1 and "<- threshold" in lines[4]


def test_percentile_interpolates():
    assert percentile([0.0, 10.0], 50) == 5.0
    assert percentile([3.0], 99) == 3.0


def test_too_few_samples_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        summarize([1.0])


LOCKED = {"type": "sim", "reading": "lock_error", "unit": "V", "level": 0.05, "noise": 0.01, "seed": 1}
UNLOCKED = {**LOCKED, "level": 1.05}
SAMPLES = ("--samples", "40", "--every", "0s")


@pytest.fixture
def lab(broker, write_config, tmp_path):
    def config(instrument, name):
        return str(write_config(measurer_table(broker, "table1", {"laser1": instrument}), name).path)

    collector = tmp_path / "collector.toml"
    assert invoke("init", "collector", str(collector)).exit_code == 0
    return config(LOCKED, "locked.toml"), config(UNLOCKED, "unlocked.toml"), collector


def test_calibrate_records_both_states_and_writes_a_rule_checked_on_both(lab, tmp_path):
    locked, unlocked, collector = lab
    before = collector.read_text()
    bad_file = str(tmp_path / "unlocked.json")
    bad = invoke("calibrate", unlocked, "laser1/lock_error", *SAMPLES, "--state", "bad", "--save", bad_file)
    assert bad.exit_code == 0, bad.output
    saved = json.loads((tmp_path / "unlocked.json").read_text())
    assert len(saved["samples"]) == 40 and saved["state"] == "bad"
    assert "record the good state too" in bad.output

    args = ("--state", "good", "--against", bad_file, "--write", str(collector), "--rule", "laser1-lock")
    result = invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, *args)
    assert result.exit_code == 0, result.output
    assert "table1/laser1/lock_error (good): 40 samples in V" in result.output and "(bad): 40 samples" in result.output
    assert "median" in result.output and "MAD" in result.output and "<- threshold" in result.output
    assert "fires on 100.0% of the bad recording, on 0.0% of the good one" in result.output
    assert "proposed rule: above" in result.output and "added rule 'laser1-lock'" in result.output

    after = collector.read_text()
    assert after.startswith(before.rstrip())  # the rest of the file, comments included, is untouched
    assert invoke("check", str(collector)).exit_code == 0
    rule = load_config(collector, collect(get_plugin_manager())).collector.rules[-1]
    assert rule.select == "table1/laser1/lock_error" and 0.1 < rule.above < 1.0 and rule.for_ == 1200

    again = invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, *args)
    assert again.exit_code == 1 and "duplicate rule name 'laser1-lock'" in again.output
    assert "nothing recorded" in again.output and "samples" not in again.output  # found before recording
    assert collector.read_text() == after


def test_recordings_in_the_other_order_give_the_same_rule(lab, tmp_path):
    locked, unlocked, _ = lab
    good_file = str(tmp_path / "locked.json")
    assert (
        invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, "--state", "good", "--save", good_file).exit_code
        == 0
    )
    result = invoke("calibrate", unlocked, "laser1/lock_error", *SAMPLES, "--state", "bad", "--against", good_file)
    assert result.exit_code == 0, result.output
    assert "proposed rule: above" in result.output
    assert "fires on 100.0% of the bad recording, on 0.0% of the good one" in result.output


def test_write_refuses_overlapping_recordings_unless_forced(lab, broker, write_config, tmp_path, monkeypatch):
    locked, _, collector = lab
    monkeypatch.chdir(tmp_path)  # where the refused recording is kept
    close = str(write_config(measurer_table(broker, "table1", {"laser1": {**LOCKED, "level": 0.055}}), "c.toml").path)
    good_file = str(tmp_path / "good.json")
    assert (
        invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, "--state", "good", "--save", good_file).exit_code
        == 0
    )
    args = ("--state", "bad", "--against", good_file, "--write", str(collector))
    before = collector.read_text()
    refused = invoke("calibrate", close, "laser1/lock_error", *SAMPLES, *args)
    assert refused.exit_code == 1 and "the rule was not added: " in refused.output
    assert "recordings overlap" in refused.output and collector.read_text() == before
    kept = Recording.load(tmp_path / refused.output.split("the recording is saved in ")[1].split()[0])
    assert len(kept.samples) == 40 and kept.state == "bad"  # not thrown away
    forced = invoke("calibrate", close, "laser1/lock_error", *SAMPLES, *args, "--force")
    assert forced.exit_code == 0 and "added rule 'laser1-lock_error'" in forced.output


def test_a_good_recording_alone_says_how_often_it_would_have_fired(lab):
    locked, _, _ = lab
    result = invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, "--sigma", "5")
    assert result.exit_code == 0, result.output
    assert "would have fired on 0.0% of the good recording (no bad recording to check it on)" in result.output


def test_saving_needs_the_state(lab, tmp_path):
    locked, _, _ = lab
    result = invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, "--save", str(tmp_path / "x.json"))
    assert result.exit_code == 2 and "--state good or --state bad" in result.output


def test_write_needs_no_collector_plugin_nor_secret(lab, tmp_path):
    locked, _, _ = lab
    collector = tmp_path / "pi-copy.toml"
    collector.write_text(
        '[collector]\nmeasurers = ["table1"]\n\n[collector.notifiers.pager]\ntype = "not-installed-here"\n'
        'key = "${PAGER_KEY_NOT_SET}"\n'
    )
    result = invoke("calibrate", locked, "laser1/lock_error", *SAMPLES, "--write", str(collector), "--sigma", "5")
    assert result.exit_code == 0, result.output
    assert 'select = "table1/laser1/lock_error"' in collector.read_text()


def test_calibrate_names_the_instruments_when_the_series_is_wrong(lab):
    locked, _, _ = lab
    result = invoke("calibrate", locked, "laser9/lock_error", "--samples", "5")
    assert result.exit_code == 2 and "instruments: laser1" in result.output


def test_a_recording_round_trips(tmp_path):
    recording = Recording("t/i/r", "V", [1.0, 2.0], "bad")
    recording.save(tmp_path / "r.json")
    assert Recording.load(tmp_path / "r.json") == recording


def test_a_select_no_measurer_answers_is_refused_before_recording(lab, tmp_path):
    locked, _, _ = lab
    collector = tmp_path / "other-lab.toml"
    collector.write_text('[collector]\nmeasurers = ["table2"]\n')
    result = invoke(
        "calibrate", locked, "laser1/lock_error", "--samples", "1000", "--every", "10s", "--write", str(collector)
    )
    assert result.exit_code == 1 and "names no measurer in [collector.measurers]" in result.output
    assert "nothing recorded" in result.output  # at once: 1000 samples 10 s apart would take hours


def test_write_with_only_a_bad_recording_is_refused_before_recording(lab):
    _, unlocked, collector = lab
    result = invoke("calibrate", unlocked, "laser1/lock_error", "--state", "bad", "--write", str(collector))
    assert result.exit_code == 2 and "--write needs a recording of the good state" in result.output
    assert "samples" not in result.output

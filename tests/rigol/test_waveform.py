import numpy as np
import pytest

from labmon_rigol.waveform import Preamble, first_peak_index, has_peak, highest_peak_index, noise, peak_count


def gaussian(n, centres, width=5.0, height=1.0, noise=0.0, seed=0):
    x = np.arange(n, dtype=float)
    trace = sum(height * np.exp(-0.5 * ((x - c) / width) ** 2) for c in centres)
    return trace + np.random.default_rng(seed).normal(0, noise, n)


def test_preamble_scales_bytes_to_volts_and_samples_to_time():
    pre = Preamble.parse("0,0,1400,1,1.000000e-08,-7.000000e-06,0,4.000000e-02,0,127\n")
    assert pre.points == 1400
    assert pre.volts(np.array([127, 152, 10], dtype=np.uint8)) == pytest.approx([0.0, 1.0, -4.68])
    assert pre.time(np.array([0.0, 700.0])) == pytest.approx([-7e-6, 0.0])


def test_preamble_rejects_garbage():
    with pytest.raises(ValueError, match="unexpected"):
        Preamble.parse("1,2,3")


def test_first_peak_is_found_with_sub_sample_precision():
    traces = np.stack([gaussian(400, [100.3, 250]), gaussian(400, [180.75, 300], height=0.9)])
    assert first_peak_index(traces) == pytest.approx([100.3, 180.75], abs=0.05)


def test_first_peak_ignores_a_higher_later_peak_and_flat_tops():
    later_higher = gaussian(400, [100]) + gaussian(400, [300], height=2.0)
    flat_top = np.clip(gaussian(400, [150], width=20), 0, 0.8)  # a derivative of exactly zero fooled the original
    assert first_peak_index(np.stack([later_higher]), fraction=0.3) == pytest.approx([100], abs=0.05)
    assert 130 < first_peak_index(np.stack([flat_top]))[0] < 170


def test_highest_peak_is_the_maximum_refined():
    traces = np.stack([gaussian(400, [100]) + gaussian(400, [300.4], height=2.0)])
    assert highest_peak_index(traces) == pytest.approx([300.4], abs=0.05)
    assert np.isnan(highest_peak_index(np.zeros((1, 10))))[0]


def test_traces_without_a_peak_give_nan():
    assert np.isnan(first_peak_index(np.zeros((1, 100))))[0]


def test_peak_count_with_hysteresis_ignores_noise_on_a_peak():
    clean = gaussian(1200, [200, 500, 800])
    noisy = gaussian(1200, [200, 500, 800], noise=0.03, seed=3)
    assert list(peak_count(np.stack([clean, noisy]))) == [3, 3]
    assert list(peak_count(np.zeros((1, 50)))) == [0]


def test_vectorised_over_many_traces():
    rng = np.random.default_rng(1)
    centres = 300 + rng.normal(0, 2.0, 300)
    traces = np.stack([gaussian(1400, [c]) for c in centres])
    assert first_peak_index(traces) == pytest.approx(centres, abs=0.1)


def test_a_peak_must_rise_above_an_absolute_height_and_the_noise():
    rng = np.random.default_rng(5)
    noise_only = rng.normal(0, 0.05, (50, 1400))
    small = gaussian(1400, [700], height=0.08)[None, :]  # clean, but lower than peak_min_height
    buried = gaussian(1400, [700], height=0.3, noise=0.1, seed=2)[None, :]  # above 0.1 V but not 5 sigma
    real = gaussian(1400, [700], height=3.0, noise=0.05, seed=3)[None, :]
    assert not has_peak(noise_only, 0.1, 5.0).any()
    assert list(has_peak(np.concatenate([small, buried, real]), 0.1, 5.0)) == [False, False, True]


def test_noise_is_a_robust_sigma():
    traces = np.random.default_rng(4).normal(0, 0.2, (1, 8000))
    traces[0, ::50] = 5.0  # narrow spikes do not move it
    assert noise(traces)[0] == pytest.approx(0.2, rel=0.15)

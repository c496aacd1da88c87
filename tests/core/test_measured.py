"""SCPI's no-value numbers are error readings in every instrument type that builds readings with `measured`."""

import math

import pytest

from labmon import measured, no_value_reason


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (9.9e37, "over range (the instrument answered +9.9E+37, SCPI's infinity)"),
        (-9.9e37, "over range (the instrument answered -9.9E+37, SCPI's infinity)"),
        (9.90000e37 * (1 + 1e-6), "over range"),
        (9.91e37, "no valid measurement (the instrument answered +9.91E+37, SCPI's not-a-number)"),
        (math.nan, "no valid measurement (the instrument answered NaN)"),
        (math.inf, "over range (the instrument answered inf)"),
        (-math.inf, "over range (the instrument answered -inf)"),
    ],
)
def test_no_value_numbers_are_named(number, reason):
    assert no_value_reason(number).startswith(reason)
    reading = measured("v", number, "V", scale=1e-3)
    assert (reading.status, reading.value, reading.unit, reading.error) == ("error", None, "V", no_value_reason(number))


@pytest.mark.parametrize("number", [0.0, -1.5, 1.00014, 9.8e37, 1e36, -1e30])
def test_measurements_are_values_scaled(number):
    reading = measured("v", number, "V", scale=2.0)
    assert no_value_reason(number) is None and (reading.status, reading.value) == ("ok", number * 2.0)


def test_a_scale_that_overflows_is_no_value_either():
    assert measured("v", 1e300, scale=1e300).status == "error"

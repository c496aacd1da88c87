"""Time checking received payloads (a valid result, hostile ones) beside a bare json.loads of the valid one.

The floor is `json.loads` of a 20-reading result with nothing of labmon in it; each row is the best
of several repeats, so the ratio is labmon's own cost of validating, or of refusing, one message.
Run: .venv/bin/python bench/payloads.py [--number 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import timeit
from collections.abc import Callable

from labmon.badinput import BadInput
from labmon.messages import MessageError, decode_result, encode_result
from labmon.models import Reading, Result

VALID = encode_result(
    Result("q", "table1", 1.7e9, tuple(Reading(f"r{i}", 0.05 * i, "V", instrument="scope") for i in range(20)))
)
HOSTILE = {
    "JSON 100k deep": b"[" * 100_000 + b"]" * 100_000,
    "5000-digit int": b'{"labmon": 1, "measured_at": ' + b"9" * 5000 + b"}",
    "1 MB field": b'{"labmon": 1, "measurer": "' + b"x" * 1_000_000 + b'"}',
    "not JSON": b"value1:Main Chamber Pressure:1E-9",
}


def best(call: Callable[[], object], number: int) -> float:
    """Return the best time of one call, in seconds."""
    return min(timeit.repeat(call, number=number, repeat=5)) / number


def refuse(payload: bytes, bad: BadInput) -> None:
    """Do what a handler does with a bad payload: decode, fail, report."""
    try:
        decode_result(payload)
    except MessageError as exc:
        bad.report("labmon/table1/results", str(exc), payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=2000)
    number = parser.parse_args().number
    logging.basicConfig(level=logging.CRITICAL)  # the first report per topic would print: not what is timed
    bad = BadInput(logging.getLogger("bench"), "a malformed message")
    floor = best(lambda: json.loads(VALID), number)
    print(f"{'payload':<22}{'time':>12}{'ratio':>10}   (best of 5 x {number})")
    print(f"{'json.loads (floor)':<22}{floor * 1e6:>9.1f} us{1:>9.2f}x")
    valid = best(lambda: decode_result(VALID), number)
    print(f"{'valid result':<22}{valid * 1e6:>9.1f} us{valid / floor:>9.2f}x")
    for name, payload in HOSTILE.items():
        took = best(lambda payload=payload: refuse(payload, bad), max(1, number // 10))
        print(f"{name:<22}{took * 1e6:>9.1f} us{took / floor:>9.2f}x")


if __name__ == "__main__":
    main()

"""Fixtures of the example plugin's tests: the example installed into the test environment."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "labmon-w1therm"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-install the example into a folder of its own, put on PYTHONPATH for `labmon` subprocesses."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
    )
    return {**os.environ, "PYTHONPATH": str(target)}

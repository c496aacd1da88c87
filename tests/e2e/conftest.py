"""Fixtures of the end-to-end tests: labmon nodes as separate processes."""

import subprocess
import sys

import pytest
import tomli_w

from tests.influx.conftest import victoria  # noqa: F401 (the stores' session fixtures, for test_clock)
from tests.postgres.conftest import postgres  # noqa: F401


@pytest.fixture
def spawn(tmp_path):
    """Start `labmon <role> <config>` processes; kill whatever is left at the end."""
    processes = []

    def start(role, config, *args):
        path = tmp_path / f"{role}-{len(processes)}.toml"
        path.write_text(tomli_w.dumps(config))
        process = subprocess.Popen([sys.executable, "-m", "labmon", role, str(path), *args])
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()

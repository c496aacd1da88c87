"""The demo as a user runs it: every process, a few cycles, a clean stop."""

import subprocess
import sys


def test_the_demo_runs_a_whole_lab_and_stops(tmp_path):
    result = subprocess.run(
        # a 3 s interval gives the scope 1.8 s to read its 20 traces, paced at the frame rate
        [sys.executable, "-m", "labmon", "demo", "--cycles", "2", "--interval", "3s"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "cycle 2: 3 measurer(s) answered" in result.stdout
    for series in ("table1/laser1/lock_error", "table2/pump/pressure", "table3/cavity/transmission"):
        assert series in result.stdout
    assert "NO REPLY" not in result.stdout
    assert "labmon demo: the status page is at http://127.0.0.1:" in result.stdout

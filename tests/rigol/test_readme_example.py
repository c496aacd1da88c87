"""The worked example for table1 (docs/configuration.md; 300 traces) against the emulator with bad blocks on."""

import fnmatch
import tomllib
from pathlib import Path

import pytest

from labmon_rigol.emulator import ScopeEmulator, ScopeState
from tests.conftest import invoke
from tests.e2e.test_readme_examples import toml_block

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("locked", [True, False])
def test_the_worked_example_reads_jitter_and_presence_with_bad_blocks(tmp_path, locked):
    emulator = ScopeEmulator(state=ScopeState(short_rate=0.01, garbled_rate=0.01, locked=locked)).start()
    (tmp_path / "pw").write_text("x")
    text = toml_block("# measurer.toml on table1").replace("/etc/labmon/broker-password", str(tmp_path / "pw"))
    text = text.replace("USB0::0x1AB1::0x04B0::DS2D000000001::INSTR", emulator.resource)
    (tmp_path / "measurer.toml").write_text(text)
    try:
        result = invoke("read", str(tmp_path / "measurer.toml"))
    finally:
        emulator.disappear()
    lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
    presence = float(lines["scope/ch1_peak_presence"][0])
    if locked:
        assert result.exit_code == 0, result.output
        assert presence == 1.0 and float(lines["scope/ch1_jitter"][0]) < EXAMPLE_RULES["399nm-unlocked"]["clear"]
        assert lines["scope/ch1_jitter"][1] == "s" and lines["scope/ch1_peak_time"][1] == "s"
    else:  # the peak is missing from most traces: presence says so, jitter and peak_time are errors saying why
        assert presence < 0.5
        assert " ".join(lines["scope/ch1_jitter"]).startswith("ERROR peak missing in ")


EXAMPLE_RULES = {rule["name"]: rule for rule in tomllib.loads(toml_block("# collector.toml"))["collector"]["rules"]}


def test_the_example_tells_a_dead_instrument_from_an_unlocked_laser():
    """The measurer sends reading `*` when it cannot read an instrument; an unlocked laser's jitter is an error too."""
    unreachable = EXAMPLE_RULES["instrument-unreachable"]["select"]
    assert fnmatch.fnmatchcase("table1/scope/*", unreachable)
    assert not fnmatch.fnmatchcase("table1/scope/ch1_jitter", unreachable)

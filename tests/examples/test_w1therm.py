"""The third-party plugin example of docs/plugins.md, installed as a real distribution and run by `labmon`."""

import json
import subprocess
import sys

from tests.examples.conftest import EXAMPLE, ROOT


def labmon(env, *args):
    return subprocess.run([sys.executable, "-m", "labmon", *args], env=env, capture_output=True, text=True, timeout=60)


def test_the_plugin_guide_shows_the_example_verbatim():
    assert (EXAMPLE / "labmon_w1therm.py").read_text() in (ROOT / "docs" / "plugins.md").read_text()


def test_installed_plugin_is_listed(installed):
    entries = json.loads(labmon(installed, "plugins", "--json").stdout)
    (entry,) = [e for e in entries if e["name"] == "w1therm"]
    assert entry["distribution"] == "labmon-w1therm" and entry["provides"] == {"instrument": ["w1therm"]}


def test_installed_plugin_reads_through_labmon_read(installed, tmp_path):
    sensor = tmp_path / "devices" / "28-0316a2795cff"
    sensor.mkdir(parents=True)
    (sensor / "w1_slave").write_text("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n")
    config = tmp_path / "measurer.toml"
    config.write_text(
        '[measurer]\nname = "table1"\n[measurer.instruments.bench]\n'
        f'type = "w1therm"\nsensor = "28-0316a2795cff"\ndevices = "{tmp_path / "devices"}"\n'
    )
    result = labmon(installed, "read", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["bench/temperature", "23.125", "degC"]
    config.write_text(config.read_text().replace('sensor = "28-0316a2795cff"', 'sensro = "x"'))
    result = labmon(installed, "check", str(config))
    assert result.returncode == 1
    assert "[measurer.instruments.bench] sensro: unknown key" in result.stderr
    assert "Traceback" not in result.stderr

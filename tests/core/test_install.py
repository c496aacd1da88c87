"""`labmon install-service`: the unit, udev rule and secrets file it writes, and data under $STATE_DIRECTORY."""

import shutil
import subprocess
import sys

import pytest
import tomli_w

from tests.conftest import invoke
from tests.core.conftest import _make_ca

MEASURER = {
    "measurer": {
        "name": "table1",
        "instruments": {
            "scope": {"type": "rigol", "resource": "USB0::0x1AB1::0x04B0::DS2D000000001::INSTR"},
            "pm": {"type": "pymeasure", "resource": "USB0::4883::32882::P2000123::INSTR"},  # decimal ids
            "pump": {"type": "scpi", "resource": "ASRL/dev/ttyUSB0::INSTR"},
        },
    }
}
COLLECTOR = {
    "collector": {
        "measurers": ["table1"],
        "data_dir": "labmon-data",
        "sinks": {
            "history": {"type": "csv", "path": "/srv/lab/history.csv"},
            "kept": {"type": "csv", "path": "/var/lib/labmon/readings.csv"},
        },
    }
}

EXPECTED_MEASURER = """user labmon: created if missing
--- /etc/systemd/system/labmon-measurer.service (mode 0644)
# Written by `labmon install-service measurer {config} --user labmon`: rerun it rather than edit here.
[Unit]
Description=labmon measurer ({config})
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=labmon
Group=labmon
SupplementaryGroups=dialout
ExecStart={python} -m labmon measurer {config}
EnvironmentFile=-/etc/labmon/labmon.env
# Relative data paths in the config resolve under $STATE_DIRECTORY, /var/lib/labmon.
StateDirectory=labmon
StateDirectoryMode=0750
WorkingDirectory=/var/lib/labmon
Restart=on-failure
RestartSec=5s
UMask=0027
# Hardening: the node needs the network, its state directory and (a measurer) its instruments.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
CapabilityBoundingSet=
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target

--- /etc/udev/rules.d/70-labmon.rules (mode 0644)
# Written by `labmon install-service`: the labmon group may use these USB instruments.
SUBSYSTEM=="usb", ATTR{{idVendor}}=="1313", ATTR{{idProduct}}=="8072", MODE="0660", GROUP="labmon"
SUBSYSTEM=="usb", ATTR{{idVendor}}=="1ab1", MODE="0660", GROUP="labmon"

--- /etc/labmon/labmon.env (mode 0600, only if missing)
# Secrets of the labmon services, one NAME=value a line (the configs say password = "${{NAME}}").
# Only root reads this file: systemd passes it to the service as its environment.

then: systemctl daemon-reload; udevadm control --reload-rules; udevadm trigger --subsystem-match=usb
"""


@pytest.fixture
def configs(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "measurer.toml").write_text(tomli_w.dumps(MEASURER))
    (etc / "collector.toml").write_text(tomli_w.dumps(COLLECTOR))
    return etc


def test_dry_run_prints_exactly_what_it_would_write(configs):
    config = configs / "measurer.toml"
    result = invoke("install-service", "measurer", str(config), "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED_MEASURER.format(config=config, python=sys.executable)
    assert invoke("install-service", "measurer", str(config), "--dry-run").output == result.output


def test_a_collector_gets_no_devices_and_may_write_its_absolute_data_paths(configs):
    result = invoke("install-service", "collector", str(configs / "collector.toml"), "--dry-run", "--user", "lab")
    assert result.exit_code == 0, result.output
    unit = result.output
    assert "User=lab\nGroup=lab\n" in unit and f"-m labmon collector {configs / 'collector.toml'}" in unit
    assert "ReadWritePaths=-/srv/lab\n" in unit and "ReadWritePaths=-/var/lib" not in unit
    assert "PrivateDevices=yes" in unit and "ProtectClock=yes" in unit and "AF_NETLINK" not in unit
    assert "SupplementaryGroups" not in unit and "udev" not in unit
    assert "then: systemctl daemon-reload\n" in unit


def test_writes_the_files_under_root_and_keeps_an_existing_secrets_file(configs, tmp_path):
    root = tmp_path / "root"
    (root / "etc/labmon").mkdir(parents=True)
    (root / "etc/labmon/labmon.env").write_text("LABMON_BROKER_PASSWORD=kept\n")
    result = invoke("install-service", "measurer", str(configs / "measurer.toml"), "--root", str(root))
    assert result.exit_code == 0, result.output
    unit = (root / "etc/systemd/system/labmon-measurer.service").read_text()
    assert (
        unit
        == EXPECTED_MEASURER.format(config=configs / "measurer.toml", python=sys.executable)
        .split("(mode 0644)\n")[1]
        .split("\n--- ")[0]
    )
    assert 'ATTR{idVendor}=="1ab1"' in (root / "etc/udev/rules.d/70-labmon.rules").read_text()
    assert (root / "etc/labmon/labmon.env").read_text() == "LABMON_BROKER_PASSWORD=kept\n"
    assert "systemctl enable --now labmon-measurer" in result.output


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("role", ["measurer", "collector"])
def test_systemd_accepts_the_unit(configs, tmp_path, role):
    root = tmp_path / "root"
    assert invoke("install-service", role, str(configs / f"{role}.toml"), "--root", str(root)).exit_code == 0
    unit = root / f"etc/systemd/system/labmon-{role}.service"
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "Lab Mon"], "'Lab Mon' is not a valid user name"),
        (["--env-file", "secrets.env"], "give an absolute path"),
    ],
)
def test_bad_options_are_refused(configs, args, message):
    result = invoke("install-service", "measurer", str(configs / "measurer.toml"), "--dry-run", *args)
    assert result.exit_code == 2 and message in result.output


def test_a_config_without_the_role_is_refused(configs):
    result = invoke("install-service", "collector", str(configs / "measurer.toml"), "--dry-run")
    assert result.exit_code == 1 and "has no [collector] table; create one with: labmon init collector" in result.output


def test_relative_data_paths_live_in_the_state_directory_under_systemd(write_config, tmp_path, monkeypatch):
    table = {"collector": {"measurers": ["t1"], "sinks": {"h": {"type": "csv", "path": "history.csv"}}}}
    assert write_config(table).collector.data_dir == tmp_path / "labmon-data"  # beside the config, by hand
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state:{tmp_path}/other")
    config = write_config(table)
    assert config.collector.data_dir == tmp_path / "state" / "labmon-data"
    assert config.collector.sinks[0].config.path == tmp_path / "state" / "history.csv"


def test_relative_secret_files_stay_beside_the_config_under_systemd(write_config, tmp_path, monkeypatch):
    (tmp_path / "broker-password").write_text("s3cret\n")
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state")
    sim = {"measurer": {"name": "t1", "instruments": {"laser": {"type": "sim"}}}}
    config = write_config({**sim, "broker": {"username": "lab", "password_file": "broker-password"}})
    assert config.broker.password == "s3cret"


def test_relative_files_read_stay_beside_the_config_under_systemd(write_config, tmp_path, monkeypatch):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (scripts/debian/test-tls.txt)")
    _make_ca(tmp_path, "ca")  # a real CA certificate, beside the config as `labmon check` saw it by hand
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/state")
    sim = {"measurer": {"name": "t1", "instruments": {"laser": {"type": "sim"}}}}
    config = write_config({**sim, "broker": {"tls": True, "ca_file": "ca.pem"}})
    assert config.broker.ca_file == tmp_path / "ca.pem"

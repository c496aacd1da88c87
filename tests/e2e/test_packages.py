"""The installed distributions: each one's entry point, plugin blocking, and the public face plugins import."""

import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from labmon.plugins import collect, describe, get_plugin_manager


def test_blocked_plugins_are_not_loaded(monkeypatch):
    monkeypatch.setenv("LABMON_BLOCK_PLUGINS", "labmon.builtin.sim, measurer")
    pm = get_plugin_manager()
    registry = collect(pm)
    assert registry.get("instrument", "sim") is None
    loaded = {name for name, plugin in pm.list_name_plugin() if plugin is not None}
    assert "measurer" not in loaded and "collector" in loaded


@pytest.mark.parametrize(
    ("plugin", "distribution"),
    [
        ("measurer", "labmon-measurer"),
        ("collector", "labmon-collector"),
        ("rigol", "labmon-rigol"),
        ("ifttt", "labmon-ifttt"),
        ("discord", "labmon-discord"),
        ("demo", "labmon-demo"),
    ],
)
def test_installed_entry_points_are_visible(plugin, distribution):
    entries = {e["name"]: e for e in describe(get_plugin_manager())}
    assert entries[plugin]["distribution"] == distribution
    provided = {
        "rigol": {"instrument": ["rigol", "scpi"]},
        "ifttt": {"sink": ["ifttt"]},
        "discord": {"notifier": ["discord"]},
    }
    assert entries[plugin]["provides"] == provided.get(plugin, {})


ROOT = Path(__file__).parents[2]
PLUGIN_SOURCES = [
    *sorted((ROOT / "labmon-rigol" / "src").rglob("*.py")),
    *sorted((ROOT / "labmon-ifttt" / "src").rglob("*.py")),
    *sorted((ROOT / "labmon-discord" / "src").rglob("*.py")),
    ROOT / "examples" / "labmon-w1therm" / "labmon_w1therm.py",
]


def imported_modules(path: Path) -> set[str]:
    """Return every module a source file imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", PLUGIN_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_public_face(path):
    private = sorted(m for m in imported_modules(path) if m.startswith("labmon.") and m != "labmon.testing")
    assert not private, f"{path.name} imports private core modules {private}: use `from labmon import ...`"


def imports_of(*args: str) -> set[str]:
    """Run `labmon ARGS` in a fresh interpreter with every plugin installed; return the modules it imported.

    The command must succeed: a crash imports little, and would pass for a light command.
    """
    probe = (
        "import os, sys, runpy; sys.argv = ['labmon', *sys.argv[1:]]; code = 0\n"
        "try:\n    runpy.run_module('labmon', run_name='__main__')\n"
        "except SystemExit as exc:\n    code = exc.code\n"
        "open(os.environ['LABMON_PROBE_OUT'], 'w').write('\\n'.join(sorted(sys.modules)))\n"
        "sys.exit(code)"
    )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "modules"
        env = {**os.environ, "LABMON_PROBE_OUT": str(out)}
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60, env=env
        )
        assert result.returncode == 0, f"labmon {' '.join(args)} failed: {result.stderr[-2000:]}"
        return set(out.read_text().split())


def test_imports_of_fails_for_a_command_that_fails():
    with pytest.raises(AssertionError, match="failed"):
        imports_of("no-such-command")


HEAVY = {"numpy", "pyvisa", "requests", "discord_webhook", "urllib3"}


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("plugins",)])
def test_light_commands_import_no_heavy_module(args):
    assert not HEAVY & imports_of(*args)


def test_the_collector_and_its_page_load_no_heavy_module_until_a_health_figure_is_asked():
    """numpy serves the health figures (the page's badges and strips, the digest, `labmon report`): loaded then."""
    probe = "import sys, labmon_collector.service, labmon_collector.web.server; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert not HEAVY & set(result.stdout.split())


def test_check_of_a_scope_config_loads_only_the_resource_name_parser(tmp_path):
    """`labmon check` validates VISA resources with pyvisa's own parser (pyvisa.rname).

    Importing it runs pyvisa's package init, and pyvisa.util imports numpy whenever numpy is installed,
    so pyvisa and numpy come with it (about 0.3 s); nothing else heavy does: no VISA backend, no USB or
    serial stack, no waveform maths. `--help`, `--version` and `plugins` still load neither (above).
    """
    config = tmp_path / "m.toml"
    config.write_text(
        '[measurer]\nname = "t1"\n[measurer.instruments.scope]\ntype = "rigol"\n'
        'resource = "TCPIP0::127.0.0.1::5555::SOCKET"\nmetrics = ["jitter"]\ntraces = 10\n'
    )
    loaded = imports_of("check", str(config))
    assert "pyvisa.rname" in loaded
    assert not (HEAVY - {"numpy", "pyvisa"}) & loaded
    assert not {"pyvisa_py", "usb", "serial", "labmon_rigol.waveform", "labmon_rigol.lock"} & loaded


def test_the_type_checker_covers_every_package():
    import tomllib

    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    packages = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("labmon-*/src"))
    assert set(packages) <= set(files), f"add to [tool.mypy] files: {sorted(set(packages) - set(files))}"

"""labmon-influx as installed: its entry point, its imports, and no HTTP client loaded by light commands."""

from pathlib import Path

from labmon.plugins import describe, get_plugin_manager
from tests.e2e.test_packages import HEAVY, imported_modules, imports_of

SOURCES = sorted((Path(__file__).parents[2] / "labmon-influx" / "src").rglob("*.py"))


def test_the_entry_point_provides_the_influx_sink():
    (entry,) = [e for e in describe(get_plugin_manager()) if e["name"] == "influx"]
    assert (entry["distribution"], entry["provides"]) == ("labmon-influx", {"sink": ["influx"]})


def test_it_imports_only_the_public_face():
    assert not {m for path in SOURCES for m in imported_modules(path) if m.startswith("labmon.")}


def test_checking_an_influx_config_loads_no_http_client(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[collector]\nmeasurers = ["t1"]\n'
        '[collector.sinks.tsdb]\ntype = "influx"\nurl = "http://h:8086"\ndatabase = "lab"\n'
    )
    imported = imports_of("check", str(config))
    assert "labmon_influx.sink" in imported and not HEAVY & imported

"""labmon-apprise as installed: its entry point, the public face it imports, and Apprise loaded only when used."""

from pathlib import Path

import pytest
import tomli_w

from labmon.plugins import describe, get_plugin_manager
from tests.e2e.test_packages import HEAVY, imported_modules, imports_of

SOURCES = sorted((Path(__file__).parents[2] / "labmon-apprise" / "src").rglob("*.py"))


def test_the_entry_point_provides_the_apprise_notifier():
    entries = {e["name"]: e for e in describe(get_plugin_manager())}
    assert entries["apprise"]["distribution"] == "labmon-apprise"
    assert entries["apprise"]["provides"] == {"notifier": ["apprise"]}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_it_imports_only_the_public_face(path):
    assert not sorted(m for m in imported_modules(path) if m.startswith("labmon."))


def test_help_and_check_do_not_load_apprise(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_APPRISE_URLS", "json://127.0.0.1:9/hook")
    config = tmp_path / "collector.toml"
    notifiers = {"team": {"type": "apprise", "urls": "${TEST_APPRISE_URLS}"}}
    config.write_text(tomli_w.dumps({"collector": {"measurers": ["table1"], "notifiers": notifiers}}))
    for args in [("--help",), ("check", str(config))]:
        assert not ({"apprise"} | HEAVY) & imports_of(*args), args

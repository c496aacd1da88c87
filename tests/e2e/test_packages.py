"""The installed distributions: each one's entry point, plugin blocking, and the public face plugins import."""

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

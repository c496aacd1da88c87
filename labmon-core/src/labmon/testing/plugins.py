"""Load a plugin on a fresh manager, and read an instrument once through its config table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pluggy

from labmon.config import PluginEntry, plugin_entry
from labmon.models import Reading
from labmon.options import Where
from labmon.plugins import Registry, collect, get_plugin_manager


def plugin_manager_with(*plugins: object, entry_points: bool = False) -> pluggy.PluginManager:
    """Return a new plugin manager holding the built-ins and `plugins` (installed ones only if asked)."""
    pm = get_plugin_manager(entry_points=entry_points)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def registry_with(*plugins: object, entry_points: bool = False) -> Registry:
    """Return the types that the built-ins and `plugins` provide."""
    return collect(plugin_manager_with(*plugins, entry_points=entry_points))


def read_once(table: dict[str, Any], *, registry: Registry | None = None, name: str = "instrument") -> list[Reading]:
    """Validate `table` (as under [measurer.instruments.NAME], `type` included), open it, read once, close it.

    A config mistake raises ConfigError, as `labmon check` would report it. Installed plugins are used
    unless `registry` is given.
    """
    where = Where(Path("<read_once>"), f"measurer.instruments.{name}")
    entry = plugin_entry("instrument", name, table, where, registry or collect(get_plugin_manager()))
    where.raise_if_any()
    assert entry is not None
    return _read(entry)


def _read(entry: PluginEntry) -> list[Reading]:
    instrument = entry.cls(entry.config)
    try:
        return list(instrument.read())
    finally:
        instrument.close()

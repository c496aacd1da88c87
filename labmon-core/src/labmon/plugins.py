"""Find plugins (built-in and through the `labmon` entry-point group) and what each provides."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import version
from typing import Any, Literal

import click
import pluggy

from labmon import hookspecs

ENTRY_POINT_GROUP = "labmon"
BLOCK_ENV = "LABMON_BLOCK_PLUGINS"
"""Comma-separated plugin names (entry-point names, or `labmon.builtin.sim` style) not to load."""

BUILTIN_MODULES = (
    "labmon.builtin.sim",
    "labmon.builtin.csv_sink",
    "labmon.builtin.console",
)

Kind = Literal["instrument", "sink", "notifier"]
KINDS: tuple[Kind, ...] = ("instrument", "sink", "notifier")


class PluginConflict(Exception):
    """Two plugins registered the same type name for one kind."""


@dataclass(frozen=True)
class Provided:
    """One registered type: its name, class and the plugin that registered it."""

    kind: Kind
    name: str
    cls: type[Any]
    plugin: str


@dataclass
class Registry:
    """Every instrument, sink and notifier type the loaded plugins provide."""

    types: dict[Kind, dict[str, Provided]] = field(default_factory=lambda: {k: {} for k in KINDS})

    def get(self, kind: Kind, name: str) -> Provided | None:
        """Return the type registered as `name`, or None."""
        return self.types[kind].get(name)

    def names(self, kind: Kind) -> list[str]:
        """Return the registered type names of one kind, sorted."""
        return sorted(self.types[kind])


def get_plugin_manager(*, entry_points: bool = True) -> pluggy.PluginManager:
    """Return a new plugin manager with the built-ins and (optionally) installed plugins loaded."""
    pm = pluggy.PluginManager("labmon")
    pm.add_hookspecs(hookspecs)
    for name in _blocked():
        pm.set_blocked(name)
    for module_name in BUILTIN_MODULES:
        if not pm.is_blocked(module_name):
            pm.register(import_module(module_name), name=module_name)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    pm.check_pending()
    return pm


def collect(pm: pluggy.PluginManager) -> Registry:
    """Ask every plugin to register its types; raise PluginConflict on a name registered twice."""
    registry = Registry()
    hooks: dict[Kind, Any] = {
        "instrument": pm.hook.labmon_register_instruments,
        "sink": pm.hook.labmon_register_sinks,
        "notifier": pm.hook.labmon_register_notifiers,
    }
    for kind, hook in hooks.items():
        for impl in reversed(hook.get_hookimpls()):
            impl.function(register=_registrar(registry, kind, impl.plugin_name))
    return registry


def _registrar(registry: Registry, kind: Kind, plugin: str) -> hookspecs.Register:
    def register(name: str, cls: type[Any]) -> None:
        existing = registry.types[kind].get(name)
        if existing is not None:
            raise PluginConflict(f"{kind} type {name!r} is registered by both {existing.plugin} and {plugin}")
        registry.types[kind][name] = Provided(kind, name, cls, plugin)

    return register


def describe(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Return one entry per loaded plugin: name, distribution, version, hooks, provided types and commands."""
    registry = collect(pm)
    commands: dict[str, list[str]] = {}
    for impl in pm.hook.labmon_register_commands.get_hookimpls():
        group = click.Group()
        impl.function(cli=group)
        commands[impl.plugin_name] = sorted(group.commands)
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    entries = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        provides = {kind: [p.name for p in registry.types[kind].values() if p.plugin == name] for kind in KINDS}
        entries.append(
            {
                "name": name,
                "distribution": dist.project_name if dist else "labmon-core",
                "version": dist.version if dist else _core_version(),
                "hooks": sorted(h.name for h in pm.get_hookcallers(plugin) or []),
                "provides": {kind: names for kind, names in provides.items() if names},
                "commands": commands.get(name, []),
            }
        )
    return entries


def _blocked() -> list[str]:
    return [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()]


def _core_version() -> str:
    return version("labmon-core")

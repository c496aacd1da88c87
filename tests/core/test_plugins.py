import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from labmon import hookimpl, hookspecs
from labmon.cli import cli
from labmon.models import Reading
from labmon.plugins import PluginConflict, collect, get_plugin_manager

PLUGIN_GUIDE = Path(__file__).parents[2] / "docs" / "plugins.md"
HOOKS = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("labmon_")]


@dataclass(frozen=True)
class ThermoConfig:
    offset: float = 0.0


class Thermo:
    Config = ThermoConfig

    def __init__(self, config):
        self.config = config

    def read(self):
        return [Reading.ok("t", 20 + self.config.offset, "degC")]

    def close(self):
        pass


class EveryHook:
    """An inline plugin implementing every hook, recording the calls."""

    def __init__(self):
        self.called = set()

    @hookimpl
    def labmon_register_instruments(self, register):
        self.called.add("labmon_register_instruments")
        register("thermo", Thermo)

    @hookimpl
    def labmon_register_sinks(self, register):
        self.called.add("labmon_register_sinks")

    @hookimpl
    def labmon_register_notifiers(self, register):
        self.called.add("labmon_register_notifiers")

    @hookimpl
    def labmon_register_commands(self, cli):
        self.called.add("labmon_register_commands")
        cli.add_command(click.Command("hello", callback=lambda: click.echo("hi")))


def test_inline_plugin_on_a_fresh_manager():
    pm = get_plugin_manager(entry_points=False)
    plugin = EveryHook()
    pm.register(plugin, name="thermo-plugin")
    registry = collect(pm)
    assert registry.get("instrument", "thermo").plugin == "thermo-plugin"
    group = click.Group()
    pm.hook.labmon_register_commands(cli=group)
    assert "hello" in group.commands
    assert plugin.called == set(HOOKS)


def test_every_hook_is_documented():
    guide = PLUGIN_GUIDE.read_text()
    for name in HOOKS:
        assert getattr(hookspecs, name).__doc__, name
        assert name in guide, f"{name} is not in docs/plugins.md"


def test_a_type_registered_twice_is_a_clear_conflict():
    class Clash:
        @hookimpl
        def labmon_register_instruments(self, register):
            register("sim", Thermo)

    pm = get_plugin_manager(entry_points=False)
    pm.register(Clash(), name="clash")
    with pytest.raises(PluginConflict, match="'sim' is registered by both"):
        collect(pm)


def test_a_plugin_implementing_an_unknown_hook_fails_check_pending():
    class Typo:
        @hookimpl
        def labmon_register_instrument(self, register):  # missing the s
            pass

    pm = get_plugin_manager(entry_points=False)
    pm.register(Typo())
    with pytest.raises(Exception, match="unknown hook"):
        pm.check_pending()


def test_plugins_command_lists_builtins_as_json():
    pm = get_plugin_manager()
    result = CliRunner().invoke(cli, ["plugins", "--json"], obj=pm)
    assert result.exit_code == 0, result.output
    provided = {n for e in json.loads(result.output) for names in e["provides"].values() for n in names}
    assert {"sim", "csv", "console"} <= provided

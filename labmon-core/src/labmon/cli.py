"""The `labmon` command: core subcommands, plus those that installed plugins add through a hook."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Literal

import click
import pluggy

from labmon import starter
from labmon.config import Config, load_config
from labmon.install import install_service
from labmon.options import ConfigError
from labmon.plugins import PluginConflict, collect, describe, get_plugin_manager

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def plugin_manager() -> pluggy.PluginManager:
    """Return the plugin manager of the running `labmon` command."""
    pm: pluggy.PluginManager = click.get_current_context().find_root().obj
    return pm


def load_node_config(
    path: str | Path, role: Literal["measurer", "collector"] | None = None, *, secrets: bool = True
) -> Config:
    """Load and validate a config (that has a `role` table, if given); a mistake is a clear CLI error.

    `secrets=False`: for a command that uses no secret (status, ack...), which must run without them.
    """
    try:
        config = load_config(path, collect(plugin_manager()), secrets=secrets)
    except (ConfigError, PluginConflict) as exc:
        raise click.ClickException(f"invalid config\n{exc}") from None
    if role is not None and getattr(config, role) is None:
        raise click.ClickException(f"{path} has no [{role}] table; create one with: labmon init {role}")
    return config


@click.group()
@click.version_option(package_name="labmon-core")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
def cli(log_level: str) -> None:
    """labmon: watch the lasers, pumps and ovens of an optics lab."""
    logging.basicConfig(level=log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    # urllib3 logs each request line at DEBUG: webhook URLs carry their secret in the path.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins, their versions and what they provide."""
    try:
        entries = describe(plugin_manager())
    except PluginConflict as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        click.echo(f"{entry['name']} ({entry['distribution']} {entry['version']})")
        for kind, names in entry["provides"].items():
            click.echo(f"    {kind}s: {', '.join(names)}")
        if entry["commands"]:
            click.echo(f"    commands: {', '.join(entry['commands'])}")


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
def check(config: str) -> None:
    """Validate CONFIG; exit 0 when it is fine, 1 with every mistake listed when it is not."""
    node = load_node_config(config)
    roles = [role for role in ("measurer", "collector") if getattr(node, role) is not None]
    click.echo(f"{config}: ok ({' and '.join(roles)})")


@cli.command()
@click.argument("role", type=click.Choice(["measurer", "collector"]))
@click.argument("path", type=click.Path(dir_okay=False), required=False)
@click.option("--name", default="table1", show_default=True, help="The measurer's name (measurer role).")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(role: str, path: str | None, name: str, force: bool) -> None:
    """Write a commented starter config for a measurer or a collector."""
    target = Path(path or f"labmon-{role}.toml")
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(starter.measurer(name) if role == "measurer" else starter.collector([name]), encoding="utf-8")
    click.echo(f"wrote {target}; check it with: labmon check {target}")


cli.add_command(install_service)


def with_plugin_commands(pm: pluggy.PluginManager) -> click.Group:
    """Return the `labmon` group with the subcommands of the plugins in `pm` added."""
    pm.hook.labmon_register_commands(cli=cli)
    return cli


def main() -> None:
    """Entry point of the `labmon` command."""
    pm = get_plugin_manager()
    with_plugin_commands(pm)(obj=pm)

"""`labmon install-service`: a systemd unit running a node as its own user, and a udev rule for its USB instruments."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

STATE_DIR = Path("/var/lib/labmon")
UNIT_DIR = Path("/etc/systemd/system")
UDEV_RULES = Path("/etc/udev/rules.d/70-labmon.rules")
RIGOL_VENDOR = "1ab1"
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
USB_RESOURCE = re.compile(r"^USB\d*::(0x[0-9a-fA-F]+|\d+)::(0x[0-9a-fA-F]+|\d+)::", re.IGNORECASE)
ENV_TEXT = """# Secrets of the labmon services, one NAME=value a line (the configs say password = "${NAME}").
# Only root reads this file: systemd passes it to the service as its environment.
"""


@dataclass(frozen=True)
class Devices:
    """What a measurer's instruments need from the host: USB ids (vendor, product or None) and serial ports."""

    usb: tuple[tuple[str, str | None], ...] = ()
    serial: bool = False


@dataclass
class Plan:
    """Everything `install-service` writes and runs, so a dry run can print exactly that."""

    files: list[tuple[Path, str, int]] = field(default_factory=list)  # path, text, mode
    keep_existing: set[Path] = field(default_factory=set)
    commands: list[list[str]] = field(default_factory=list)


def devices(table: dict[str, Any]) -> Devices:
    """Return the USB ids and serial use of the instruments in a node's config."""
    instruments = table.get("measurer", {}).get("instruments", {})
    resources = [str(i.get("resource", "")) for i in instruments.values() if isinstance(i, dict)]
    usb: set[tuple[str, str | None]] = (
        {(RIGOL_VENDOR, None)} if any(USB_RESOURCE.match(r) for r in resources) else set()
    )
    for resource in resources:
        match = USB_RESOURCE.match(resource)
        if match:
            usb.add((_hex4(match.group(1)), _hex4(match.group(2))))
    usb = {(vendor, product) for vendor, product in usb if product is None or (vendor, None) not in usb}
    serial = any(r.upper().startswith("ASRL") for r in resources)
    return Devices(tuple(sorted(usb, key=lambda ids: (ids[0], ids[1] or ""))), serial)


def _hex4(number: str) -> str:
    return f"{int(number, 0):04x}"


def writable_dirs(table: Any) -> list[str]:
    """Return the directories outside the state directory that the config's absolute data paths need."""
    found: set[str] = set()
    if isinstance(table, dict):
        for key, value in table.items():
            if isinstance(value, str) and value.startswith("/") and (key == "path" or key.endswith("_dir")):
                directory = Path(value) if key.endswith("_dir") else Path(value).parent
                if not directory.is_relative_to(STATE_DIR):
                    found.add(str(directory))
            elif isinstance(value, dict | list):
                found.update(writable_dirs(value))
    elif isinstance(table, list):
        for item in table:
            found.update(writable_dirs(item))
    return sorted(found)


def unit_text(role: str, config: Path, user: str, env_file: Path, table: dict[str, Any]) -> str:
    """Return the systemd unit that runs `labmon ROLE CONFIG` as `user`."""
    needs = devices(table) if role == "measurer" else Devices()
    lines = [
        f"# Written by `labmon install-service {role} {config} --user {user}`: rerun it rather than edit here.",
        "[Unit]",
        f"Description=labmon {role} ({config})",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        f"User={user}",
        f"Group={user}",
        *(["SupplementaryGroups=dialout"] if needs.serial else []),
        f"ExecStart={sys.executable} -m labmon {role} {config}",
        f"EnvironmentFile=-{env_file}",
        "# Relative data paths in the config resolve under $STATE_DIRECTORY, /var/lib/labmon.",
        f"StateDirectory={STATE_DIR.name}",
        "StateDirectoryMode=0750",
        f"WorkingDirectory={STATE_DIR}",
        *(f"ReadWritePaths=-{d}" for d in writable_dirs(table)),
        "Restart=on-failure",
        "RestartSec=5s",
        "UMask=0027",
        "# Hardening: the node needs the network, its state directory and (a measurer) its instruments.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        *([] if needs.usb or needs.serial else ["PrivateDevices=yes", "ProtectClock=yes"]),
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectHostname=yes",
        "RestrictNamespaces=yes",
        "RestrictRealtime=yes",
        "RestrictSUIDSGID=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "CapabilityBoundingSet=",
        # libusb watches device arrivals through netlink
        f"RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6{' AF_NETLINK' if needs.usb else ''}",
        "SystemCallArchitectures=native",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def udev_text(user: str, usb: tuple[tuple[str, str | None], ...]) -> str:
    """Return udev rules giving `user`'s group the USB instruments (PyVISA's @py backend opens them via libusb)."""
    lines = [f"# Written by `labmon install-service`: the {user} group may use these USB instruments."]
    for vendor, product in usb:
        product_match = f', ATTR{{idProduct}}=="{product}"' if product else ""
        lines.append(f'SUBSYSTEM=="usb", ATTR{{idVendor}}=="{vendor}"{product_match}, MODE="0660", GROUP="{user}"')
    return "\n".join(lines) + "\n"


def make_plan(role: str, config: Path, user: str, env_file: Path, root: Path) -> Plan:
    """Return the files and commands that install `role` with `config` (paths under `root`)."""
    try:
        table = tomllib.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"cannot read {config}: {exc}; check it with: labmon check {config}") from None
    if not isinstance(table.get(role), dict):
        raise click.ClickException(f"{config} has no [{role}] table; create one with: labmon init {role}")
    plan = Plan()
    plan.files.append(
        (_under(root, UNIT_DIR / f"labmon-{role}.service"), unit_text(role, config, user, env_file, table), 0o644)
    )
    usb = devices(table).usb if role == "measurer" else ()
    if usb:
        plan.files.append((_under(root, UDEV_RULES), udev_text(user, usb), 0o644))
    env_path = _under(root, env_file)
    plan.files.append((env_path, ENV_TEXT, 0o600))
    plan.keep_existing.add(env_path)
    plan.commands.append(["systemctl", "daemon-reload"])
    if usb:
        plan.commands += [["udevadm", "control", "--reload-rules"], ["udevadm", "trigger", "--subsystem-match=usb"]]
    return plan


def _under(root: Path, path: Path) -> Path:
    return root / path.relative_to("/")


def ensure_user(user: str) -> None:
    """Create `user` as a system user with its own group, no login and no home of its own, unless it exists."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        home = ["--no-create-home", "--home-dir", str(STATE_DIR), "--shell", "/usr/sbin/nologin"]
        subprocess.run(["useradd", "--system", "--user-group", *home, user], check=True)


def plan_text(plan: Plan, user: str, created: bool) -> str:
    """Return the plan as text: what a dry run prints."""
    parts = [f"user {user}: {'created if missing' if created else 'not touched (--root)'}"]
    for path, text, mode in plan.files:
        note = ", only if missing" if path in plan.keep_existing else ""
        parts.append(f"--- {path} (mode {mode:04o}{note})\n{text}")
    parts.append("then: " + "; ".join(" ".join(c) for c in plan.commands))
    return "\n".join(parts)


@click.command("install-service")
@click.argument("role", type=click.Choice(["measurer", "collector"]))
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", default="labmon", show_default=True, help="The unprivileged user the service runs as.")
@click.option("--env-file", type=click.Path(path_type=Path), default=Path("/etc/labmon/labmon.env"), show_default=True)
@click.option("--dry-run", is_flag=True, help="Print what would be written and run; change nothing.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write under this directory instead of /; create no user, run nothing (for images and tests).",
)
def install_service(role: str, config: Path, user: str, env_file: Path, dry_run: bool, root: Path | None) -> None:
    """Install a systemd service running `labmon ROLE CONFIG` as its own user (and udev rules for USB instruments)."""
    if not USER_NAME.match(user):
        raise click.BadParameter(f"{user!r} is not a valid user name", param_hint="--user")
    if not env_file.is_absolute():
        raise click.BadParameter("give an absolute path", param_hint="--env-file")
    config = config.resolve()
    plan = make_plan(role, config, user, env_file, root or Path("/"))
    if dry_run:
        click.echo(plan_text(plan, user, created=root is None))
        return
    if root is None and os.geteuid() != 0:
        raise click.ClickException("installing a service needs root: run it with sudo (or see first with --dry-run)")
    if root is None:
        ensure_user(user)
    for path, text, mode in plan.files:
        if path in plan.keep_existing and path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        click.echo(f"wrote {path}")
    if root is None:
        for command in plan.commands:
            if shutil.which(command[0]) is None:
                click.echo(f"skipped `{' '.join(command)}`: {command[0]} is not installed here", err=True)
            else:
                subprocess.run(command, check=False)
    click.echo(f"start it with: systemctl enable --now labmon-{role}; follow it with: journalctl -u labmon-{role} -f")

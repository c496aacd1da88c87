"""`labmon bridge-config`: the Mosquitto bridge stanza that joins one lab's broker to the central one."""

from __future__ import annotations

import click

from labmon.cli import load_node_config
from labmon.config import BrokerConfig, Config
from labmon.messages import Topics

LOOPBACK = ("127.", "localhost", "::1")


def bridge_stanza(central: Config, lab: list[Config], *, address: str | None, name: str, username: str | None) -> str:
    """Return the bridge stanza for the lab broker that the `lab` measurer configs share.

    Inquiries come in from the central broker (with `inquire = "all"`, the one for everyone too); results and
    the retained status go out. Raise
    click.ClickException when the configs do not describe one lab polled through one central broker.
    """
    assert central.collector is not None
    refs = {ref.name: ref for ref in central.collector.measurers}
    topics: list[str] = []
    remotes: set[BrokerConfig] = set()
    for node in lab:
        assert node.measurer is not None
        ref = refs.get(node.measurer.name)
        if ref is None:
            raise click.ClickException(
                f"{central.path} does not poll {node.measurer.name} ({node.path}): add it to [collector] measurers"
            )
        if (ref.broker.host, ref.broker.port) == (node.broker.host, node.broker.port):
            raise click.ClickException(
                f"{central.path} reaches {ref.name} on its lab's broker itself: no bridge needed"
            )
        local, remote = Topics(node.broker.topic_prefix, ref.name), Topics(ref.broker.topic_prefix, ref.name)
        topics += [
            _topic(local.inquiries, remote.inquiries, "in"),
            _topic(local.results, remote.results, "out"),
            _topic(local.status, remote.status, "out"),
        ]
        if central.collector.inquire == "all":
            topics.append(_topic(local.everyone, remote.everyone, "in"))
        remotes.add(ref.broker)
    for what, found in (("lab", {(c.broker.host, c.broker.port) for c in lab}), ("central", remotes)):
        if len(found) > 1:
            raise click.ClickException(f"the configs name several {what} brokers: give the measurers of one lab")
    (broker,) = remotes
    lines = [
        "# labmon: bridge this lab's broker to the central one (from `labmon bridge-config`)",
        f"connection {name}",
        f"address {address or f'{broker.host}:{broker.port}'}",
        "cleansession true",
        "restart_timeout 2 30",
        "notifications false",
    ]
    if address is None and broker.host.startswith(LOOPBACK):
        lines.append("# this address is loopback as the collector sees it: pass --address HOST:PORT the lab reaches")
    if username is not None:
        lines += [
            f"remote_username {username}",
            "# remote_password ...  (add it yourself: labmon never prints secrets)",
        ]
    if broker.tls:
        lines.append(f"bridge_cafile {broker.ca_file}" if broker.ca_file else "bridge_capath /etc/ssl/certs")
    return "\n".join([*lines, *dict.fromkeys(topics)]) + "\n"


def _topic(local: str, remote: str, direction: str) -> str:
    """Return one `topic` line; prefixes that differ between the brokers are remapped (local, then remote)."""
    if local == remote:
        return f"topic {local} {direction} 1"
    shared = local.split("/", 1)[1]
    return f"topic {shared} {direction} 1 {local.removesuffix(shared)} {remote.removesuffix(shared)}"


@click.command("bridge-config")
@click.argument("collector", type=click.Path(dir_okay=False))
@click.argument("measurers", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--address", help="HOST:PORT of the central broker as the lab reaches it [default: COLLECTOR's].")
@click.option("--name", default="labmon-central", show_default=True, help="The bridge connection's name.")
@click.option("--username", help="Log in to the central broker as this user (you add the password).")
def bridge_config(
    collector: str, measurers: tuple[str, ...], address: str | None, name: str, username: str | None
) -> None:
    """Print the Mosquitto bridge joining the broker of MEASURERS (one lab) to COLLECTOR's central broker."""
    central = load_node_config(collector, "collector")
    lab = [load_node_config(path, "measurer") for path in measurers]
    click.echo(bridge_stanza(central, lab, address=address, name=name, username=username), nl=False)

"""The worked example configs of docs/configuration.md are valid configs."""

import re
from pathlib import Path

from labmon.config import load_config

ROOT = Path(__file__).parents[2]


def toml_block(first_line: str, page: str = "docs/configuration.md") -> str:
    """Return the one fenced TOML block of `page` (relative to the repository) that begins with `first_line`."""
    text = (ROOT / page).read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if b.startswith(first_line)]
    return block


def test_the_worked_collector_example_validates(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("LABMON_BROKER_PASSWORD", "x")
    monkeypatch.setenv("IFTTT_KEY", "x")
    (tmp_path / "webhook").write_text("http://127.0.0.1:9/api/webhooks/1/t")
    text = toml_block("# collector.toml").replace("/etc/labmon/discord-webhook", str(tmp_path / "webhook"))
    text = text.replace("/var/lib/labmon", str(tmp_path / "data"))
    path = tmp_path / "collector.toml"
    path.write_text(text)
    collector = load_config(path, registry).collector
    kinds = sorted({rule.kind for rule in collector.rules})
    assert kinds == ["band", "error", "offline", "rate", "threshold"]
    assert len(collector.rules) == 9


def test_the_worked_measurer_example_validates(tmp_path, registry):
    (tmp_path / "pw").write_text("x")
    text = toml_block("# measurer.toml on table1").replace("/etc/labmon/broker-password", str(tmp_path / "pw"))
    path = tmp_path / "measurer.toml"
    path.write_text(text)
    assert load_config(path, registry).measurer.instruments[0].config.traces == 300

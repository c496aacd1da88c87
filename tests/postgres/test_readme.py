"""The example in docs/scaling.md of a collector writing to the shared stores is a valid config."""

from labmon.config import load_config
from tests.e2e.test_readme_examples import toml_block


def test_the_shared_stores_example_validates(tmp_path, registry, monkeypatch):
    for name in ("INFLUX_PASSWORD", "LABMON_PG_DSN"):
        monkeypatch.setenv(name, "x")
    path = tmp_path / "collector.toml"
    path.write_text(toml_block("# lab1-collector.toml: a lab writing to the shared stores", "docs/scaling.md"))
    sinks = load_config(path, registry).collector.sinks
    assert [(s.name, s.type_name) for s in sinks] == [
        ("history", "sqlite"),
        ("tsdb", "influx"),
        ("archive", "postgres"),
    ]

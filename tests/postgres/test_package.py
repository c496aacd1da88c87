"""labmon-postgres as installed: its entry point, its imports, and no database client loaded by `labmon check`."""

from pathlib import Path

from labmon.plugins import describe, get_plugin_manager
from tests.e2e.test_packages import imported_modules, imports_of

SOURCES = sorted((Path(__file__).parents[2] / "labmon-postgres" / "src").rglob("*.py"))


def test_the_entry_point_provides_the_postgres_sink():
    (entry,) = [e for e in describe(get_plugin_manager()) if e["name"] == "postgres"]
    assert (entry["distribution"], entry["provides"]) == ("labmon-postgres", {"sink": ["postgres"]})


def test_it_imports_only_the_public_face():
    assert not {m for path in SOURCES for m in imported_modules(path) if m.startswith("labmon.")}


def test_checking_a_postgres_config_loads_no_database_client(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_DSN", "host=db")
    config = tmp_path / "c.toml"
    config.write_text('[collector]\nmeasurers = ["t1"]\n[collector.sinks.db]\ntype = "postgres"\ndsn = "${PG_DSN}"\n')
    imported = imports_of("check", str(config))
    assert "labmon_postgres.sink" in imported and "psycopg" not in imported

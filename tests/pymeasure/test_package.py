"""labmon-pymeasure as a package: its entry point, its imports, and pymeasure kept out of everything else."""

import tomllib
from pathlib import Path

import pytest

from labmon.plugins import describe, get_plugin_manager
from tests.e2e.test_packages import imported_modules, imports_of

ROOT = Path(__file__).parents[2]


def test_entry_point_is_visible():
    entries = {e["name"]: e for e in describe(get_plugin_manager())}
    assert entries["pymeasure"]["distribution"] == "labmon-pymeasure"
    assert entries["pymeasure"]["provides"] == {"instrument": ["pymeasure"]}


@pytest.mark.parametrize("path", sorted((ROOT / "labmon-pymeasure" / "src").rglob("*.py")), ids=lambda p: p.name)
def test_imports_only_the_public_face(path):
    modules = imported_modules(path)
    assert not {m for m in modules if m.startswith("labmon.")}
    assert not {m for m in modules if m.split(".")[0] in {"pymeasure", "pyvisa", "numpy"}}  # imported by name, late


def test_only_labmon_pymeasure_depends_on_pymeasure():
    dependents = [
        project.parent.name
        for project in ROOT.glob("labmon-*/pyproject.toml")
        if any("pymeasure" in d for d in tomllib.loads(project.read_text())["project"]["dependencies"])
    ]
    assert dependents == ["labmon-pymeasure"]


@pytest.mark.parametrize("args", [("--help",), ("plugins",)])
def test_light_commands_do_not_import_pymeasure(args):
    assert "pymeasure" not in imports_of(*args)


def test_a_measurer_without_pymeasure_instruments_never_imports_it(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text('[measurer]\nname = "t1"\n[measurer.instruments.laser]\ntype = "sim"\n')
    assert "pymeasure" not in imports_of("read", str(config))

"""Fixtures of labmon-demo's tests: the demo's own node configs, with its scope served by the emulator."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from labmon.config import Config, load_config
from labmon.plugins import collect, get_plugin_manager
from labmon_demo.demo import demo_configs
from labmon_rigol.emulator import ScopeEmulator


@pytest.fixture
def scope() -> Iterator[ScopeEmulator]:
    """The emulated DS2072A the demo reads."""
    emulator = ScopeEmulator().start()
    yield emulator
    emulator.disappear()


@pytest.fixture
def demo_nodes(tmp_path: Path, scope: ScopeEmulator) -> dict[str, Config]:
    """The demo's node configs by file stem, written and validated as `labmon demo` writes them."""
    registry = collect(get_plugin_manager())
    configs = {}
    for stem, config in demo_configs(1883, tmp_path, "1s", scope.port).items():
        (tmp_path / f"{stem}.toml").write_text(tomli_w.dumps(config))
        configs[stem] = load_config(tmp_path / f"{stem}.toml", registry)
    return configs

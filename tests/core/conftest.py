"""Fixtures of labmon-core's tests (they run with labmon-core alone installed: import nothing else)."""

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def node_file(tmp_path: Path) -> Callable[[str], Path]:
    """Write config text to node.toml in tmp_path and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "node.toml"
        path.write_text(text)
        return path

    return write

"""The instrument examples `labmon init measurer` writes are valid once uncommented and their plugins installed."""

import pytest

from labmon import starter
from tests.conftest import invoke


@pytest.mark.parametrize("kind", list(starter.EXAMPLES))
def test_each_example_checks_when_uncommented(tmp_path, kind):
    path = tmp_path / "measurer.toml"
    path.write_text(f"{starter.measurer('table1')}\n{starter.EXAMPLES[kind]}")
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output

"""The pymeasure and instrument examples of `labmon init measurer` and docs/configuration.md are valid configs."""

import re
from pathlib import Path

import pytest

from labmon import starter
from tests.conftest import invoke


@pytest.mark.parametrize("kind", list(starter.EXAMPLES))
def test_each_example_checks_when_uncommented(tmp_path, kind):
    path = tmp_path / "measurer.toml"
    path.write_text(f"{starter.measurer('table1')}\n{starter.EXAMPLES[kind]}")
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output


def test_the_documented_pymeasure_example_checks(tmp_path):
    readme = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if 'type = "pymeasure"' in b]
    path = tmp_path / "measurer.toml"
    path.write_text(f'[measurer]\nname = "table1"\n{block}')
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output

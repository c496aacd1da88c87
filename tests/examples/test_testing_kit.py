"""The plugin-testing example of docs/plugins.md runs as written, with labmon.testing and the example plugin."""

import sys

import pytest

from tests.examples.conftest import EXAMPLE, ROOT


@pytest.fixture
def example_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield
    sys.modules.pop("labmon_w1therm", None)


def readme_block(starts: str) -> str:
    """Return the fenced python block of docs/plugins.md that begins with `starts`."""
    text = (ROOT / "docs" / "plugins.md").read_text()
    begin = text.index(f"```python\n{starts}") + len("```python\n")
    return text[begin : text.index("```", begin)]


def test_the_plugin_guide_testing_kit_example_passes(example_importable, tmp_path):
    namespace: dict = {}
    exec(readme_block("import labmon_w1therm"), namespace)
    namespace["test_reads_the_sensor"](tmp_path)


def test_read_once_reports_config_mistakes_as_check_does(example_importable):
    import labmon_w1therm
    from labmon.testing import ConfigError, read_once, registry_with

    with pytest.raises(ConfigError, match="sensro: unknown key"):
        read_once({"type": "w1therm", "sensro": "28-1"}, registry=registry_with(labmon_w1therm))

"""The measurer starter a new install begins from: real-instrument examples, commented out, so core alone accepts it."""

from labmon import starter
from labmon.config import load_config
from labmon.testing import registry_with


def test_the_starter_shows_every_instrument_kind_and_checks_with_core_alone(tmp_path):
    path = tmp_path / "measurer.toml"
    path.write_text(starter.measurer("table1"))
    text = path.read_text()
    for kind in ("rigol", "scpi", "pymeasure"):
        assert f'# type = "{kind}"' in text
    assert [i.name for i in load_config(path, registry_with()).measurer.instruments] == ["laser1"]

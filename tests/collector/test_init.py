"""`labmon init collector` writes a config that checks once labmon-collector (and its sqlite history) is installed."""

from tests.conftest import invoke


def test_init_writes_a_collector_config_that_checks(tmp_path):
    path = tmp_path / "x" / "collector.toml"
    assert invoke("init", "collector", str(path)).exit_code == 0
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output
    assert "ok (collector)" in result.output

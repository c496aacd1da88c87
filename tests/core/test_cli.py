from tests.conftest import invoke


def test_init_writes_a_measurer_config_that_checks(tmp_path):
    path = tmp_path / "measurer.toml"
    assert invoke("init", "measurer", str(path)).exit_code == 0
    result = invoke("check", str(path))
    assert result.exit_code == 0, result.output
    assert "ok (measurer)" in result.output


def test_init_does_not_overwrite(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text("# mine\n")
    result = invoke("init", "measurer", str(path))
    assert result.exit_code == 1 and "--force" in result.output
    assert path.read_text() == "# mine\n"


def test_check_rejects_a_broken_config_naming_the_key(tmp_path):
    path = tmp_path / "c.toml"
    invoke("init", "collector", str(path))
    path.write_text(path.read_text().replace('interval = "60s"', "interval = 60"))
    result = invoke("check", str(path))
    assert result.exit_code == 1
    assert f"{path}: [collector] interval: expected a duration string" in result.output
    assert 'interval = "60s"' in result.output
    assert "Traceback" not in result.output


def test_init_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "x" / "y" / "collector.toml"
    result = invoke("init", "collector", str(path))
    assert result.exit_code == 0, result.output
    assert "[collector]" in path.read_text()

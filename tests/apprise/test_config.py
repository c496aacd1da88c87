"""The notifier's config: URLs from one secret (a variable or a file), and mistakes named without the secret."""

import re
from pathlib import Path

import pytest

from labmon import Secret
from labmon.config import load_config
from labmon.options import ConfigError
from labmon_apprise.notifier import AppriseConfig, AppriseNotifier
from tests.apprise.conftest import PASSWORD, TOKEN
from tests.conftest import collector_table, invoke

HOOK = f"json://labmon:{PASSWORD}@127.0.0.1:9/hooks/{TOKEN}"


def test_several_urls_come_from_one_variable_or_one_file(write_config, broker, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_APPRISE_URLS", f"{HOOK} mailtos://labmon:{PASSWORD}@mail.example.org")
    (tmp_path / "urls").write_text(f"# the lab's channels, one per line\n{HOOK}\n\nntfy://lab-alerts\n")
    notifiers = {
        "team": {"type": "apprise", "urls": "${TEST_APPRISE_URLS}"},
        "phone": {"type": "apprise", "urls_file": str(tmp_path / "urls"), "timeout": "10s"},
    }
    config = write_config(collector_table(broker, ["table1"], notifiers=notifiers))
    assert config.collector is not None
    built = {entry.name: entry.cls(entry.config) for entry in config.collector.notifiers}
    assert [len(notifier.tags) for notifier in built.values()] == [2, 2]
    assert built["phone"].timeout == 10.0


@pytest.mark.parametrize("urls", [HOOK, ["${TEST_APPRISE_MAIL}", "${TEST_APPRISE_HOOK}"]], ids=["text", "list"])
def test_a_url_in_the_config_text_or_a_list_is_refused_without_echoing_it(write_config, broker, urls):
    notifiers = {"team": {"type": "apprise", "urls": urls}}
    with pytest.raises(ConfigError) as caught:
        write_config(collector_table(broker, ["table1"], notifiers=notifiers))
    assert "[collector.notifiers.team] urls: secrets are not written in the config text" in str(caught.value)
    assert TOKEN not in str(caught.value) and PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"{HOOK}\nlabmon:{PASSWORD}@example.org\n", "urls: entry 2 is not an Apprise URL (service://...)"),
        ("# nothing here yet\n", "urls: the secret holds no Apprise URL"),
    ],
)
def test_check_names_a_bad_url_by_its_place_only(write_config, broker, tmp_path, content, problem):
    (tmp_path / "urls").write_text(content)
    config = write_config(collector_table(broker, ["table1"]))
    team = f'[collector.notifiers.team]\ntype = "apprise"\nurls_file = "{tmp_path / "urls"}"\n'
    config.path.write_text(config.path.read_text() + team)
    result = invoke("check", str(config.path))
    assert result.exit_code == 1
    assert f"[collector.notifiers.team] {problem}" in result.output
    assert TOKEN not in result.output and PASSWORD not in result.output


def test_a_service_apprise_does_not_know_fails_at_start_naming_only_its_scheme(write_config, broker, monkeypatch):
    with pytest.raises(ValueError, match=r"urls entry 2 \(nosuchservice://...\): Apprise cannot use it") as caught:
        AppriseNotifier(AppriseConfig(urls=Secret(f"{HOOK}\nnosuchservice://{TOKEN}")))
    assert TOKEN not in str(caught.value)
    monkeypatch.setenv("TEST_APPRISE_URLS", f"nosuchservice://{TOKEN}")
    notifiers = {"team": {"type": "apprise", "urls": "${TEST_APPRISE_URLS}"}}
    result = invoke("notify-test", str(write_config(collector_table(broker, ["table1"], notifiers=notifiers)).path))
    assert result.exit_code == 1 and "team (apprise): FAILED: urls entry 1 (nosuchservice://...)" in result.output
    assert TOKEN not in result.output


def test_the_documented_example_validates(tmp_path, registry, monkeypatch):
    readme = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", readme, re.S) if b.startswith("[collector.notifiers.team]")]
    monkeypatch.setenv(
        "LABMON_APPRISE_TEAM", "mailtos://labmon:x@smtp.example.org?to=lab@example.org ntfy://lab-alerts"
    )
    (tmp_path / "phone").write_text("# the on-call phone\ntgram://123456789:abcdef/-1001234\n")
    path = tmp_path / "collector.toml"
    path.write_text(
        '[collector]\nmeasurers = ["table1"]\n' + block.replace("/etc/labmon/apprise-phone", str(tmp_path / "phone"))
    )
    collector = load_config(path, registry).collector
    assert [(entry.name, entry.type_name) for entry in collector.notifiers] == [
        ("team", "apprise"),
        ("phone", "apprise"),
    ]
    assert [len(entry.cls(entry.config).tags) for entry in collector.notifiers] == [2, 1]

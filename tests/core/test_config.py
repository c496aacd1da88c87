from dataclasses import dataclass
from pathlib import Path

import pytest

from labmon import Secret, hookimpl
from labmon.config import load_config
from labmon.options import ConfigError
from labmon.testing import registry_with

MEASURER = """
[broker]
port = 1884

[measurer]
name = "table1"

[measurer.instruments.laser1]
type = "sim"
signal = "laser-lock"
timeout = "2s"
"""

COLLECTOR = """
[collector]
interval = "60s"
reply_timeout = "10s"
measurers = ["table1", "table2"]

[collector.sinks.history]
type = "csv"
path = "history.csv"

[collector.notifiers.console]
type = "console"

[[collector.rules]]
name = "laser1-unlocked"
select = "table1/laser1/lock_error"
above = 0.5
for = "20m"
"""


DUPLICATE_RULE = """
[[collector.rules]]
name = "laser1-unlocked"
select = "table1/a/b"
above = 1
notify = ["pager"]

[[collector.rules]]
name = "both-sides"
select = "table1/a/b"
above = 1
below = 0
"""


def load(tmp_path: Path, registry, text: str, name: str = "node.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_config(path, registry)


def problems(tmp_path: Path, registry, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, registry, text)
    return str(caught.value)


def test_valid_measurer_and_collector(tmp_path, registry):
    config = load(tmp_path, registry, MEASURER + COLLECTOR)
    assert config.broker.port == 1884
    (laser,) = config.measurer.instruments
    assert (laser.name, laser.type_name, laser.timeout, laser.config.signal) == ("laser1", "sim", 2.0, "laser-lock")
    collector = config.collector
    assert (collector.interval, collector.reply_timeout) == (60.0, 10.0)
    assert [m.name for m in collector.measurers] == ["table1", "table2"]
    assert collector.sinks[0].config.path == tmp_path / "history.csv"  # relative to the config file
    assert collector.rules[0].for_ == 1200.0
    assert collector.data_dir == tmp_path / "labmon-data"


def test_unknown_key_names_file_table_key_and_suggests(tmp_path, registry):
    text = problems(tmp_path, registry, MEASURER.replace('signal = "laser-lock"', 'signall = "laser-lock"'))
    assert str(tmp_path / "node.toml") in text
    assert "[measurer.instruments.laser1] signall: unknown key" in text
    assert "did you mean 'signal'?" in text


def test_unknown_plugin_lists_installed(tmp_path, registry):
    text = problems(tmp_path, registry, MEASURER.replace('type = "sim"', 'type = "rigoll"'))
    assert "[measurer.instruments.laser1] type: no installed plugin provides instrument type 'rigoll'" in text
    assert "sim" in text and "labmon plugins" in text


def test_wrong_types_and_durations(tmp_path, registry):
    text = problems(
        tmp_path, registry, MEASURER.replace('timeout = "2s"', "timeout = 2").replace("port = 1884", 'port = "1884"')
    )
    assert "[broker] port: expected an integer, found a string ('1884')" in text
    assert "[measurer.instruments.laser1] timeout: expected a duration string" in text
    assert 'timeout = "2s"' in text  # the fix spells the unit out
    text = problems(tmp_path, registry, COLLECTOR.replace('"20m"', '"20 minutes"'))
    assert 'for: "20 minutes" is not a duration' in text


def test_every_problem_is_reported_at_once(tmp_path, registry):
    broken = MEASURER.replace("port = 1884", "prot = 1884").replace('signal = "laser-lock"', 'signal = "sawtooth"')
    text = problems(tmp_path, registry, broken)
    assert "prot: unknown key" in text and "'sawtooth' is not one of" in text


def test_collector_cross_checks(tmp_path, registry):
    text = problems(
        tmp_path,
        registry,
        COLLECTOR.replace('reply_timeout = "10s"', 'reply_timeout = "2m"').replace(
            'select = "table1/laser1/lock_error"', 'select = "table9/laser1"'
        )
        + DUPLICATE_RULE,
    )
    assert "reply_timeout: must be shorter than interval" in text
    assert "'table9' matches no measurer" in text
    assert "duplicate rule name 'laser1-unlocked'" in text
    assert "set exactly one of above or below" in text
    assert "notify: no notifier named 'pager'" in text


def test_rule_must_select_a_polled_measurer(tmp_path, registry):
    text = problems(tmp_path, registry, COLLECTOR.replace("table1/laser1/lock_error", "tabel1/laser1/lock_error"))
    assert "'tabel1' matches no measurer" in text


def test_bad_message_template(tmp_path, registry):
    text = problems(tmp_path, registry, COLLECTOR + 'message = "{sereis} is bad"\n')
    assert "message: bad template" in text


def test_duplicate_measurer_and_bad_names(tmp_path, registry):
    text = problems(tmp_path, registry, COLLECTOR.replace('["table1", "table2"]', '["table1", "table1", "table/3"]'))
    assert "measurer 'table1' is listed twice" in text
    assert "'table/3' is not a valid name" in text


def test_toml_syntax_error_names_the_file(tmp_path, registry):
    text = problems(tmp_path, registry, "[measurer\nname=1")
    assert "node.toml" in text and "not valid TOML" in text


def test_missing_file_suggests_init(tmp_path, registry):
    with pytest.raises(ConfigError, match="labmon init"):
        load_config(tmp_path / "nope.toml", registry)


def test_secret_from_environment(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("TEST_BROKER_PASSWORD", "hunter2")
    config = load(
        tmp_path, registry, MEASURER.replace("port = 1884", 'username = "lab"\npassword = "${TEST_BROKER_PASSWORD}"')
    )
    assert config.broker.password == "hunter2"
    assert "hunter2" not in repr(config)


def test_secret_from_file(tmp_path, registry):
    (tmp_path / "pw").write_text("s3cret\n")
    config = load(tmp_path, registry, MEASURER.replace("port = 1884", 'password_file = "pw"'))
    assert config.broker.password == "s3cret"


def test_secret_mistakes_never_echo_the_secret(tmp_path, registry, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_PASSWORD", raising=False)
    text = problems(tmp_path, registry, MEASURER.replace("port = 1884", 'password = "${TEST_UNSET_PASSWORD}"'))
    assert "environment variable TEST_UNSET_PASSWORD is not set" in text
    text = problems(tmp_path, registry, MEASURER.replace("port = 1884", 'password = "hunter2"'))
    assert "secrets are not written in the config text" in text and "hunter2" not in text
    text = problems(tmp_path, registry, MEASURER.replace("port = 1884", 'password_file = "missing"'))
    assert "cannot read secret file" in text


def test_measurer_on_its_own_broker_inherits_the_rest(tmp_path, registry):
    text = COLLECTOR.replace('measurers = ["table1", "table2"]', "") + (
        '\n[broker]\nport = 1999\ntopic_prefix = "lab"\n'
        '[collector.measurers.table1]\n[collector.measurers.table2.broker]\nhost = "table2.local"\n'
    )
    refs = {m.name: m.broker for m in load(tmp_path, registry, text).collector.measurers}
    assert (refs["table1"].host, refs["table1"].port) == ("127.0.0.1", 1999)
    assert (refs["table2"].host, refs["table2"].port, refs["table2"].topic_prefix) == ("table2.local", 1999, "lab")


def test_empty_config_says_what_is_missing(tmp_path, registry):
    assert "neither [measurer] nor [collector]" in problems(tmp_path, registry, "[broker]\n")


def test_nested_tables_are_validated_with_their_own_path(tmp_path):
    from dataclasses import dataclass

    from labmon.options import Where, build

    @dataclass(frozen=True)
    class Query:
        query: str
        field: int = 0

    @dataclass(frozen=True)
    class Outer:
        readings: dict[str, Query]

    where = Where(tmp_path / "x.toml", "measurer.instruments.pump")
    built = build(Outer, {"readings": {"pressure": {"query": "~ 05 0B 00", "field": 2}}}, where)
    assert built.readings["pressure"] == Query("~ 05 0B 00", 2)
    assert build(Outer, {"readings": {"pressure": {"qeury": "x"}}}, where) is None
    assert "[measurer.instruments.pump.readings.pressure] qeury: unknown key" in str(where.problems[0])


def test_an_empty_secret_is_reported_once(tmp_path, registry, monkeypatch):
    monkeypatch.setenv("TEST_EMPTY_PASSWORD", "")
    text = problems(tmp_path, registry, MEASURER.replace("port = 1884", 'password = "${TEST_EMPTY_PASSWORD}"'))
    assert "[broker] password: secret is empty" in text
    assert text.count("password") == 1


@dataclass(frozen=True)
class WebhookConfig:
    url: Secret


class Webhook:
    """A notifier whose webhook URL is a secret, as Discord's is."""

    Config = WebhookConfig

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config

    def notify(self, alert: object) -> None:
        """Never called: these tests only load configs."""

    def close(self) -> None:
        """Nothing to close."""


class WebhookPlugin:
    @hookimpl
    def labmon_register_notifiers(self, register):
        register("webhook", Webhook)


def test_an_unset_notifier_secret_is_the_only_error(tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_WEBHOOK", raising=False)
    text = (
        COLLECTOR.replace('type = "console"', 'type = "webhook"\nurl = "${TEST_UNSET_WEBHOOK}"').replace(
            "[collector.notifiers.console]", "[collector.notifiers.discord]"
        )
        + 'notify = ["discord"]\n'
    )
    found = problems(tmp_path, registry_with(WebhookPlugin()), text)
    assert found.splitlines() == [
        f"{tmp_path / 'node.toml'}: [collector.notifiers.discord] url: "
        "environment variable TEST_UNSET_WEBHOOK is not set",
        "    fix: export TEST_UNSET_WEBHOOK=... before starting labmon",
    ]


def test_an_unset_page_password_draws_no_follow_on_complaint(tmp_path, registry, monkeypatch):
    monkeypatch.delenv("TEST_UNSET_PASSWORD", raising=False)
    web = '[collector.web]\nlisten = "0.0.0.0:8080"\npassword = "${TEST_UNSET_PASSWORD}"\n'
    text = problems(tmp_path, registry, COLLECTOR + web)
    assert "TEST_UNSET_PASSWORD is not set" in text
    assert "no password" not in text


def test_a_type_of_a_labmon_package_not_installed_names_the_package(tmp_path):
    text = COLLECTOR.replace('type = "csv"', 'type = "sqlite"')
    found = problems(tmp_path, registry_with(), text)
    assert "no installed plugin provides sink type 'sqlite'" in found
    assert "fix: install labmon-collector (pip install labmon-collector)" in found


def test_disk_rules_that_select_no_disk_of_this_collector_are_reported(tmp_path, registry):
    mine = '\n[[collector.rules]]\nname = "disk-b"\nselect = "collector-b"\ndisk = true\n'
    text = problems(tmp_path, registry, COLLECTOR + mine)  # no [collector.failover]: this disk is "collector"
    assert "no disk rule selects this collector ('collector'; they select 'collector-b')" in text
    load(tmp_path, registry, COLLECTOR + mine.replace('"collector-b"', '"*"'))  # the built-in's select: fine

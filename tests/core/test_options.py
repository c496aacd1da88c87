"""A Config's own checks report every mistake at once, beside the key and type errors of the same table."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from labmon import Duration, OptionError
from labmon.options import Where, build


@dataclass(frozen=True)
class Scope:
    resource: str
    traces: int = 1
    metrics: list[str] = field(default_factory=list)
    channels: list[int] = field(default_factory=lambda: [1])

    def __post_init__(self) -> None:
        errors = []
        if not self.metrics:
            errors.append(OptionError("metrics", "nothing to read"))
        if "jitter" in self.metrics and self.traces < 2:
            errors.append(OptionError("traces", "at least 2 for jitter", "traces = 300"))
        if max(self.channels) > 4:
            errors.append(OptionError("channels", "channels 1 to 4"))
        OptionError.raise_all(errors)


def reported(table):
    where = Where(Path("m.toml"), "measurer.instruments.scope")
    assert build(Scope, table, where) is None
    return [(p.key, p.problem) for p in where.problems]


def test_every_mistake_of_a_table_in_one_run():
    table = {"resource": "x", "metrics": ["jitter"], "channels": [5], "trace": 3, "traces": 1}
    assert reported(table) == [
        ("trace", "unknown key"),
        ("traces", "at least 2 for jitter"),
        ("channels", "channels 1 to 4"),
    ]


def test_the_config_checks_run_beside_type_errors_but_not_about_the_bad_key():
    table = {"resource": "x", "metrics": "jitter", "channels": [5]}  # metrics is not a list: its default is used
    assert reported(table) == [
        ("metrics", "expected a list, found a string ('jitter')"),
        ("channels", "channels 1 to 4"),
    ]


def test_a_missing_required_key_skips_the_config_checks():
    assert reported({"channels": [5]}) == [("resource", "required key is missing")]


def test_raise_all_raises_nothing_without_errors():
    OptionError.raise_all([])


def test_every_rule_kind_is_one_registry_entry_read_by_the_schema_and_the_fix():
    from typing import get_args

    from labmon.rule_config import RULE_KINDS, Kind, RuleConfig

    assert set(get_args(Kind)) == set(RULE_KINDS)
    with pytest.raises(OptionError) as raised:
        RuleConfig(name="r", select="a/b/c")
    for kind in RULE_KINDS.values():
        assert "/".join(kind.keys) in raised.value.fix
        chosen = {key: (True if key in ("error", "offline", "broker", "disk") else 1.0) for key in kind.keys[:1]}
        if kind.name == "band":
            chosen = {"outside": [0.0, 1.0]}
        if kind.name in ("stale", "clock"):
            chosen = {kind.keys[0]: Duration(60.0)}
        if kind.name == "forecast":
            chosen = {"forecast": Duration(86400.0), "above": 1.0}
        select = "*" if kind.name in ("offline", "broker", "clock", "disk") else "a/b/c"
        assert RuleConfig(name="r", select=select, **chosen).kind == kind.name


@pytest.mark.parametrize("key", ["rate_per", "window", "stale", "repeat_interval", "escalate_after", "horizon"])
def test_a_rule_span_of_zero_names_its_key_and_an_example(key):
    from labmon.rule_config import RuleConfig

    extra = {"escalate_to": ["phone"]} if key == "escalate_after" else {}
    with pytest.raises(OptionError) as raised:
        kind = {} if key == "stale" else {"above": 1.0}
        RuleConfig(name="r", select="a/b/c", **kind, **{key: Duration(0.0)}, **extra)
    assert raised.value.key == key and raised.value.problem == "must be longer than 0s"
    assert raised.value.fix.startswith(f"e.g. {key} = ")

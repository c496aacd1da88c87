"""What holds an alert back this cycle: a rule or measurer it depends on that fires."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from labmon.rule_config import MEASURER_DEPENDENCY, RuleConfig, series_label

Fires = Callable[[str, Callable[[str], bool]], bool]
"""Whether rule `name` fires for a series that passes a test (the dependent's `depends_same` labels)."""


def holder(rule: RuleConfig, series: str, measurer: str, fires: Fires, down: set[str], offline: set[str]) -> str | None:
    """Return which dependency of `rule`'s alert on `series` (of `measurer`) fires now, or None.

    `fires(name, alike)`: does rule `name` fire for a series `alike` accepts; `down`: the measurers that did
    not answer; `offline`: those of them an offline rule watches. Every rule but an offline one depends on
    its own measurer being watched and answering: a measurer that is down is one alert, not one per reading.
    """
    same = [(label, series_label(series, label)) for label in rule.depends_same or []]

    def alike(other: str) -> bool:
        return all(series_label(other, label) == value for label, value in same)

    for dependency in rule.depends_on or []:
        pattern = dependency.removeprefix(MEASURER_DEPENDENCY)
        if pattern == dependency and fires(dependency, alike):
            scope = f" for the same {', '.join(rule.depends_same)}" if rule.depends_same else ""
            return f"rule {dependency} fires{scope}"
        silent = sorted(m for m in down if fnmatch.fnmatchcase(m, pattern)) if pattern != dependency else []
        if silent:
            return f"measurer {silent[0]} does not answer"
    if rule.kind != "offline" and measurer in offline:
        return f"measurer {measurer} is offline"
    return None

"""What holds an alert back this cycle: a rule or measurer it depends on that fires."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from labmon.rule_config import MEASURER_DEPENDENCY, RuleConfig


def holder(
    rule: RuleConfig, measurer: str, fires: Callable[[str], bool], down: set[str], offline: set[str]
) -> str | None:
    """Return which dependency of `rule`'s alert on a series of `measurer` fires now, or None.

    `fires(name)`: does rule `name` fire for any series; `down`: the measurers that did not answer;
    `offline`: those of them an offline rule watches. Every rule but an offline one depends on its own
    measurer being watched and answering: a measurer that is down is one alert, not one per reading.
    """
    for dependency in rule.depends_on or []:
        pattern = dependency.removeprefix(MEASURER_DEPENDENCY)
        if pattern == dependency and fires(dependency):
            return f"rule {dependency} fires"
        silent = sorted(m for m in down if fnmatch.fnmatchcase(m, pattern)) if pattern != dependency else []
        if silent:
            return f"measurer {silent[0]} does not answer"
    if rule.kind != "offline" and measurer in offline:
        return f"measurer {measurer} is offline"
    return None

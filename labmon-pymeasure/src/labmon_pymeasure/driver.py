"""Find a pymeasure driver class by its dotted name, and the (channel) properties a config reads from it."""

from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any

from labmon import OptionError

EXAMPLE = "pymeasure.instruments.thorlabs.ThorlabsPM100USB"


def driver_class(dotted: str) -> type:
    """Import and return the class `dotted` names, or raise OptionError (key `driver`) saying what is wrong."""
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise OptionError("driver", f"{dotted!r} is not a dotted class name", f'write e.g. driver = "{EXAMPLE}"')
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise OptionError(
            "driver",
            f"cannot import {module_name}: {exc}",
            "check the name in pymeasure's instrument list, or install the package that provides it",
        ) from None
    found = getattr(module, class_name, None)
    if not inspect.isclass(found):
        classes = [name for name, value in vars(module).items() if inspect.isclass(value)]
        close = difflib.get_close_matches(class_name, classes, n=3)
        known = ", ".join(close or sorted(classes))
        fix = f"did you mean {known}?" if close else f"classes in {module_name}: {known}"
        raise OptionError("driver", f"{module_name} has no class {class_name}", fix)
    return found


def check_property(cls: type, path: str) -> str | None:
    """Return why `cls` has no readable property at `path` ("power", "input_A.kelvin"), or None if it has."""
    owner = cls
    parts = path.split(".")
    for depth, part in enumerate(parts):
        attribute = inspect.getattr_static(owner, part, None)
        channel = _channel_class(attribute)
        if depth < len(parts) - 1:
            if channel is None:
                return f"{owner.__name__} has no channel {part!r}{_suggest(part, _channels(owner))}"
            owner = channel
        elif not isinstance(attribute, property):
            return f"{owner.__name__} has no property {part!r}{_suggest(part, _properties(owner))}"
    return None


def read_property(driver: Any, path: str) -> Any:
    """Return the value of the (channel) property at `path` of a driver instance."""
    value = driver
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _channel_class(attribute: Any) -> type | None:
    """Return the channel class a pymeasure ChannelCreator makes, or None for anything else."""
    pairs = getattr(attribute, "pairs", None)
    if isinstance(pairs, tuple) and len(pairs) == 1 and inspect.isclass(pairs[0][0]):
        return pairs[0][0]
    return None


def _properties(cls: type) -> list[str]:
    return [name for name in dir(cls) if isinstance(inspect.getattr_static(cls, name, None), property)]


def _channels(cls: type) -> list[str]:
    return [name for name in dir(cls) if _channel_class(inspect.getattr_static(cls, name, None)) is not None]


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""

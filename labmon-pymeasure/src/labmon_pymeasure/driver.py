"""Find a pymeasure driver class by its dotted name, and the (channel) properties a config reads from it."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Mapping
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
    found = _find(cls, path)
    return found if isinstance(found, str) else None


def check_setting(cls: type, path: str, value: Any) -> str | None:
    """Return why `path` of `cls` cannot be set to `value`, by the driver's own validator; None if it can."""
    found = _find(cls, path)
    if isinstance(found, str):
        return found
    owner, attribute = found
    setter = _setter(attribute)
    if setter is None:
        settable = [n for n in _properties(owner) if _setter(inspect.getattr_static(owner, n)) is not None]
        return f"{owner.__name__}.{path.rpartition('.')[2]} cannot be set{_suggest(path, settable)}"
    if "validator" not in setter or "values" not in setter:
        return None
    try:
        setter["validator"].default(value, setter["values"].default)
    except (ValueError, TypeError, KeyError) as exc:
        return f"{path} = {value!r}: {exc}"
    return None


def _setter(attribute: property) -> Mapping[str, inspect.Parameter] | None:
    """Return the parameters of a property's setter, or None if it cannot be set."""
    if attribute.fset is None:
        return None
    # pymeasure's control() keeps its command, validator and allowed values as defaults of the setter
    parameters = inspect.signature(attribute.fset).parameters
    if "set_command" in parameters and parameters["set_command"].default is None:
        return None  # a measurement: its setter only raises
    return parameters


def _find(cls: type, path: str) -> tuple[type, property] | str:
    """Return the class owning the property at `path` and the property, or why there is none."""
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
        else:
            return owner, attribute
    raise AssertionError("unreachable: a path has a last part")


def read_property(driver: Any, path: str) -> Any:
    """Return the value of the (channel) property at `path` of a driver instance."""
    value = driver
    for part in path.split("."):
        value = getattr(value, part)
    return value


def set_property(driver: Any, path: str, value: Any) -> None:
    """Set the (channel) property at `path` of a driver instance."""
    owner, _, name = path.rpartition(".")
    setattr(read_property(driver, owner) if owner else driver, name, value)


def default_read_termination(cls: type) -> str | None:
    """Return the read_termination a driver class sets by default, or None if it leaves it to pyvisa."""
    parameter = inspect.signature(cls).parameters.get("read_termination")
    default = None if parameter is None else parameter.default
    return default if isinstance(default, str) else None


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

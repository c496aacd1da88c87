"""Turn a TOML table into a typed config dataclass, reporting every problem with file, table and key."""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NewType, TypeVar

from labmon.times import parse_duration

Duration = NewType("Duration", float)
"""Seconds, written in the config as a string such as "60s" or "20m"."""

ByteSize = NewType("ByteSize", int)
"""Bytes, written in the config as a string such as "200MB" or "1GiB"."""

InputPath = NewType("InputPath", Path)
"""A file labmon only reads (a CA certificate, a plugin's input): always resolved beside the config file."""

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kMGT]i?B|B)?$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_size(text: str) -> int:
    """Return the number of bytes in `text` ("200MB", "1GiB", "0"), or raise ValueError saying how to write it."""
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f'"{text}" is not a size; write it like "200MB", "1GB" or "512MiB"')
    return int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "B").lower()])


_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")

T = TypeVar("T")


class Secret(str):
    """A string that must come from the environment or a file, and is never shown."""

    unset = False
    """True for an UnsetSecret: a check of the secret's form must let it be."""

    def __repr__(self) -> str:
        return "Secret('***')"


class UnsetSecret(Secret):
    """A secret a command that does not use it left unresolved (`secrets=False`): empty, and says why."""

    problem: str
    unset = True

    @classmethod
    def of(cls, problem: str) -> UnsetSecret:
        """Return an unset secret that could not be read because of `problem`."""
        unset = cls("")
        unset.problem = problem
        return unset


@dataclass(frozen=True)
class Problem:
    """One config mistake: where it is and how to fix it."""

    path: Path
    table: str
    key: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        where = f"[{self.table}]" if self.table else "top level"
        text = (
            f"{self.path}: {where} {self.key}: {self.problem}" if self.key else f"{self.path}: {where}: {self.problem}"
        )
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class OptionError(ValueError):
    """Raised by a Config's __post_init__ to report a problem at one key (and, via `raise_all`, more)."""

    def __init__(self, key: str, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.key, self.problem, self.fix = key, problem, fix
        self.also: tuple[OptionError, ...] = ()

    @staticmethod
    def raise_all(errors: list[OptionError]) -> None:
        """Raise the first of `errors` carrying the rest, so `labmon check` shows every one; do nothing if none."""
        if errors:
            first = errors[0]
            first.also = tuple(errors[1:])
            raise first


def spans_problem(config: object, **examples: str) -> OptionError | None:
    """Return an OptionError for the first Duration option in `examples` that is set and not longer than 0s."""
    for key, example in examples.items():
        seconds = getattr(config, key)
        if seconds is not None and seconds <= 0:
            name = key.rstrip("_")
            return OptionError(name, "must be longer than 0s", f'e.g. {name} = "{example}"')
    return None


def check_spans(config: object, **examples: str) -> None:
    """Raise OptionError unless every Duration option in `examples` (key = example) is unset or longer than 0s."""
    problem = spans_problem(config, **examples)
    if problem is not None:
        raise problem


class ConfigError(Exception):
    """A config file with one or more mistakes."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Where:
    """A position in a config file; collects the problems found under it."""

    path: Path
    table: str = ""
    problems: list[Problem] = field(default_factory=list)
    secrets: bool = True
    """Resolve secrets; if False (a command that uses none), one that cannot be read becomes an UnsetSecret."""

    def child(self, name: str) -> Where:
        """Return the position of sub-table `name`, sharing the problem list."""
        return Where(self.path, f"{self.table}.{name}" if self.table else name, self.problems, self.secrets)

    def report(self, key: str, problem: str, fix: str = "") -> None:
        """Record a problem at `key` of this table."""
        self.problems.append(Problem(self.path, self.table, key, problem, fix))

    def raise_if_any(self) -> None:
        """Raise ConfigError if any problem was recorded."""
        if self.problems:
            raise ConfigError(list(self.problems))


def key_of(f: dataclasses.Field[Any]) -> str:
    """Return the TOML key of a dataclass field (`metadata["key"]` when it is a Python keyword)."""
    return str(f.metadata.get("key", f.name))


def build(cls: type[T], table: Any, where: Where, *, ignore: tuple[str, ...] = ()) -> T | None:
    """Build `cls` from `table`; record problems at `where` and return None if there are any."""
    if not isinstance(table, dict):
        where.report("", f"expected a table, found {_kind(table)}")
        return None
    before = len(where.problems)
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(typing.cast(Any, cls)) if f.init]
    known = {key_of(f) for f in fields}
    secret_files = {f"{key_of(f)}_file" for f in fields if _base(hints[f.name]) is Secret}
    for key in table:
        if key not in known and key not in secret_files and key not in ignore:
            close = difflib.get_close_matches(key, sorted(known | secret_files), n=1)
            fix = (
                f"did you mean {close[0]!r}?"
                if close
                else f"known keys: {', '.join(sorted(known | secret_files)) or 'none'}"
            )
            where.report(key, "unknown key", fix)
    values: dict[str, Any] = {}
    bad: set[str] = set()  # keys whose value could not be taken: the Config sees their defaults
    for f in fields:
        key, hint, at_start = key_of(f), hints[f.name], len(where.problems)
        if _base(hint) is Secret:
            value = _secret(table, key, where)
            if value is not None:
                values[f.name] = value
            elif not _has_default(f) and not _optional(hint) and len(where.problems) == at_start:
                where.report(key, "required secret is missing", f'set {key} = "${{ENV_NAME}}" or {key}_file = "path"')
        elif key not in table:
            if not _has_default(f):
                where.report(key, "required key is missing")
            elif isinstance(f.default, Path):  # a relative default is resolved as a written value would be
                values[f.name] = _convert(str(f.default), hint, where, key)[1]
        else:
            ok, value = _convert(table[key], hint, where, key)
            if ok:
                values[f.name] = value
        if len(where.problems) > at_start:
            # A required value is missing, or a secret the user set could not be read (its default, None, would
            # draw follow-on complaints such as "no password"): the Config cannot be built to check the rest.
            if (not _has_default(f) and not _optional(hint)) or _base(hint) is Secret:
                bad.add("")
            bad.add(key)
    built = _construct(cls, values, where, bad) if "" not in bad else None
    return built if len(where.problems) == before else None


def _construct(cls: type[T], values: dict[str, Any], where: Where, bad: set[str]) -> T | None:
    """Build `cls`, reporting what its __post_init__ rejects except complaints about keys already reported."""
    try:
        return cls(**values)
    except OptionError as exc:
        for error in (exc, *exc.also):
            if error.key not in bad and not (bad and not error.key):
                where.report(error.key, error.problem, error.fix)
    except ValueError as exc:  # a Config's __post_init__ rejecting a combination of values
        if not bad:
            where.report("", str(exc))
    return None


def _secret(table: dict[str, Any], key: str, where: Where) -> Secret | None:
    file_key = f"{key}_file"
    if key in table and file_key in table:
        where.report(key, f"both {key} and {file_key} are set", "keep one")
        return None
    if file_key in table:
        raw = table[file_key]
        if not isinstance(raw, str):
            where.report(file_key, f"expected a file path string, found {_kind(raw)}")
            return None
        path = _beside(raw, where.path.parent)  # secrets stay beside the config (/etc), never with the data
        try:
            return _non_empty(path.read_text(encoding="utf-8").strip(), file_key, where)
        except OSError as exc:
            return _unset(
                where, file_key, f"cannot read secret file {path}: {exc.strerror}", "create it or fix the path"
            )
        except UnicodeDecodeError:
            where.report(file_key, f"secret file {path} is not UTF-8 text", "write the secret as plain text")
        return None
    if key not in table:
        return None
    raw = table[key]
    match = _ENV_REF.match(raw) if isinstance(raw, str) else None
    if not match:
        where.report(
            key,
            "secrets are not written in the config text",
            f'write {key} = "${{ENV_NAME}}" and export ENV_NAME, or {key}_file = "/path/to/file"',
        )
        return None
    name = match.group(1)
    if name not in os.environ:
        return _unset(
            where, key, f"environment variable {name} is not set", f"export {name}=... before starting labmon"
        )
    return _non_empty(os.environ[name], key, where)


def _unset(where: Where, key: str, problem: str, fix: str) -> Secret | None:
    """Report a secret that cannot be read, or leave it unset when the command uses no secret."""
    if not where.secrets:
        return UnsetSecret.of(f"[{where.table}] {key}: {problem}")
    where.report(key, problem, fix)
    return None


def _non_empty(text: str, key: str, where: Where) -> Secret | None:
    """Return `text` as a Secret, or report at `key` that it is empty (an empty password would let anyone in)."""
    if not text.strip():
        where.report(key, "secret is empty", "put the secret in the file or environment variable")
        return None
    return Secret(text)


def _convert(raw: Any, hint: Any, where: Where, key: str) -> tuple[bool, Any]:
    base = _base(hint)
    origin = typing.get_origin(base)
    if base in (Duration, ByteSize):
        parse, what, unit = (parse_duration, "duration", "s") if base is Duration else (parse_size, "size", "MB")
        text = str(raw) if base is ByteSize and type(raw) is int else raw  # a bare number of bytes is a size too
        if isinstance(text, str):
            try:
                return True, parse(text)
            except ValueError as exc:
                where.report(key, str(exc))
                return False, None
        where.report(
            key, f"expected a {what} string, found {_kind(raw)}", f'write it with a unit, e.g. {key} = "{raw}{unit}"'
        )
        return False, None
    if base in (Path, InputPath):
        if isinstance(raw, str):
            return True, _beside(raw, where.path.parent) if base is InputPath else _resolve(raw, where)
        where.report(key, f"expected a path string, found {_kind(raw)}")
        return False, None
    if origin is Literal:
        choices = typing.get_args(base)
        if raw in choices:
            return True, raw
        where.report(key, f"{raw!r} is not one of {', '.join(map(repr, choices))}")
        return False, None
    if origin is list:
        (item_hint,) = typing.get_args(base)
        if not isinstance(raw, list):
            where.report(key, f"expected a list, found {_kind(raw)}")
            return False, None
        items = []
        for i, item in enumerate(raw):
            ok, value = _convert(item, item_hint, where, f"{key}[{i}]")
            if not ok:
                return False, None
            items.append(value)
        return True, items
    if origin is dict:
        if not isinstance(raw, dict):
            where.report(key, f"expected a table, found {_kind(raw)}")
            return False, None
        _, value_hint = typing.get_args(base)
        if not isinstance(value_hint, type) or not dataclasses.is_dataclass(value_hint):
            return True, raw
        built = {name: build(value_hint, table, where.child(f"{key}.{name}")) for name, table in raw.items()}
        return all(v is not None for v in built.values()), built
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        value = build(base, raw, where.child(key))
        return value is not None, value
    if base is float and isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return True, float(raw)
    if base in (str, int, bool) and type(raw) is base:
        return True, raw
    if base is typing.Any:
        return True, raw
    where.report(key, f"expected {_name(base)}, found {_kind(raw)}")
    return False, None


def _resolve(raw: str, where: Where) -> Path:
    """Resolve a data path (where labmon writes): beside the config file, or in systemd's state directory."""
    # A service installed by `labmon install-service` keeps its data in /var/lib/labmon, not in /etc.
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return _beside(raw, Path(state) if state else where.path.parent)


def _beside(raw: str, folder: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (folder / path).resolve()


def _base(hint: Any) -> Any:
    """Return `X` for `X | None`, else the hint itself."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _name(base: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(base, str(base))


def _kind(raw: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return (
        f"{names.get(type(raw), type(raw).__name__)} ({raw!r})"
        if not isinstance(raw, (dict, list))
        else names[type(raw)]
    )

"""No labmon module touches a private name (`_x`, not a dunder) of paho or of any other third-party dependency.

Every module under labmon-*/src is parsed with `ast`. A private name is labmon's own when some labmon module
defines it (a function, class, variable, argument or attribute assigned), outside a class that subclasses a
third-party class. Found:
- `from lib import _x`, `import lib._mod`, `from lib._mod import x`;
- `lib._x` on a third-party module or name imported from one;
- `obj._x`, and the string "_x" given to getattr, setattr, hasattr, delattr or attrgetter or listed in a tuple,
  list or set, for a private name labmon does not own;
- in a class that subclasses a third-party class (directly or through labmon classes): any `_x` it defines or
  overrides, and every `self._x`: such a name may be the base class's, or become one in its next release.
The standard library is not a third-party dependency here: its `os._exit` is public, and so are a named tuple's
methods (PUBLIC_NAMES), whatever the object they are called on.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN_PACKAGE = re.compile(r"labmon(_\w+)?")
PRIVATE_NAME = re.compile(r"_(?!_)\w*|__\w*(?<!__)")
"""One leading underscore, or two without trailing ones (name-mangled): not a dunder."""
PUBLIC_NAMES = {"_asdict", "_field_defaults", "_fields", "_make", "_replace"}
"""The standard library's named tuples' public API."""
NAME_TAKERS = {"getattr", "setattr", "hasattr", "delattr", "attrgetter"}
"""Functions whose string arguments are attribute names."""


def private(name: str) -> bool:
    """Return whether `name` is private, not a dunder, nor a named tuple's method."""
    return PRIVATE_NAME.fullmatch(name) is not None and name.isidentifier() and name not in PUBLIC_NAMES


def third_party(module: str) -> bool:
    """Return whether a module (absolute, dotted) belongs neither to labmon nor to the standard library."""
    top = module.split(".")[0]
    return OWN_PACKAGE.fullmatch(top) is None and top not in sys.stdlib_module_names


def _imports(tree: ast.Module) -> dict[str, str]:
    """Return the names a module binds to third-party modules or objects, with the module they come from."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if third_party(alias.name):
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and third_party(node.module):
            for alias in node.names:
                bound[alias.asname or alias.name] = node.module
    return bound


def _root(node: ast.expr) -> str | None:
    """Return the name an expression like `a.b.c` starts from."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


class Source:
    """All of labmon's modules, parsed: what they own and what they import."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.trees = {path: ast.parse(text, path) for path, text in modules.items()}
        self.imports = {path: _imports(tree) for path, tree in self.trees.items()}
        self.derived = self._derived()
        self.owned = self._owned()

    def _classes(self) -> Iterator[tuple[str, ast.ClassDef]]:
        for path, tree in self.trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    yield path, node

    def _derived(self) -> set[ast.ClassDef]:
        """Return the classes that subclass a third-party class, directly or through labmon classes (by name)."""
        derived: set[ast.ClassDef] = set()
        while True:
            names = {node.name for node in derived}
            more = {
                node
                for path, node in self._classes()
                if node not in derived
                and any(_root(base) in self.imports[path] or _root(base) in names for base in node.bases)
            }
            if not more:
                return derived
            derived |= more

    def _owned(self) -> set[str]:
        """Return the private names labmon defines outside the classes that subclass a third-party class."""
        inside = {id(node) for cls in self.derived for node in ast.walk(cls)}
        owned = set()
        for tree in self.trees.values():
            for node in ast.walk(tree):
                if id(node) in inside:
                    continue
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    owned.add(node.name)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    owned.add(node.id)
                elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    owned.add(node.attr)
                elif isinstance(node, ast.arg):
                    owned.add(node.arg)
                elif isinstance(node, ast.alias) and node.asname:
                    owned.add(node.asname)
        return {name for name in owned if private(name)}

    def findings(self) -> list[str]:
        """Return `path:line: what` for every touch of a dependency's private name."""
        found = []
        for path, tree in self.trees.items():
            found += [f"{path}:{line}: {what}" for line, what in sorted(set(self._module(path, tree)))]
        return found

    def _module(self, path: str, tree: ast.Module) -> Iterator[tuple[int, str]]:
        imports = self.imports[path]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if third_party(alias.name) and any(private(part) for part in alias.name.split(".")):
                        yield node.lineno, f"imports the private module {alias.name}"
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and third_party(node.module):
                if any(private(part) for part in node.module.split(".")):
                    yield node.lineno, f"imports from the private module {node.module}"
                for alias in node.names:
                    if private(alias.name):
                        yield node.lineno, f"imports {alias.name} from {node.module}"
            elif isinstance(node, ast.Attribute) and private(node.attr):
                base = node.value
                if isinstance(base, ast.Name) and base.id in imports:
                    yield node.lineno, f"{base.id}.{node.attr}: a private name of {imports[base.id]}"
                elif node.attr not in self.owned:
                    yield node.lineno, f".{node.attr}: a private name labmon does not define"
            elif isinstance(node, (ast.Call, ast.Tuple, ast.List, ast.Set)):
                for name in _names_given(node):
                    if private(name.value) and name.value not in self.owned:
                        yield name.lineno, f"{name.value!r}: a private name labmon does not define"
            elif isinstance(node, ast.ClassDef) and node in self.derived:
                yield from _subclass(node)


def _names_given(node: ast.Call | ast.Tuple | ast.List | ast.Set) -> Iterator[ast.Constant]:
    """Yield the strings a call gives as attribute names, or a collection lists: the names a program may look up."""
    if isinstance(node, ast.Call):
        function = node.func.attr if isinstance(node.func, ast.Attribute) else _root(node.func)
        items = node.args if function in NAME_TAKERS else []
    else:
        items = node.elts
    yield from (item for item in items if isinstance(item, ast.Constant) and isinstance(item.value, str))


def _subclass(cls: ast.ClassDef) -> Iterator[tuple[int, str]]:
    """Yield the private names a subclass of a third-party class defines, and its `self._x`."""
    why = f"in {cls.name}, a subclass of a third-party class"
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and private(node.name):
            yield node.lineno, f"{why}: defines or overrides {node.name}"
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        for target in targets:
            if isinstance(target, ast.Name) and private(target.id):
                yield node.lineno, f"{why}: defines or overrides {target.id}"
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            yield node.lineno, f"{why}: self.{node.attr}"


def labmon_modules() -> dict[str, str]:
    """Return every module of every labmon package, by path relative to the repository."""
    paths = sorted(ROOT.glob("labmon-*/src/**/*.py"))
    assert paths, f"no labmon module under {ROOT}"
    return {str(path.relative_to(ROOT)): path.read_text() for path in paths}


def test_no_labmon_module_touches_a_private_name_of_a_dependency() -> None:
    found = Source(labmon_modules()).findings()
    assert not found, "labmon uses its dependencies through their public API only:\n" + "\n".join(found)


OLD_CLIENT = """
import paho.mqtt.client as mqtt
from paho.mqtt.client import _socketpair_compat
from paho.mqtt._packet import decode_puback

class BufferedClient(mqtt.Client):
    _chunk = b""
    def _sock_recv(self, bufsize):
        return super()._sock_recv(bufsize)
    def loop_read(self, max_packets=1):
        if self._in_packet["command"] == 0:
            with self._msgtime_mutex:
                setattr(self, self._received_at, mqtt.time_func())
        return super().loop_read(max_packets)

class Quieter(BufferedClient):
    def _easy_log(self, level, fmt, *args):
        pass

class BrokerClient:
    def __init__(self):
        self._client = BufferedClient()
        self._usual = None
    def back_off(self, client):
        self._usual = (client._reconnect_min_delay, client._reconnect_max_delay)
        self._client._sockpairW.send(b"x")
        name = next(n for n in ("_last_bytes_received", "_last_msg_in") if hasattr(client, n))
        return getattr(self._client, name), mqtt._socketpair_compat
"""


def test_the_old_fork_of_paho_is_caught() -> None:
    found = "\n".join(Source({"old.py": OLD_CLIENT}).findings())
    for touch in (
        "imports _socketpair_compat from paho.mqtt.client",
        "imports from the private module paho.mqtt._packet",
        "BufferedClient, a subclass of a third-party class: defines or overrides _chunk",
        "BufferedClient, a subclass of a third-party class: defines or overrides _sock_recv",
        "BufferedClient, a subclass of a third-party class: self._in_packet",
        "BufferedClient, a subclass of a third-party class: self._msgtime_mutex",
        "BufferedClient, a subclass of a third-party class: self._received_at",
        "Quieter, a subclass of a third-party class: defines or overrides _easy_log",
        "._sock_recv: a private name labmon does not define",
        "._reconnect_min_delay: a private name labmon does not define",
        "._reconnect_max_delay: a private name labmon does not define",
        "._sockpairW: a private name labmon does not define",
        "'_last_bytes_received': a private name labmon does not define",
        "'_last_msg_in': a private name labmon does not define",
        "mqtt._socketpair_compat: a private name of paho.mqtt.client",
    ):
        assert touch in found, f"not caught: {touch}"
    assert "self._client" not in found and "_usual" not in found


OWN_NAMES = """
import threading
from collections import namedtuple
import paho.mqtt.client as mqtt
from labmon.models import _reading_fields
from ._local import _helper

_cache = {}
Pair = namedtuple("Pair", "a b")

def _quick(_item):
    return _cache.get(_item)

class Worker(threading.Thread):
    def __init__(self):
        super().__init__()
        self._stopping = threading.Event()
        self._client = mqtt.Client()
    def _step(self):
        self._client.publish("t", b"")
        return getattr(self, "_stopping"), _helper(_reading_fields), Pair(1, 2)._replace(a=3)
"""


def test_labmon_s_own_private_names_are_not_findings() -> None:
    assert Source({"own.py": OWN_NAMES}).findings() == []

"""A kit for testing labmon plugins: private broker, fresh plugin manager, one read, scripted and silent servers."""

from labmon.broker import BrokerUnavailable, PrivateBroker, free_port
from labmon.options import ConfigError
from labmon.testing.http import Answer, Request, ScriptedServer
from labmon.testing.plugins import plugin_manager_with, read_once, registry_with
from labmon.testing.silent import SilentListener

__all__ = [
    "Answer",
    "BrokerUnavailable",
    "ConfigError",
    "PrivateBroker",
    "Request",
    "ScriptedServer",
    "SilentListener",
    "free_port",
    "plugin_manager_with",
    "read_once",
    "registry_with",
]

"""A kit for testing labmon plugins: a private broker, a fresh plugin manager, one read, a scripted HTTP server."""

from labmon.broker import BrokerUnavailable, PrivateBroker, free_port
from labmon.options import ConfigError
from labmon.testing.http import Answer, Request, ScriptedServer
from labmon.testing.plugins import plugin_manager_with, read_once, registry_with

__all__ = [
    "Answer",
    "BrokerUnavailable",
    "ConfigError",
    "PrivateBroker",
    "Request",
    "ScriptedServer",
    "free_port",
    "plugin_manager_with",
    "read_once",
    "registry_with",
]

"""A kit for testing labmon plugins: private broker, fresh plugin manager, one read, scripted and silent servers,
and `wait_until` to poll a condition with a deadline."""

from labmon.broker import BrokerUnavailable, PrivateBroker, free_port
from labmon.options import ConfigError
from labmon.testing.http import Answer, Request, ScriptedServer
from labmon.testing.plugins import plugin_manager_with, read_once, registry_with
from labmon.testing.silent import SilentListener
from labmon.testing.waiting import wait_until

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
    "wait_until",
]

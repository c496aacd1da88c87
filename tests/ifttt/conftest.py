"""Fixtures of labmon-ifttt's tests: a loopback server that answers as IFTTT's Webhooks service does."""

from collections.abc import Iterator

import pytest

from labmon.testing import Answer, ScriptedServer

CONGRATS = Answer(200, b"Congratulations! You've fired the lab event")
"""IFTTT's answer to a fired event: 200 and plain text."""


@pytest.fixture
def sheets() -> Iterator[ScriptedServer]:
    """A Webhooks service on loopback that accepts every event."""
    with ScriptedServer(CONGRATS) as server:
        yield server

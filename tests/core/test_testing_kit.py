"""The kit plugin authors test with must not lie: a broker that did not start raises, waits fail loudly."""

import socket
import subprocess
import sys

import pytest

from labmon.testing import BrokerUnavailable, PrivateBroker, wait_until


def test_a_broker_whose_port_is_taken_raises_with_mosquittos_own_words():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerUnavailable, match=r"(?i)address already in use"):
            PrivateBroker(port).start()


def test_a_broker_with_a_bad_option_raises_with_mosquittos_own_words():
    with pytest.raises(BrokerUnavailable, match="no_such_option"):
        PrivateBroker(extra_config="no_such_option true").start()


def test_wait_until_returns_the_first_true_value_and_names_what_never_came():
    answers = iter([0, None, "ready"])
    assert wait_until(lambda: next(answers), timeout=5, every=0.001) == "ready"
    with pytest.raises(AssertionError, match="the laser to lock"):
        wait_until(lambda: False, timeout=0.05, what="the laser to lock", every=0.01)


def test_importing_labmon_imports_no_command_line():
    probe = "import sys, labmon; print(sorted(m for m in ('click', 'labmon.cli') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert subprocess.run([sys.executable, "-c", "from labmon import load_node_config"], check=False).returncode == 0

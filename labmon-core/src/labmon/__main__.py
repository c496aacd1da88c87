"""Run the `labmon` command as `python -m labmon`."""

from labmon.cli import main

main()

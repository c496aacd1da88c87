"""Plugins that ship with labmon-core: the `sim` instrument, history/csv/console sinks, console notifier."""

"""Plugins that ship with labmon-core: the `sim` instrument, csv/console sinks, console notifier."""

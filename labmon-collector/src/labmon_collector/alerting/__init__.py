"""Alerting: rules and their conditions, alert state and history, grouping and routing to notifiers."""

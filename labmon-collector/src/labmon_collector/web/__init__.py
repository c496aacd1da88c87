"""The status page: overview, alerts, series plots and measurers, served by the collector."""

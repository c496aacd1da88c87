"""The labmon collector service: polls measurers, stores readings, raises alerts."""

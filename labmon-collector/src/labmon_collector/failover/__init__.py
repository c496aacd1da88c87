"""Two collectors, one active: election over the broker, and the ledger of what the active notified."""

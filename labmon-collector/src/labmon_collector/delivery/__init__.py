"""Delivery: the durable outbox per target, the couriers that drain it, the heartbeat ping."""

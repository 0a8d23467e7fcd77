"""Code every Liên thông service shares: the event envelope, the PostgreSQL
event store with its outbox relay and inbox, configuration, authentication,
object storage and the eventlet glue."""

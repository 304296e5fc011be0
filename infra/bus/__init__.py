"""The bus: outbox relay, idempotent ordered consumers, dead letters, nameko wiring."""

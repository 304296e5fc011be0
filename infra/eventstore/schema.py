"""Tables of a service's event store. Every service database has these (created by Alembic)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# BIGINT on PostgreSQL; INTEGER on SQLite so the column aliases the rowid (autoincrement).
Position = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(120), nullable=False),
    Column("schema_version", Integer, nullable=False, default=1),
    Column("data", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("occurred_at", DateTime, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
    # Writing transaction id (PostgreSQL xid8); 0 on SQLite. Lets tailing readers decide
    # when a gap in positions is final (the writer rolled back) without a table lock.
    Column("tx_id", BigInteger, nullable=False, default=0),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)
# No index on occurred_at: a point-in-time load reads one stream by (stream_id, version).

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("state", Text, nullable=False),
    Column("taken_at", DateTime, nullable=False),
)

# One data key per data subject (a person). Deleting the key erases the subject.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject_id", String(200), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("erased_at", DateTime, nullable=True),
)

# How far the outbox relay has published, and what stops it: the error of its current run of
# failed attempts (cleared by the next batch it publishes), since when, how many attempts, and
# the event it cannot get past when the error is that event's own.
relay_state = Table(
    "relay_state",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("error", Text, nullable=True),
    Column("error_since", DateTime, nullable=True),
    Column("failures", Integer, nullable=False, default=0, server_default="0"),
    Column("stuck_event_id", String(36), nullable=True),
)

# Events an operator told the relay to step over (``sesp relay skip``): never published, kept
# here with the reason and the error that stopped the relay, so they can be found and re-driven.
parked = Table(
    "parked",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("parked_at", DateTime, nullable=False),
)

# Messages the broker returned as unroutable: reported and kept, never silently dropped.
unroutable = Table(
    "unroutable",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("type", String(120), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("at", DateTime, nullable=False),
)

# A command applied once: the result its first run answered, written in the same transaction
# as its events, so a redelivered or retried command (same command id) gets that answer again
# instead of running twice. A result that names a data subject is stored encrypted under the
# subject's key (erasure makes it unreadable too). Pruned after ``SESP_COMMAND_RESULTS_DAYS``.
command_results = Table(
    "command_results",
    metadata,
    Column("command_id", String(100), primary_key=True),
    Column("method", String(120), nullable=False),
    Column("result", Text, nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)
Index("ix_command_results_recorded_at", command_results.c.recorded_at)

# Consumer side: the last version applied per source stream, and every processed event id,
# written in the same transaction as the effect. The version decides what is applied; the ids
# are a record, pruned after ``SESP_PROCESSED_EVENTS_DAYS``.
consumer_streams = Table(
    "consumer_streams",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
)

processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("processed_at", DateTime, nullable=False),
)

# A catch-up subscription's checkpoint: how far it has read the source's history (a global
# position of the source's store), and whether it has reached the live queue since the queue
# was last created (then a restart goes straight to the queue).
consumer_positions = Table(
    "consumer_positions",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("live", Boolean, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Events that arrived before their stream's previous version was applied: kept here (and the
# message acked) until that version is applied, so waiting never holds a message or spends its
# retries. ``body`` is the message as published.
consumer_pending = Table(
    "consumer_pending",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("body", Text, nullable=False),
    Column("received_at", DateTime, nullable=False),
)

# Streams parked behind a dead-lettered event: the version that failed, until it is replayed
# and applied (its later events wait in ``consumer_pending``).
consumer_parked = Table(
    "consumer_parked",
    metadata,
    Column("consumer", String(120), primary_key=True),
    Column("stream_id", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("parked_at", DateTime, nullable=False),
)

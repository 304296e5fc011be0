"""Settings from the environment, with defaults that work on a developer machine.

Read at call time, never at import time, so tests can point a process elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"


def data_dir() -> Path:
    path = Path(os.environ.get("SESP_DATA_DIR", "./var")).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # personal data: its owner's only
    return path


def amqp_uri() -> str:
    return os.environ.get("SESP_AMQP_URI", DEFAULT_AMQP_URI)


def gateway_port() -> int:
    return int(os.environ.get("SESP_GATEWAY_PORT", "8000"))


def demo_enabled() -> bool:
    return os.environ.get("SESP_DEMO", "1") == "1"


def database_url(service: str) -> str:
    """`SESP_<SERVICE>_DATABASE_URL`, else one SQLite file per service in the data directory."""
    env = f"SESP_{service.upper()}_DATABASE_URL"
    if os.environ.get(env):
        return os.environ[env]
    return f"sqlite:///{data_dir() / (service + '.db')}"


def command_results_days() -> float:
    """`SESP_COMMAND_RESULTS_DAYS`: how long a service keeps a command's recorded answer (default
    7 days: far longer than any retry, the gateway's 24-hour Idempotency-Key included)."""
    return float(os.environ.get("SESP_COMMAND_RESULTS_DAYS", "7"))


def processed_events_days() -> float:
    """`SESP_PROCESSED_EVENTS_DAYS`: how long a consumer keeps the ids of the events it applied
    (default 7 days). Only a record: a redelivered event is recognised by its stream's version
    (``consumer_streams``), whatever its age."""
    return float(os.environ.get("SESP_PROCESSED_EVENTS_DAYS", "7"))


def statement_timeout_ms() -> int:
    """`SESP_STATEMENT_TIMEOUT_MS`: PostgreSQL cancels a service worker's statement after this
    long (default 30 s): a stuck query must not hold its transaction (and so the cluster's
    oldest transaction id, which every relay waits on at a gap) for ever. 0 turns it off."""
    return int(os.environ.get("SESP_STATEMENT_TIMEOUT_MS", "30000"))


def relay_statement_timeout_ms() -> int:
    """`SESP_RELAY_STATEMENT_TIMEOUT_MS`: the same for the outbox relay's own engine (default
    10 s; its statements read at most a batch). A cut statement is a relay error: reported,
    retried."""
    return int(os.environ.get("SESP_RELAY_STATEMENT_TIMEOUT_MS", "10000"))


def nameko_config(service: str | None = None) -> dict:
    """The nameko config dict every process uses (heartbeat >= 60 s: see ARCHITECTURE)."""
    return {
        "AMQP_URI": amqp_uri(),
        "HEARTBEAT": 60,
        "max_workers": int(os.environ.get("SESP_MAX_WORKERS", "10")),
        "serializer": "json",
        "WEB_SERVER_ADDRESS": f"0.0.0.0:{gateway_port()}",
        "SESP_SERVICE": service,
    }

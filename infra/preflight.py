"""Check the broker (and, for tests, PostgreSQL) before starting; say how to fix what is missing."""

from __future__ import annotations

import os
import socket
import sys
from urllib.parse import urlparse

from infra import settings


def reachable(url: str, default_port: int) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or default_port), 2):
            return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    problems = []
    amqp = os.environ.get("SESP_TEST_AMQP_URI") if "--for-tests" in argv else None
    amqp = amqp or settings.amqp_uri()
    if not reachable(amqp, 5672):
        problems.append(
            f"RabbitMQ is not reachable at {amqp}. Start it (`rabbitmq-server -detached`, or "
            "`docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:3-management`) or set "
            "SESP_AMQP_URI."
        )
    if "--for-tests" in argv:
        pg = os.environ.get(
            "SESP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        )
        if not reachable(pg, 5432):
            problems.append(
                f"PostgreSQL is not reachable at {pg}. Start it or set SESP_TEST_DATABASE_URL "
                "(the tests fall back to testcontainers only where a Docker engine works)."
            )
    for p in problems:
        print(f"sesp: {p}", file=sys.stderr)
    # Tests may still find Docker and start containers: only `make run` stops here.
    return 1 if problems and "--for-tests" not in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""JSON logs, one object per line, with the service name (and request id where known).

Every process of the platform logs this way on stderr (the runner, each service, the gateway,
demo loading); nothing else writes there. Two kinds of library lines are filtered out on the
way, because they say nothing an operator can act on:

- a refusal a worker answered with (a ``DomainError`` from an RPC, a ``Problem`` from a
  route): nameko logs each as a WARNING with its traceback, once in the service and again in
  the gateway. It is an answer, not a failure: the gateway's access line (INFO, with the
  request id, the status and the problem type) is its one record. With
  ``SESP_LOG_LEVEL=DEBUG`` it is kept as a DEBUG line without traceback. Other expected errors
  (a consumer waiting out an outage) stay one WARNING line, without the traceback.
- py-amqp's "Received method ... during closing channel": a publisher confirm that arrives
  after nameko has closed a channel (an RPC to a service that is not up yet, at start-up).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

# Extra fields a record may carry, copied into its JSON object.
EXTRA_FIELDS = ("request_id", "route", "status", "duration_ms", "problem")
REQUEST_ID_KEY = "sesp_request_id"  # infra.bus.context.REQUEST_ID_KEY (not imported: no nameko)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def answer_status(exc: BaseException | None) -> int | None:
    """The HTTP status of an exception that is an answer (a ``DomainError``, a gateway
    ``Problem``: both carry one), else ``None``."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) and 400 <= status < 600 else None


class WorkerErrors(logging.Filter):
    """On ``nameko.containers``: a worker's error line gets the request id and loses the
    traceback when the error was expected; an answer is dropped (DEBUG at most): an expected
    one whatever its status (``/readyz``'s 503 while a service starts), and a refusal (4xx) to
    an RPC or HTTP caller even where nameko did not expect it."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if "error handling worker" not in msg:
            return True
        worker = record.args[0] if isinstance(record.args, tuple) and record.args else None
        context = getattr(worker, "context_data", None)
        if isinstance(context, dict) and context.get(REQUEST_ID_KEY):
            record.request_id = context[REQUEST_ID_KEY]
        exc = record.exc_info[1] if record.exc_info else None
        expected = msg.startswith("(expected)")
        status = answer_status(exc)
        if status is not None and (expected or (status < 500 and _answers_a_caller(worker))):
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            expected = True
        if expected:
            record.exc_info, record.exc_text = None, None
        return True


def _answers_a_caller(worker: object) -> bool:
    """Whether the worker ran for an RPC or an HTTP request (whose refusal is an answer), not
    for a timer or an event (where any error is a failure)."""
    from nameko.rpc import Rpc
    from nameko.web.handlers import HttpRequestHandler

    return isinstance(getattr(worker, "entrypoint", None), Rpc | HttpRequestHandler)


class ConfirmDuringClose(logging.Filter):
    """On ``amqp``: drop the harmless "Received method ... during closing channel"."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "during closing channel" not in str(record.msg)


def configure_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("SESP_LOG_LEVEL", "INFO"))
    for noisy in ("nameko", "kombu", "amqp", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # A library's ``warnings.warn`` would print plain text on stderr: make it a JSON line.
    logging.captureWarnings(True)
    install_filters()


def install_filters() -> list[tuple[logging.Logger, logging.Filter]]:
    """Add the filters above to their loggers (once); returns what was added, so a test can
    take it away again."""
    added: list[tuple[logging.Logger, logging.Filter]] = []
    for name, kind in (("nameko.containers", WorkerErrors), ("amqp", ConfirmDuringClose)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            added.append((logger, kind()))
            logger.addFilter(added[-1][1])
    return added

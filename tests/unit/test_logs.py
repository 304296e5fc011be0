"""The log filters every process installs (``infra.logs``), on the records nameko and py-amqp
make: which worker errors an operator sees, at which level, with which request id."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from types import SimpleNamespace

import pytest
from nameko.rpc import Rpc
from nameko.timer import Timer

from gateway.problems import Problem
from infra.errors import Invalid, NotFound
from infra.logs import ConfirmDuringClose, WorkerErrors
from infra.testing import ROOT


def worker_record(exc: Exception, entrypoint, expected: bool) -> logging.LogRecord:
    """The record nameko's container makes for a worker that raised ``exc``."""
    worker = SimpleNamespace(entrypoint=entrypoint, context_data={"sesp_request_id": "req-7"})
    try:
        raise exc
    except Exception:
        exc_info = sys.exc_info()
    msg = ("(expected) " if expected else "") + "error handling worker %s: %s"
    level = logging.WARNING if expected else logging.ERROR
    return logging.LogRecord("nameko.containers", level, __file__, 1, msg, (worker, exc), exc_info)


@pytest.fixture
def root_level():
    root = logging.getLogger()
    before = root.level
    yield root.setLevel
    root.setLevel(before)


@pytest.mark.parametrize("expected", [True, False])
def test_a_refusal_answered_to_a_caller_is_dropped_at_info(root_level, expected):
    root_level(logging.INFO)
    record = worker_record(NotFound("policy P-1 not found"), Rpc(), expected)
    assert WorkerErrors().filter(record) is False


def test_at_debug_a_refusal_is_a_debug_line_without_traceback(root_level):
    root_level(logging.DEBUG)
    record = worker_record(Invalid("bad"), Rpc(), expected=True)
    assert WorkerErrors().filter(record) is True
    assert record.levelno == logging.DEBUG and record.exc_info is None
    assert record.request_id == "req-7"


def test_a_refusal_in_a_timer_is_a_failure_and_keeps_its_traceback(root_level):
    root_level(logging.INFO)
    record = worker_record(NotFound("gone"), Timer(interval=60), expected=False)
    assert WorkerErrors().filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.request_id == "req-7"


def test_an_unexpected_error_keeps_its_level_traceback_and_gets_the_request_id(root_level):
    root_level(logging.INFO)
    record = worker_record(RuntimeError("boom"), Rpc(), expected=False)
    assert WorkerErrors().filter(record) is True
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.request_id == "req-7"


def test_an_expected_error_that_is_no_refusal_is_kept_without_traceback(root_level):
    root_level(logging.INFO)
    record = worker_record(ConnectionError("database away"), Rpc(), expected=True)
    assert WorkerErrors().filter(record) is True
    assert record.levelno == logging.WARNING and record.exc_info is None


def test_other_records_pass_untouched():
    record = logging.LogRecord("nameko.containers", logging.INFO, __file__, 1, "started", (), None)
    assert WorkerErrors().filter(record) is True and not hasattr(record, "request_id")


def test_a_confirm_arriving_on_a_closing_channel_is_dropped():
    chatter = logging.LogRecord(
        "amqp",
        logging.WARNING,
        __file__,
        1,
        "Received method %s during closing channel %s. This method will be ignored",
        ((60, 80), 1),
        None,
    )
    other = logging.LogRecord("amqp", logging.WARNING, __file__, 1, "heartbeat missed", (), None)
    assert ConfirmDuringClose().filter(chatter) is False
    assert ConfirmDuringClose().filter(other) is True


def test_an_expected_answer_of_any_status_is_dropped(root_level):
    root_level(logging.INFO)
    not_ready = Problem("service-unavailable", "not ready: insurance")
    assert WorkerErrors().filter(worker_record(not_ready, Rpc(), expected=True)) is False


def test_a_process_logs_only_json_lines_a_library_warning_included():
    script = (
        "import logging, warnings\n"
        "from infra.logs import configure_logging\n"
        "configure_logging('probe')\n"
        "warnings.warn('this API is going away', DeprecationWarning, stacklevel=1)\n"
        "logging.getLogger('amqp').warning("
        "'Received method %s during closing channel %s. This method will be ignored',"
        " (60, 80), 1)\n"
        "logging.getLogger('sesp').info('done')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-W", "always", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in ran.stderr.splitlines()]
    assert [(r["level"], r["logger"]) for r in lines] == [
        ("warning", "py.warnings"),
        ("info", "sesp"),
    ]
    assert "this API is going away" in lines[0]["msg"]
    assert all(r["service"] == "probe" for r in lines)

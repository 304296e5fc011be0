"""Event and correlation ids: random UUIDs as text, the form ``str(uuid.uuid4())`` has."""

from __future__ import annotations

import os
import uuid

from infra.eventstore import NewEvent, make_meta
from infra.eventstore.records import new_id


def test_a_new_id_is_a_random_uuid_in_its_canonical_text():
    for _ in range(1000):
        text = new_id()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower case, hyphens where str() puts them


def test_new_ids_differ():
    assert len({new_id() for _ in range(10_000)}) == 10_000


def test_events_and_metadata_get_new_ids_unless_given():
    assert uuid.UUID(NewEvent("T", {}).event_id).version == 4
    assert NewEvent("T", {}).event_id != NewEvent("T", {}).event_id
    assert NewEvent("T", {}, event_id="given").event_id == "given"
    assert uuid.UUID(make_meta()["correlation_id"]).version == 4
    assert make_meta(correlation_id="req-1")["correlation_id"] == "req-1"


def test_a_forked_child_does_not_repeat_its_parents_ids():
    new_id()  # the parent holds random bytes it has not used yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 36).decode()
    os.close(read)
    os.close(write)
    assert uuid.UUID(child).version == 4
    assert child != new_id()

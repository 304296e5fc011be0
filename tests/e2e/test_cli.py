"""The `sesp` operations command against real service databases."""

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from infra import registry
from infra.eventstore import EventStore, NewEvent, Personal, SubjectKeys, make_engine, migrate
from infra.keys import master_key
from infra.testing import env


def sesp(*args, extra_env=None):
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(extra_env or {})},
        timeout=60,
    )


@pytest.fixture
def licensing_store(db_url, tmp_path):
    """A licensing database (SQLite or PostgreSQL) with two streams of events; every other
    registered service gets an empty SQLite database (``sesp erase`` visits them all). No
    service runs: ``sesp`` works on the databases."""
    envs = {
        f"SESP_{s.upper()}_DATABASE_URL": f"sqlite:///{tmp_path / (s + '.db')}"
        for s in registry.names()
    }
    envs.update({"SESP_DATA_DIR": str(tmp_path), "SESP_LICENSING_DATABASE_URL": db_url})
    with env(**envs):
        engine = make_engine(db_url)
        migrate(engine)
        store = EventStore(engine.dialect.name, SubjectKeys(master_key("licensing")))
        with engine.begin() as conn:
            for app in ("application-1", "application-2"):
                store.append(
                    conn,
                    app,
                    0,
                    [
                        NewEvent("ApplicationReceived", {"applicant": Personal("p-42", "Wang Wu")}),
                        NewEvent("ApplicationAccepted", {"opinion": "complete"}),
                        NewEvent("ApplicationApproved", {"licence_no": "TS3131001-2014"}),
                    ],
                )
        yield engine, store, envs
        engine.dispose()


def test_verify_passes_on_an_untouched_store(licensing_store):
    _, _, envs = licensing_store
    out = sesp("verify", "licensing", extra_env=envs)
    assert out.returncode == 0, out.stderr
    assert "licensing: ok" in out.stdout


def test_verify_names_the_first_tampered_event(licensing_store):
    engine, _, envs = licensing_store
    with engine.begin() as conn:
        conn.execute(
            text(
                'UPDATE events SET data = \'{"opinion":"rubber-stamped"}\' '
                "WHERE stream_id = 'application-2' AND version = 2"
            )
        )
    out = sesp("verify", "licensing", extra_env=envs)
    assert out.returncode == 1
    assert "TAMPERED stream application-2 version 2" in out.stdout
    assert "application-1" not in out.stdout


def test_erase_makes_personal_fields_read_as_erased(licensing_store):
    engine, store, envs = licensing_store
    out = sesp("erase", "p-42", extra_env=envs)
    assert out.returncode == 0, out.stderr
    assert "licensing: erased p-42" in out.stdout
    with engine.connect() as conn:
        first = store.read_stream(conn, "application-1")[0]
    assert first.data["applicant"] == "[erased]"
    # the record stays whole and provably untampered
    assert sesp("verify", "licensing", extra_env=envs).returncode == 0


# --- anchors: what a hash chain alone cannot show -----------------------------------------------


def _anchor(envs, path):
    out = sesp("anchor", "licensing", "--out", str(path), extra_env=envs)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_an_anchor_holds_while_the_store_only_grows(licensing_store, tmp_path):
    engine, store, envs = licensing_store
    anchor = _anchor(envs, tmp_path / "anchors.jsonl")
    assert (anchor["service"], anchor["events"], anchor["streams"]) == ("licensing", 6, 2)
    with engine.begin() as conn:  # later events are not anchored yet, and change nothing
        store.append(conn, "application-1", 3, [NewEvent("LicenceIssued", {"n": 1})])
        store.append(conn, "application-3", 0, [NewEvent("ApplicationReceived", {})])
    out = sesp("verify", "licensing", "--anchors", str(tmp_path / "anchors.jsonl"), extra_env=envs)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "licensing: matches the anchor of" in out.stdout


def test_a_dropped_newest_event_passes_the_chain_but_not_the_anchor(licensing_store, tmp_path):
    engine, _, envs = licensing_store
    _anchor(envs, tmp_path / "anchors.jsonl")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE stream_id = 'application-2' AND version = 3"))
    assert sesp("verify", "licensing", extra_env=envs).returncode == 0  # the chain is intact
    out = sesp("verify", "licensing", "--anchors", str(tmp_path / "anchors.jsonl"), extra_env=envs)
    assert out.returncode == 1
    assert "licensing: CHANGED since the anchor" in out.stdout
    assert "events: anchored 6, now 5" in out.stdout


def test_a_stream_rewritten_with_fresh_hashes_is_caught_by_the_anchor(licensing_store, tmp_path):
    engine, store, envs = licensing_store
    _anchor(envs, tmp_path / "anchors.jsonl")
    with engine.begin() as conn:  # an insider replaces a stream with a self-consistent one
        conn.execute(text("DELETE FROM events WHERE stream_id = 'application-2'"))
        store.append(
            conn,
            "application-2",
            0,
            [
                NewEvent("ApplicationReceived", {"applicant": "someone else"}),
                NewEvent("ApplicationRefused", {"reason": "rewritten"}),
            ],
        )
    assert sesp("verify", "licensing", extra_env=envs).returncode == 0
    out = sesp("verify", "licensing", "--anchors", str(tmp_path / "anchors.jsonl"), extra_env=envs)
    assert out.returncode == 1
    assert "licensing: CHANGED since the anchor" in out.stdout
    assert "root: anchored" in out.stdout  # (SQLite may even reuse the freed positions)

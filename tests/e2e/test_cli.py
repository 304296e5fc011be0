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

SUBJECT = "person-" + "42" * 16


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
                        NewEvent(
                            "ApplicationReceived", {"applicant": Personal(SUBJECT, "Wang Wu")}
                        ),
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
    out = sesp("erase", SUBJECT, "--offline", "--service", "licensing", extra_env=envs)
    assert out.returncode == 0, out.stderr
    assert f"licensing: erased {SUBJECT}" in out.stdout
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


# --- run with the wrong environment: say where, fail fast -------------------------------------


def sesp_elsewhere(*args, **env_values):
    """``sesp`` with these settings on top of a data directory of its own."""
    return sesp(*args, extra_env=env_values)


@pytest.fixture
def empty_vhost(broker):
    vhost = broker.create_vhost()
    yield broker.uri_for(vhost)
    broker.delete_vhost(vhost)


def test_replay_on_a_vhost_that_does_not_exist_fails_naming_the_broker(broker, tmp_path):
    uri = broker.uri_for("sesp-no-such-vhost")
    out = sesp_elsewhere("replay", "licensing", SESP_AMQP_URI=uri, SESP_DATA_DIR=str(tmp_path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "sesp: broker amqp://" in out.stderr and "sesp-no-such-vhost" in out.stderr
    assert "refused the connection" in out.stderr and "SESP_AMQP_URI" in out.stderr
    assert broker.password not in out.stderr.replace(f"{broker.user}:***", "")


def test_replay_where_the_service_does_not_run_says_so(empty_vhost, tmp_path):
    out = sesp_elsewhere(
        "replay", "licensing", SESP_AMQP_URI=empty_vhost, SESP_DATA_DIR=str(tmp_path)
    )
    assert out.returncode == 1
    assert "licensing is not running on the broker at" in out.stderr


def test_replay_where_only_a_stale_queue_is_left_gives_up_within_seconds(empty_vhost, tmp_path):
    """A service that ran on this vhost once and stopped leaves its durable RPC queue: the
    request is queued and nobody answers. It used to wait for an hour, saying nothing."""
    import kombu

    with kombu.Connection(empty_vhost) as conn:
        exchange = kombu.Exchange("nameko-rpc", type="topic", durable=True)
        queue = kombu.Queue("rpc-licensing", exchange, routing_key="licensing.*", durable=True)
        queue(conn.channel()).declare()
    out = sesp_elsewhere(
        "replay", "licensing", SESP_AMQP_URI=empty_vhost, SESP_DATA_DIR=str(tmp_path)
    )
    assert out.returncode == 1
    assert "licensing did not answer within 5 s" in out.stderr


def test_dlq_list_on_a_vhost_without_the_queue_does_not_report_zero(empty_vhost, tmp_path):
    out = sesp_elsewhere(
        "dlq", "list", "insurance", SESP_AMQP_URI=empty_vhost, SESP_DATA_DIR=str(tmp_path)
    )
    assert out.returncode == 1
    assert "0 dead letter" not in out.stdout + out.stderr
    assert "has no queue insurance.dlq" in out.stderr


def test_dlq_replay_without_a_broker_fails_within_seconds(tmp_path):
    from infra.testing import free_port

    uri = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    out = sesp_elsewhere("dlq", "replay", "insurance", SESP_AMQP_URI=uri)
    assert out.returncode == 1
    assert "cannot reach the broker at amqp://guest:***@127.0.0.1" in out.stderr


def test_verify_in_the_wrong_data_directory_creates_nothing_and_fails(tmp_path):
    out = sesp_elsewhere(
        "verify", "licensing", SESP_DATA_DIR=str(tmp_path), SESP_LICENSING_DATABASE_URL=""
    )
    assert out.returncode == 1
    assert f"licensing: no event store at sqlite:///{tmp_path}/licensing.db" in out.stderr
    assert not (tmp_path / "licensing.db").exists()
    assert "licensing: ok" not in out.stdout


def test_token_create_into_a_new_gateway_database_warns(tmp_path):
    """A token written where no gateway keeps its tokens would be refused (401): say so."""
    where = {"SESP_DATA_DIR": str(tmp_path), "SESP_GATEWAY_DATABASE_URL": ""}
    out = sesp_elsewhere("token", "create", "--role", "city_admin", "--name", "ops", **where)
    assert out.returncode == 0, out.stderr
    assert f"sesp: gateway database sqlite:///{tmp_path}/gateway.db" in out.stderr
    assert "WARNING: this gateway database did not exist" in out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("sesp_")
    again = sesp_elsewhere("token", "create", "--role", "city_admin", "--name", "ops", **where)
    assert again.returncode == 0 and "WARNING" not in again.stderr


def test_token_list_without_a_gateway_database_fails(tmp_path):
    where = {"SESP_DATA_DIR": str(tmp_path), "SESP_GATEWAY_DATABASE_URL": ""}
    out = sesp_elsewhere("token", "list", **where)
    assert out.returncode == 1
    assert "no gateway database there" in out.stderr
    assert not (tmp_path / "gateway.db").exists()


@pytest.fixture(scope="module")
def licensing_stack(module_stacks):
    return module_stacks(["licensing"])


def test_replay_says_where_and_what_in_sentences(licensing_stack):
    out = subprocess.run(
        [sys.executable, "-m", "infra.cli", "replay", "licensing"],
        capture_output=True,
        text=True,
        env={**os.environ, **licensing_stack.env},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    store = licensing_stack.db_urls["licensing"]
    assert f"sesp: licensing: store {store}" in out.stderr
    assert "licensing: rebuilt its read models from 0 events" in out.stdout
    assert "{" not in out.stdout


def test_operator_messages_agree_in_article_and_number():
    from gateway.auth import claim_errors
    from infra.cli import plural
    from services.insurance.sync_client import Summary

    assert claim_errors("insurer", None, None)["uscc"] == ["an insurer token needs a uscc"]
    assert claim_errors("applicant", "SH", None)["bureau"] == ["an applicant token has no bureau"]
    assert claim_errors("city_admin", None, "x")["uscc"] == ["a city_admin token has no uscc"]
    assert Summary(policies=1, rows=1, skipped_batches=1).line().startswith("1 policy from 1 row:")
    assert "(1 batch already done)" in Summary(skipped_batches=1).line()
    assert [plural(n, "dead letter") for n in (0, 1, 2)] == [
        "0 dead letters",
        "1 dead letter",
        "2 dead letters",
    ]


def test_erase_names_each_service_it_could_not_ask_and_fails(stacks):
    from services.licensing.examples import new_resident_id

    stack = stacks(["licensing"])  # the other services and the gateway are not running
    out = sesp("erase", new_resident_id(), extra_env=stack.env)
    assert out.returncode == 1
    assert "licensing: holds no personal data of this person" in out.stdout
    for name in [p.name for p in registry.processes() if p.name != "licensing"]:
        assert f"{name}: NOT ERASED: not running" in out.stderr
    assert "no personal data of this person is held" not in out.stdout

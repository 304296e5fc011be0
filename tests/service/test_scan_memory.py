"""Whole-store scans keep to constant memory: ``verify`` (the hash chains, read in pages in
(stream, version) order) and a read model's ``digest`` (rows fed to the hash as a server-side
cursor or SQLite's stepping returns them), on SQLite and PostgreSQL.

Each scan runs in a fresh process, once over N events (and read-model rows) and once over 4N,
measuring the peak of Python's allocations (``tracemalloc``) and the growth of the resident
set over the scan (which also counts what PostgreSQL's driver buffers outside Python: a
client-side cursor receives the whole result before the first row is looked at). The 4N peak
must stay within 1.5 times the N peak; the resident growth within that plus a few megabytes
(the allocator's noise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate
from infra.eventstore.crypto import Personal, watch_subjects_read
from infra.eventstore.integrity import verify
from infra.readmodels import ReadModels
from infra.repository import Kinds

N = 5_000
PER_STREAM = 7  # streams straddle the pages of ``verify``
PAD = "x" * 1500  # events of about two kilobytes: a buffered table shows in the resident set

metadata = MetaData()
items = Table(
    "items",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("text", String(2000), nullable=False),
    Column("n", Integer, nullable=False),
)
MODELS = ReadModels(metadata, Kinds(), lambda conn, aggregates: None)

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh process: imports, connects, then measures only the scan.
PROBE = """
import json, sys, tracemalloc
from sqlalchemy import Column, Integer, MetaData, String, Table
from infra.eventstore import make_engine
from infra.eventstore.crypto import Personal, watch_subjects_read
from infra.eventstore.integrity import verify
from infra.readmodels import ReadModels
from infra.repository import Kinds

url, what = sys.argv[1], sys.argv[2]
md = MetaData()
Table("items", md, Column("key", String(50), primary_key=True),
      Column("text", String(2000), nullable=False), Column("n", Integer, nullable=False))
models = ReadModels(md, Kinds(), lambda conn, aggregates: None)
engine = make_engine(url)
with engine.connect() as conn:
    conn.exec_driver_sql("SELECT 1").all()
    conn.rollback()
    def status_kb(field):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(field))
    try:  # the peak resident set starts again from here
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = status_kb("VmRSS:")
    tracemalloc.start()
    result = verify(conn) if what == "verify" else models.digest(conn)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown = status_kb("VmHWM:") - before
print(json.dumps({"traced": traced, "rss_grown": max(grown, 0) * 1024, "result": result}))
"""


def probe(url: str, what: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, what],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


def seed(engine, store: EventStore, start: int, count: int) -> None:
    """``count`` events in streams of ``PER_STREAM``, and ``count`` read-model rows."""
    for lo in range(start, start + count, 2000):
        hi = min(lo + 2000, start + count)
        with engine.begin() as conn:
            appends = [
                (
                    f"s-{i:08d}",
                    0,
                    [
                        NewEvent("Thing", {"i": i, "j": j, "pad": PAD})
                        for j in range(min(PER_STREAM, hi - i))
                    ],
                )
                for i in range(lo, hi, PER_STREAM)
            ]
            store.append_many(conn, appends)
            conn.execute(
                insert(items), [{"key": f"k{i:08d}", "text": PAD, "n": i} for i in range(lo, hi)]
            )


def bounded(small: dict, large: dict) -> None:
    assert large["traced"] < 1.5 * small["traced"], (small, large)
    slack = 8 * 1024 * 1024
    assert large["rss_grown"] < 1.5 * small["rss_grown"] + slack, (small, large)


def test_verify_and_digest_take_the_same_memory_on_four_times_the_data(engine):
    tampered = f"s-{N + 4000 + 50 * PER_STREAM:08d}"  # a stream of the second seed
    store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
    url = engine.url.render_as_string(hide_password=False)
    seed(engine, store, 0, N)
    small = {what: probe(url, what) for what in ("verify", "digest")}
    seed(engine, store, N, 3 * N)
    # A changed event deep in the store: still found, in the middle of its stream.
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET data = :d WHERE stream_id = :s AND version = 4"),
            {"d": '{"i":0}', "s": tampered},
        )
    large = {what: probe(url, what) for what in ("verify", "digest")}

    assert small["verify"]["result"] == []
    assert [(p["stream_id"], p["version"]) for p in large["verify"]["result"]] == [(tampered, 4)]
    with engine.connect() as conn:
        assert large["digest"]["result"] == MODELS.digest(conn)
        assert small["digest"]["result"] != large["digest"]["result"]
    for what in ("verify", "digest"):
        bounded(small[what], large[what])


def test_verify_follows_each_chain_across_pages(engine):
    """Pages of a few rows (streams cut anywhere) find what one page finds."""
    store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
    with engine.begin() as conn:
        for s, n in (("a", 3), ("b", 5), ("c", 1), ("d", 6)):
            store.append(conn, s, 0, [NewEvent("Thing", {"n": i}) for i in range(n)])
        conn.execute(
            text("UPDATE events SET data = :d WHERE stream_id = 'b' AND version = 4"), {"d": "{}"}
        )
        conn.execute(text("DELETE FROM events WHERE stream_id = 'd' AND version = 2"))
    with engine.connect() as conn:
        whole = verify(conn, page=100)
        assert [(p["stream_id"], p["version"]) for p in whole] == [("b", 4), ("d", 3)]
        for page in (1, 2, 3, 4, 7):
            assert verify(conn, page=page) == whole
            assert verify(conn, ["b", "c"], page=page) == whole[:1]
        # Inside a transaction the caller opened, the pages stay in it.
        conn.execute(text("SELECT 1"))
        assert verify(conn, page=2) == whole
        assert conn.in_transaction()


def test_a_rebuild_notes_no_data_subject_for_its_worker(engine):
    """A replay's worker watches whose personal data it decrypts (its answer is kept under
    their keys): a rebuild reads every person's, and would note one id per person (a list
    that grew with the store, searched on every decryption). It notes none, and the watch
    goes on after it."""

    def write_item(conn, ev) -> None:
        conn.execute(insert(items).values(key=ev.event_id, text=ev.data["who"], n=ev.data["n"]))

    models = ReadModels(metadata, Kinds(), lambda conn, aggregates: None, facts={"Met": write_item})
    store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
    with engine.begin() as conn:
        for i in range(30):
            store.append(
                conn, f"met-{i}", 0, [NewEvent("Met", {"who": Personal(f"p{i}", f"n{i}"), "n": i})]
            )
    seen = watch_subjects_read()
    rebuilt = models.rebuild(engine, store, shadow="scan_rebuild", page=7)
    assert rebuilt.events == 30
    assert not seen
    with engine.connect() as conn:
        assert sorted(r.text for r in conn.execute(select(items))) == sorted(
            f"n{i}" for i in range(30)
        )
        store.read_stream(conn, "met-3")
    assert seen == {"p3": None}

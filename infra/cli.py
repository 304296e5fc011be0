"""The `sesp` command: operate the platform (integrity and anchors, erasure, dead letters,
replays, tokens).

Run with the wrong environment, a command must not quietly work on something else: each says
on stderr which broker or store it uses (``sesp: ...``), and fails within seconds with a
message naming the setting to check when the store, the broker or the service is not there.
A store that does not exist is never created by a command that only reads or repairs one.
"""

from __future__ import annotations

import json
import sys

import click

from infra import registry, settings
from infra.clitools import fail, say, shown, store_exists

SERVICE = click.Choice(registry.names())
PING_TIMEOUT = 5  # seconds a service has to answer before a command gives up on it
ERASE_TIMEOUT = 30  # seconds a service has to erase a person


def _store(service: str, must_exist: bool = True):
    """The service's event store, as ``SESP_<SERVICE>_DATABASE_URL`` / ``SESP_DATA_DIR`` name
    it; None (with a line saying so) when it does not exist and ``must_exist`` is False."""
    from infra.eventstore import EventStore, SubjectKeys, make_engine, migrate
    from infra.keys import master_key

    url = settings.database_url(service)
    if not store_exists(url):
        text = (
            f"{service}: no event store at {shown(url)}: check SESP_DATA_DIR or "
            f"SESP_{service.upper()}_DATABASE_URL"
        )
        if must_exist:
            fail(text)
        say(text + " (skipped)")
        return None
    say(f"{service}: store {shown(url)}")
    engine = make_engine(url)
    migrate(engine)
    return engine, EventStore(engine.dialect.name, SubjectKeys(master_key(service)))


def _ping(service: str) -> dict:
    """The service's answer to a ping on the configured broker, within ``PING_TIMEOUT``
    seconds; otherwise the command ends here, saying why."""
    from kombu.exceptions import OperationalError
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    broker = shown(settings.amqp_uri())
    say(f"broker {broker}")
    hint = "check SESP_AMQP_URI (and its vhost)"
    try:
        with ClusterRpcProxy(settings.nameko_config(), timeout=PING_TIMEOUT) as rpc:
            return getattr(rpc, service).ping()
    except UnknownService:
        fail(f"{service} is not running on the broker at {broker}: {hint}")
    except RpcTimeout:
        fail(
            f"{service} did not answer within {PING_TIMEOUT} s on the broker at {broker} (its "
            f"queue is there, no process consumes it): start {service}, or {hint}"
        )
    except (OSError, OperationalError) as exc:
        fail(f"cannot reach the broker at {broker} ({exc}): {hint}")
    except Exception as exc:  # amqp refusals (an unknown vhost, bad credentials)
        fail(f"the broker at {broker} refused the connection ({exc}): {hint}")


@click.group()
def main() -> None:
    """Special Equipment Safety Platform operations."""


@main.command()
@click.argument("service", required=False, type=SERVICE)
@click.option(
    "--anchors",
    type=click.Path(exists=True, dir_okay=False),
    help="A file of anchors (from `sesp anchor`): also prove nothing anchored has changed.",
)
def verify(service: str | None, anchors: str | None) -> None:
    """Check every stream's hash chain; name the first tampered event of each broken stream.
    With --anchors, also compare the store with each anchor of the service(s)."""
    from infra.eventstore import anchors as anchoring

    names = [service] if service else registry.names()
    kept = _read_anchors(anchors) if anchors else []
    bad = 0
    for name in names:
        found = _store(name, must_exist=service is not None)
        if found is None:
            bad += 1
            continue
        engine, store = found
        with engine.connect() as conn:
            problems = store.verify(conn)
        if not problems:
            click.echo(f"{name}: ok")
        for p in problems:
            bad += 1
            click.echo(
                f"{name}: TAMPERED stream {p['stream_id']} version {p['version']} "
                f"(position {p['position']}, event {p['event_id']}): {p['reason']}"
            )
        for anchor in (a for a in kept if a.get("service") == name):
            differences = anchoring.check(anchor, engine)
            where = f"anchor of {anchor['taken_at']} (position {anchor['position']})"
            if differences:
                bad += 1
                click.echo(f"{name}: CHANGED since the {where}: " + "; ".join(differences))
            else:
                click.echo(f"{name}: matches the {where}")
        engine.dispose()
    sys.exit(1 if bad else 0)


def _read_anchors(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@main.command()
@click.argument("service", required=False, type=SERVICE)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Also append the anchors to this file (one JSON object per line).",
)
def anchor(service: str | None, out: str | None) -> None:
    """Print an anchor of each store's hash chains (a root hash over every stream's head, up
    to a committed position): keep it where the database's administrators cannot write, and
    `sesp verify --anchors` proves later that nothing up to it was rewritten or removed."""
    from infra.eventstore import anchors as anchoring

    lines = []
    for name in [service] if service else registry.names():
        found = _store(name, must_exist=service is not None)
        if found is None:
            continue
        engine, store = found
        lines.append(json.dumps(anchoring.take(name, store, engine), sort_keys=True))
        engine.dispose()
    for line in lines:
        click.echo(line)
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)


@main.command()
@click.argument("presented", metavar="ID_NUMBER")
@click.option(
    "--service",
    type=click.Choice([p.name for p in registry.processes()]),
    help="Only this service.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="The services are stopped: erase in their stores directly (the gateway's "
    "stored responses are not reached).",
)
def erase(presented: str, service: str | None, offline: bool) -> None:
    """Erase a person, named by the ID number they present (or by a data-subject id): every
    registered service maps it to the data subjects it holds and deletes their keys; their
    personal fields then read as erased everywhere. Says per service what it erased; exit
    status 1 when a service could not be asked."""
    names = [service] if service else [p.name for p in registry.processes()]
    answers = _erase_offline(presented, names) if offline else _erase_online(presented, names)
    found = missed = 0
    for name in names:
        answer = answers.get(name)
        if answer is None:
            missed += 1
            continue
        for subject in answer.get("erased", []):
            click.echo(f"{name}: erased {subject}")
        if answer.get("responses"):
            n = answer["responses"]
            click.echo(f"{name}: erased the stored responses of {plural(n, 'request')}")
        if not answer.get("scrubbed", True):
            say(
                f"{name}: its WAL file still holds the deleted key (a reader in another process"
                " kept it); the next checkpoint overwrites it"
            )
        if answer.get("erased") or answer.get("responses"):
            found += 1
        else:
            click.echo(f"{name}: holds no personal data of this person")
    if not found and not missed:
        click.echo("no personal data of this person is held")
    sys.exit(1 if missed else 0)


def _erase_online(presented: str, names: list[str]) -> dict[str, dict]:
    """Each running service's answer to ``erase_person`` (a service that does not answer is
    left out, with a line saying so)."""
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    broker = shown(settings.amqp_uri())
    say(f"broker {broker}")
    answers = {}
    try:
        with ClusterRpcProxy(settings.nameko_config(), timeout=ERASE_TIMEOUT) as rpc:
            for name in names:
                try:
                    answers[name] = getattr(rpc, name).erase_person(presented)
                except (UnknownService, RpcTimeout):
                    say(
                        f"{name}: NOT ERASED: not running on the broker at {broker} (start it "
                        "and run this again; with every service stopped, --offline)"
                    )
    except Exception as exc:  # the broker itself
        fail(f"cannot reach the broker at {broker} ({exc}): check SESP_AMQP_URI")
    return answers


def _erase_offline(presented: str, names: list[str]) -> dict[str, dict]:
    from infra import erasure, keys
    from infra.eventstore.store import to_db, utcnow

    answers: dict[str, dict] = {}
    stores = set(registry.names())
    for name in names:
        if name not in stores:
            say(f"{name}: NOT ERASED: it keeps no event store; run without --offline")
            continue
        opened = _store(name, must_exist=False)
        if opened is None:  # nothing stored there, nothing to erase
            answers[name] = {"erased": []}
            continue
        engine, store = opened
        with engine.begin() as conn:
            subject_key = keys.subject_key(name)
            erased = erasure.erase(conn, store.keys, presented, subject_key, to_db(utcnow()))
        scrubbed = erasure.scrub(engine) if erased else True
        answers[name] = {"erased": erased, "scrubbed": scrubbed}
        engine.dispose()
    return answers


@main.command()
@click.argument("service", type=SERVICE)
def replay(service: str) -> None:
    """Rebuild a running service's read models from its events (then compare with live)."""
    import eventlet

    eventlet.monkey_patch()
    from nameko.standalone.rpc import ClusterRpcProxy

    answer = _ping(service)
    say(f"{service}: store {answer.get('store', '(not said)')}")
    with ClusterRpcProxy(settings.nameko_config(), timeout=3600) as rpc:
        target = getattr(rpc, service)
        before = target.read_model_digest()
        run = target.replay_progress()["run"] + 1
        reply = target.replay.call_async()
        _show_replay_progress(target, run, service)
        result = reply.result()
        after = target.read_model_digest()
    events = result.get("events", 0)
    click.echo(f"{service}: rebuilt its read models from {plural(events, 'event')}")
    same = before == after
    click.echo(f"{service}: rebuilt read models {'equal' if same else 'DIFFER FROM'} the live ones")
    sys.exit(0 if same else 1)


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 event``, ``2 events``, ``0 dead letters``."""
    return f"{n} {noun if n == 1 else (nouns or noun + 's')}"


def _show_replay_progress(target, run: int, service: str) -> None:
    """Poll the service's ``replay_progress`` until rebuild number ``run`` has finished."""
    import eventlet

    seen, bar = 0, None
    while True:
        state = target.replay_progress()
        started = state["run"] >= run
        if started and bar is None:
            bar = click.progressbar(length=max(state["total"], 1), label=f"{service}: rebuilding")
            bar.__enter__()
        if bar is not None and started and state["done"] > seen:
            bar.update(state["done"] - seen)
            seen = state["done"]
        if started and not state["running"]:
            break
        eventlet.sleep(0.3)
    if bar is not None:
        bar.__exit__(None, None, None)


@main.group()
def dlq() -> None:
    """Dead letters: events a consumer failed on too often."""


@dlq.command("list")
@click.argument("service", type=SERVICE)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(service: str, as_json: bool) -> None:
    """Show the dead letters of a service (they stay in the queue)."""
    from infra.bus.deadletters import peek

    items = _dead_letters(peek, service)
    for item in items:
        if as_json:
            click.echo(json.dumps(item, ensure_ascii=False))
        else:
            click.echo(
                f"{item['queue']}  {item['type']}  {item['stream_id']} v{item['version']}  "
                f"event {item['event_id']}  ({item['reason']})"
            )
    click.echo(f"{plural(len(items), 'dead letter')} for {service}", err=True)


@dlq.command("replay")
@click.argument("service", type=SERVICE)
def dlq_replay(service: str) -> None:
    """Send every dead letter of a service back to the queue it came from, in order."""
    from infra.bus.deadletters import replay

    n = _dead_letters(replay, service)
    click.echo(f"replayed {plural(n, 'dead letter')} for {service}")


def _dead_letters(action, service: str):
    """``action(amqp_uri, service)`` on the configured broker, failing clearly when the broker
    or the service's dead-letter queue is not there."""
    from kombu.exceptions import OperationalError

    from infra.bus.deadletters import NoDeadLetterQueue

    broker = shown(settings.amqp_uri())
    say(f"broker {broker}")
    hint = "check SESP_AMQP_URI (and its vhost)"
    try:
        return action(settings.amqp_uri(), service)
    except NoDeadLetterQueue as exc:
        fail(
            f"the broker at {broker} has no queue {exc.queue}: {service} never consumed events "
            f"there (or consumes none): {hint}"
        )
    except (OSError, OperationalError) as exc:
        fail(f"cannot reach the broker at {broker} ({exc}): {hint}")
    except Exception as exc:  # amqp refusals (an unknown vhost, bad credentials)
        fail(f"the broker at {broker} refused the connection ({exc}): {hint}")


@main.group()
def relay() -> None:
    """Outbox relays: how far each has published, and the event one is stuck on."""


def _relay_engines(service: str | None):
    """``(name, engine)`` of each named service's store that exists (none is created)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from infra.eventstore import make_engine, migrate

    names = registry.names()
    if service is not None and service not in names:
        raise click.BadParameter(f"{service!r} is not one of {', '.join(names)}")
    for name in [service] if service else names:
        url = settings.database_url(name)
        if url.startswith("sqlite") and not Path(make_url(url).database or "").is_file():
            click.echo(f"{name}: no event store (SESP_{name.upper()}_DATABASE_URL)", err=True)
            continue
        engine = make_engine(url)
        migrate(engine)
        try:
            yield name, engine
        finally:
            engine.dispose()


@relay.command("status")
@click.argument("service", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per service.")
def relay_status(service: str | None, as_json: bool) -> None:
    """Each relay's position, lag (events and seconds behind), current error and the event
    it is stuck on. Exit status 1 when a relay is failing."""
    from infra.bus.relay_status import relay_status as status_of

    failing = 0
    for name, engine in _relay_engines(service):
        with engine.connect() as conn:
            status = status_of(conn)
        failing += status["error"] is not None
        if as_json:
            click.echo(json.dumps({"service": name, **status}, sort_keys=True))
            continue
        for line in _relay_lines(name, status):
            click.echo(line)
    sys.exit(1 if failing else 0)


def _relay_lines(name: str, s: dict) -> list[str]:
    lag = f"{s['behind']} behind, oldest waiting {s['lag_seconds']:g} s" if s["behind"] else ""
    gap = "; waiting at a gap (a transaction still open)" if s["waiting_at_gap"] else ""
    lines = [
        f"{name}: position {s['position']} of {s['head']}"
        + (f" ({lag}{gap})" if lag else " (up to date)")
        + (f"; {s['parked']} parked" if s["parked"] else "")
        + (f"; {s['unroutable']} unroutable (nothing subscribed)" if s.get("unroutable") else "")
    ]
    stuck = s["stuck_event"]
    if stuck is not None:
        lines.append(
            f"{name}: STUCK at event {stuck['event_id']} ({stuck['type']}, position "
            f"{stuck['position']}) since {s['error_since']}, {s['failures']} attempt(s): "
            f"{s['error']}"
        )
        lines.append(
            f"{name}: fix the cause, or park it: sesp relay skip {name} {stuck['event_id']}"
            ' --reason "..."'
        )
    elif s["error"] is not None:
        lines.append(
            f"{name}: FAILING since {s['error_since']}, {s['failures']} attempt(s): {s['error']}"
        )
    return lines


@relay.command("skip")
@click.argument("service")
@click.argument("event_id")
@click.option("--reason", required=True, help="Why it is skipped (kept with the event).")
def relay_skip(service: str, event_id: str, reason: str) -> None:
    """Park the event a relay is stuck on: it goes into the `parked` table with the reason
    and the relay's error, and the relay steps over it at its next attempt. The event stays
    in the store; it is not published."""
    from infra.bus.relay_status import park

    for name, engine in _relay_engines(service):
        try:
            with engine.begin() as conn:
                stuck = park(conn, event_id, reason)
        except ValueError as exc:
            click.echo(f"{name}: {exc}", err=True)
            sys.exit(1)
        click.echo(
            f"{name}: parked event {event_id} ({stuck['type']}, position {stuck['position']});"
            " the relay steps over it at its next attempt (sesp relay status shows it)"
        )
        return
    sys.exit(1)


def _mount_contributed() -> None:
    """Subcommands a registered process contributes (``ServiceSpec.cli``): the gateway's
    ``token``, insurance's ``insurer``."""
    for spec in registry.processes():
        command = spec.cli_command()
        if command is not None:
            main.add_command(command)


_mount_contributed()

if __name__ == "__main__":
    main()

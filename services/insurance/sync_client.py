"""The insurer sync client: push an insurer's policy export to the regulator's API.

``sesp insurer sync FILE.csv --url URL --token TOKEN``

The file has one row per policy and elevator (``COLUMN_HELP``; ``docs/insurer-sync.md``;
``services/insurance/example_policies.csv`` is an example). It is read as UTF-8, or as
GB18030 (GBK's superset: what Excel saves on Chinese Windows) when it is not UTF-8, and the
summary says so. Rows are grouped into policies, sent in batches to
``POST /v1/insurance/policies:batch`` with an ``Idempotency-Key`` derived from the batch
content, retried with back-off, and every rejected policy is reported with its rows (the
file's line numbers) and the field that is wrong.

Resuming: finished batches are logged in ``FILE.csv.sync-state.json``; a rerun skips them.
Even without that file a rerun duplicates nothing: the same batch carries the same key (the
gateway answers from its record), and a policy sent again at the same revision is "unchanged".
Either way the summary counts what an earlier run applied as such, never as created again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from services.insurance.domain import money_text, share_text

if TYPE_CHECKING:  # the HTTP client is loaded when a file is sent, not for --help
    import httpx

# The columns, in the order an export usually has them, and what each holds (--help).
COLUMN_HELP = {
    "policy_no": "unique per insurer: letters, digits, - _ . (PA-2014-0001)",
    "revision": "your revision counter; a higher one supersedes (3)",
    "status": "active or cancelled",
    "cover": "liability or comprehensive",
    "per_accident": "limit per accident, yuan (1000000.00)",
    "per_person": "limit per person, yuan (800000.00)",
    "premium": "yuan (93.00)",
    "starts_on": "first day of the period, YYYY-MM-DD",
    "ends_on": "last day of the period, YYYY-MM-DD",
    "policyholders": "uscc|name|role|share, several joined by ; (role: owner, user, "
    "maintenance or inspection; the shares sum to 1)",
    "equipment_code": "one elevator of the policy (18 digits, or a legacy 20-digit code)",
}
COLUMNS = list(COLUMN_HELP)
POLICY_FIELDS = [c for c in COLUMNS if c != "equipment_code"]
# Enumerations are matched whatever their case (an export may say "Liability" or "ACTIVE").
LOWER_CASE = ("status", "cover")
MONEY = ("per_accident", "per_person", "premium")
BATCH_PATH = "/v1/insurance/policies:batch"
MAX_BODY = 5 * 1024 * 1024
NOT_UTF8 = "{name} is not UTF-8: read as GB18030 (GBK, as Excel saves CSV on Chinese Windows)"

# One problem of a row or a policy: the field (a column, or a field path of the API) or None,
# and what is wrong.
Problem = tuple[str | None, str]


@dataclass
class ParsedPolicy:
    policy_no: str
    rows: list[int]  # line numbers in the file (the header is line 1)
    body: dict[str, Any]
    fields: dict[str, str] = field(default_factory=dict)  # the first row's, normalised
    problems: list[Problem] = field(default_factory=list)  # not sent when there are any


@dataclass
class Rejection:
    """A policy (or a row without a policy number) that was not applied, and why."""

    rows: list[int]
    policy_no: str | None
    problems: list[Problem]
    status: int | None = None  # the API's, for a policy it refused


@dataclass
class Summary:
    """What a run did, counted in policies (each policy once, whatever its rows)."""

    policies: int = 0
    rows: int = 0
    created: int = 0
    superseded: int = 0
    unchanged: int = 0
    earlier: int = 0  # applied by an earlier run (its state file, or the gateway's record)
    skipped_batches: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rejected_policies(self) -> int:
        return sum(1 for r in self.rejected if r.policy_no is not None)

    @property
    def rejected_rows(self) -> int:
        """Rows rejected without a policy (no policy number): no policy to count them in."""
        return sum(len(r.rows) for r in self.rejected if r.policy_no is None)

    def line(self) -> str:
        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        earlier = f"{self.earlier} applied by an earlier run, " if self.earlier else ""
        loose = self.rejected_rows
        return (
            f"{n(self.policies, 'policy', 'policies')} from {n(self.rows, 'row', 'rows')}: "
            f"{self.created} created, {self.superseded} superseded, {self.unchanged} unchanged, "
            f"{earlier}{self.rejected_policies} rejected"
            + (f", {n(loose, 'row', 'rows')} without a policy number" if loose else "")
            + (
                f" ({n(self.skipped_batches, 'batch', 'batches')} already done)"
                if self.skipped_batches
                else ""
            )
        )


def parse_holders(text: str) -> list[dict]:
    holders = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        bits = part.split("|")
        if len(bits) != 4:
            raise ValueError(f"policyholder {part!r} must be uscc|name|role|share")
        uscc, name, role, share = (b.strip() for b in bits)
        holders.append(
            {"uscc": uscc.upper(), "name": name, "role": role.lower(), "share": share_text(share)}
        )
    return holders


def read_text(path: Path) -> tuple[str, str | None]:
    """The file's text, and a note when it was not UTF-8 (read as GB18030, which GBK is a
    part of)."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), NOT_UTF8.format(name=path.name)
    except UnicodeDecodeError:
        raise SystemExit(
            f'{path}: neither UTF-8 nor GB18030 (GBK) text; save it as "CSV UTF-8"'
        ) from None


def _normalised(column: str, value: str) -> str:
    if column in LOWER_CASE:
        return value.lower()
    if column in MONEY:
        return money_text(value)
    return value


def read_policies(
    path: Path, notes: list[str] | None = None
) -> tuple[list[ParsedPolicy], list[Rejection], int]:
    """Group rows by policy. Returns (policies to send, policies and rows rejected here, the
    number of rows). Rows are numbered by their line in the file, blank lines included."""
    text, note = read_text(path)
    if note and notes is not None:
        notes.append(note)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None) or []
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise SystemExit(f"{path}: missing columns {', '.join(missing)}")
    where = {c: names.index(c) for c in COLUMNS}
    policies: dict[str, ParsedPolicy] = {}
    loose: list[Rejection] = []
    count = 0
    last_line = reader.line_num
    for cells in reader:
        # A row starts on the line after the previous one ended (a quoted cell may hold line
        # breaks); blank lines, and rows of empty cells, are no rows but keep their numbers.
        line, last_line = last_line + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        count += 1
        problems = _row_problems(cells, names, line)
        value = {c: _normalised(c, cells[i].strip()) for c, i in where.items() if i < len(cells)}
        no = value.get("policy_no", "")
        if not no:
            loose.append(Rejection([line], None, [("policy_no", "missing")]))
            continue
        p = policies.get(no)
        if p is None:
            p = policies[no] = ParsedPolicy(no, [], {"equipment_codes": []})
        p.rows.append(line)
        p.problems += problems
        if "equipment_code" in value:
            p.body["equipment_codes"].append(value["equipment_code"])
        if len(p.rows) == 1:
            p.fields = {c: v for c, v in value.items() if c in POLICY_FIELDS}
        else:
            first = p.rows[0]
            for c in POLICY_FIELDS:
                if c in value and c in p.fields and value[c] != p.fields[c]:
                    p.problems.append(
                        (c, f"row {line} says {value[c]!r}, row {first} says {p.fields[c]!r}")
                    )
    good: list[ParsedPolicy] = []
    rejected = list(loose)
    for p in policies.values():
        if not p.problems:
            try:
                p.body = _body(p)
            except ValueError as exc:
                p.problems.append(("policyholders", f"row {p.rows[0]}: {exc}"))
        if p.problems:
            rejected.append(Rejection(p.rows, p.policy_no, p.problems))
        else:
            good.append(p)
    return good, rejected, count


def _row_problems(cells: list[str], names: list[str], line: int) -> list[Problem]:
    if len(cells) < len(names):
        short = [n for n in names[len(cells) :] if n in COLUMN_HELP]
        if short:
            return [
                (
                    ", ".join(short),
                    f"missing in row {line} (it has {len(cells)} of the {len(names)} columns)",
                )
            ]
    if any(c.strip() for c in cells[len(names) :]):
        return [(None, f"row {line} has {len(cells)} cells, the header {len(names)} columns")]
    return []


def _body(p: ParsedPolicy) -> dict[str, Any]:
    f = p.fields
    try:
        revision: Any = int(f["revision"])
    except ValueError:
        revision = f["revision"]  # the API reports it with its field path
    return {
        "policy_no": p.policy_no,
        "revision": revision,
        "policyholders": parse_holders(f["policyholders"]),
        "equipment_codes": p.body["equipment_codes"],
        "cover": f["cover"],
        "limits": {"per_accident": f["per_accident"], "per_person": f["per_person"]},
        "premium": f["premium"],
        "starts_on": f["starts_on"],
        "ends_on": f["ends_on"],
        "status": f["status"],
    }


def batches(policies: list[ParsedPolicy], size: int) -> list[list[ParsedPolicy]]:
    out: list[list[ParsedPolicy]] = []
    current: list[ParsedPolicy] = []
    current_bytes = 0
    for p in policies:
        n = len(json.dumps(p.body))
        if current and (len(current) >= size or current_bytes + n > MAX_BODY * 0.9):
            out.append(current)
            current, current_bytes = [], 0
        current.append(p)
        current_bytes += n
    if current:
        out.append(current)
    return out


def batch_key(batch: list[ParsedPolicy]) -> str:
    text = json.dumps([p.body for p in batch], sort_keys=True, separators=(",", ":"))
    return "sync-" + hashlib.sha256(text.encode()).hexdigest()[:59]


class SyncClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 120.0,
        retries: int = 8,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        import httpx

        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "sesp-insurer-sync/1"},
        )
        self.retries = retries
        self.sleep = sleep

    def send(self, batch: list[ParsedPolicy]) -> tuple[list[dict], bool]:
        """The batch's results, and whether they are the gateway's record of an earlier
        request with the same key (``Idempotent-Replayed``): applied then, not now."""
        import httpx

        body = {"policies": [p.body for p in batch]}
        key = batch_key(batch)
        delay = 0.5
        for attempt in range(1, self.retries + 1):
            try:
                r = self.http.post(BATCH_PATH, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as exc:
                problem = f"network: {exc}"
            else:
                if r.status_code == 200:
                    return r.json()["results"], r.headers.get("Idempotent-Replayed") == "true"
                if r.status_code in (401, 403, 413, 415, 422):
                    raise SystemExit(f"the API refused the batch ({r.status_code}): {r.text}")
                problem = f"HTTP {r.status_code}"
                if r.status_code == 429 and r.headers.get("Retry-After", "").isdigit():
                    delay = max(delay, float(r.headers["Retry-After"]))
            if attempt == self.retries:
                raise SystemExit(f"giving up on a batch after {attempt} attempts ({problem})")
            print(f"retrying a batch in {delay:.1f}s ({problem})", file=sys.stderr)
            self.sleep(delay + random.uniform(0, delay / 4))
            delay = min(delay * 2, 30.0)
        raise AssertionError("unreachable")


def _load_state(state_path: Path, file_digest: str) -> dict[str, list]:
    """Finished batches of an earlier run of the same file: ``{batch key: results}``.

    The state file is a log, one JSON line per finished batch after a header naming the file's
    digest; a line cut short by a kill is ignored (that batch is simply sent again).
    """
    done: dict[str, list] = {}
    if not state_path.exists():
        return done
    lines = state_path.read_text().splitlines()
    try:
        if not lines or json.loads(lines[0]).get("file") != file_digest:
            return done
    except ValueError:
        return done
    for line in lines[1:]:
        try:
            entry = json.loads(line)
            done[entry["key"]] = entry["results"]
        except (ValueError, KeyError, TypeError):
            continue
    return done


def sync_file(
    path: Path,
    url: str,
    token: str,
    *,
    batch_size: int = 500,
    parallel: int = 2,
    progress: bool = True,
    client: SyncClient | None = None,
) -> Summary:
    """Send the file's policies; ``parallel`` batches are in flight at once (each policy is in
    exactly one batch, so they never race each other)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    notes: list[str] = []
    policies, local_rejections, rows = read_policies(path, notes)
    named = len(policies) + sum(1 for r in local_rejections if r.policy_no is not None)
    summary = Summary(policies=named, rows=rows, rejected=list(local_rejections), notes=notes)
    state_path = path.with_name(path.name + ".sync-state.json")
    file_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    done = _load_state(state_path, file_digest)
    if not done:
        state_path.write_text(json.dumps({"file": file_digest}) + "\n")
    own_client = client is None
    client = client or SyncClient(url, token)
    todo = batches(policies, batch_size)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(policies), unit="policy", file=sys.stderr, desc="sync")
    lock = threading.Lock()

    def tally(batch: list[ParsedPolicy], results: list[dict], earlier: bool) -> None:
        for i, r in enumerate(results):
            p = batch[r.get("index", i)] if r.get("index", i) < len(batch) else None
            status = r.get("status")
            if status in (200, 201) and earlier:
                summary.earlier += 1  # what an earlier run applied is not applied again
            elif status == 201:
                summary.created += 1
            elif status == 200:
                if r.get("outcome") == "unchanged":
                    summary.unchanged += 1
                else:
                    summary.superseded += 1
            else:
                summary.rejected.append(
                    Rejection(
                        p.rows if p else [],
                        r.get("policy_no"),
                        _api_problems(r, p),
                        status,
                    )
                )
        if bar:
            bar.update(len(batch))

    pending = []
    for batch in todo:
        key = batch_key(batch)
        if key in done:
            summary.skipped_batches += 1
            tally(batch, done[key], earlier=True)
        else:
            pending.append((key, batch))
    try:
        with state_path.open("a") as log, ThreadPoolExecutor(max(1, parallel)) as pool:
            futures = {pool.submit(client.send, batch): (key, batch) for key, batch in pending}
            for future in as_completed(futures):
                key, batch = futures[future]
                results, replayed = future.result()
                with lock:
                    log.write(json.dumps({"key": key, "results": results}) + "\n")
                    log.flush()  # a kill after this line keeps the batch done
                    tally(batch, results, earlier=replayed)
    finally:
        if own_client:
            client.http.close()  # leave no idle keep-alive connections to the server
    if bar:
        bar.close()
    return summary


def _api_problems(result: dict, policy: ParsedPolicy | None) -> list[Problem]:
    """The API's errors of a refused policy by field; an elevator's error also names its row
    (``equipment_codes.3``: the policy's fourth row)."""
    errors = result.get("errors") or {}
    if not errors:
        return [(None, result.get("detail") or "refused")]
    out: list[Problem] = []
    for path, messages in errors.items():
        name: str | None = None if path == "_schema" else path
        prefix, _, index = path.partition(".")
        if policy and prefix == "equipment_codes" and index.isdigit():
            if int(index) < len(policy.rows):
                name = f"{path} (row {policy.rows[int(index)]})"
        out.append((name, "; ".join(messages)))
    return out


def print_summary(summary: Summary, out=sys.stdout) -> None:
    for note in summary.notes:
        print(note, file=out)
    print(summary.line(), file=out)
    for rej in sorted(summary.rejected, key=lambda r: r.rows[:1] or [0]):
        rows = ",".join(str(n) for n in rej.rows) or "?"
        what = f"rows {rows}" if len(rej.rows) != 1 else f"row {rows}"
        policy = f" policy {rej.policy_no}" if rej.policy_no is not None else ""
        status = f" [{rej.status}]" if rej.status else ""
        for name, message in rej.problems:
            about = f"{name}: " if name else ""
            print(f"  rejected {what}{policy}{status}: {about}{message}", file=out)

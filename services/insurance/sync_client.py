"""The insurer sync client: push an insurer's policy export to the regulator's API.

``sesp insurer sync FILE.csv --url URL --token TOKEN``

The file has one row per policy and elevator (``docs/insurer-sync.md`` documents the columns;
``services/insurance/example_policies.csv`` is an example). Rows are grouped into policies,
sent in batches to ``POST /v1/insurance/policies:batch`` with an ``Idempotency-Key`` derived
from the batch content, retried with back-off, and every rejected row is reported with why.

Resuming: finished batches are logged in ``FILE.csv.sync-state.json``; a rerun skips them.
Even without that file a rerun duplicates nothing: the same batch carries the same key (the
gateway answers from its record), and a policy sent again at the same revision is "unchanged".
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COLUMNS = [
    "policy_no",
    "revision",
    "status",
    "cover",
    "per_accident",
    "per_person",
    "premium",
    "starts_on",
    "ends_on",
    "policyholders",
    "equipment_code",
]
POLICY_FIELDS = [c for c in COLUMNS if c != "equipment_code"]
BATCH_PATH = "/v1/insurance/policies:batch"
MAX_BODY = 5 * 1024 * 1024


@dataclass
class ParsedPolicy:
    policy_no: str
    rows: list[int]  # 1-based line numbers in the file (header is line 1)
    body: dict[str, Any]


@dataclass
class Summary:
    policies: int = 0
    rows: int = 0
    created: int = 0
    superseded: int = 0
    unchanged: int = 0
    skipped_batches: int = 0
    rejected: list[dict] = field(default_factory=list)

    def line(self) -> str:
        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        return (
            f"{n(self.policies, 'policy', 'policies')} from {n(self.rows, 'row', 'rows')}: "
            f"{self.created} created, {self.superseded} superseded, {self.unchanged} unchanged, "
            f"{len(self.rejected)} rejected"
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
        holders.append({"uscc": uscc, "name": name, "role": role, "share": share})
    return holders


def read_policies(path: Path) -> tuple[list[ParsedPolicy], list[dict], int]:
    """Group rows by policy. Returns (policies, row errors found locally, row count)."""
    policies: dict[str, ParsedPolicy] = {}
    errors: list[dict] = []
    bad: set[str] = set()
    count = 0
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: missing columns {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            count += 1
            no = (row.get("policy_no") or "").strip()
            if not no:
                errors.append(
                    {"rows": [line], "policy_no": None, "errors": {"policy_no": ["missing"]}}
                )
                continue
            try:
                revision: Any = int(row["revision"])
            except ValueError:
                revision = row["revision"]  # the API reports it with its field path
            try:
                holders = parse_holders(row["policyholders"])
            except ValueError as exc:
                errors.append(
                    {"rows": [line], "policy_no": no, "errors": {"policyholders": [str(exc)]}}
                )
                bad.add(no)
                continue
            body = {
                "policy_no": no,
                "revision": revision,
                "policyholders": holders,
                "equipment_codes": [],
                "cover": row["cover"].strip(),
                "limits": {
                    "per_accident": row["per_accident"].strip(),
                    "per_person": row["per_person"].strip(),
                },
                "premium": row["premium"].strip(),
                "starts_on": row["starts_on"].strip(),
                "ends_on": row["ends_on"].strip(),
                "status": row["status"].strip(),
            }
            p = policies.get(no)
            if p is None:
                p = policies[no] = ParsedPolicy(no, [], body)
            elif {k: v for k, v in p.body.items() if k != "equipment_codes"} != {
                k: v for k, v in body.items() if k != "equipment_codes"
            }:
                errors.append(
                    {
                        "rows": [line],
                        "policy_no": no,
                        "errors": {"_row": ["policy fields differ from the policy's first row"]},
                    }
                )
                bad.add(no)
            p.rows.append(line)
            p.body["equipment_codes"].append(row["equipment_code"].strip())
    good = [p for no, p in policies.items() if no not in bad]
    for no in bad:
        if no in policies:
            errors.append(
                {
                    "rows": policies[no].rows,
                    "policy_no": no,
                    "errors": {"_policy": ["not sent: its rows disagree or are malformed"]},
                }
            )
    return good, errors, count


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
        self.http = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "sesp-insurer-sync/1"},
        )
        self.retries = retries
        self.sleep = sleep

    def send(self, batch: list[ParsedPolicy]) -> list[dict]:
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
                    return r.json()["results"]
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

    policies, local_errors, rows = read_policies(path)
    summary = Summary(policies=len(policies), rows=rows, rejected=list(local_errors))
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

    def tally(batch: list[ParsedPolicy], results: list[dict]) -> None:
        by_no: dict[str | None, ParsedPolicy] = {p.policy_no: p for p in batch}
        for r in results:
            p = by_no.get(r.get("policy_no"))
            status = r.get("status")
            if status == 201:
                summary.created += 1
            elif status == 200:
                if r.get("outcome") == "unchanged":
                    summary.unchanged += 1
                else:
                    summary.superseded += 1
            else:
                summary.rejected.append(
                    {
                        "rows": p.rows if p else [],
                        "policy_no": r.get("policy_no"),
                        "status": status,
                        "errors": r.get("errors") or {"_policy": [r.get("detail", "refused")]},
                    }
                )
        if bar:
            bar.update(len(batch))

    pending = []
    for batch in todo:
        key = batch_key(batch)
        if key in done:
            summary.skipped_batches += 1
            tally(batch, done[key])
        else:
            pending.append((key, batch))
    try:
        with state_path.open("a") as log, ThreadPoolExecutor(max(1, parallel)) as pool:
            futures = {pool.submit(client.send, batch): (key, batch) for key, batch in pending}
            for future in as_completed(futures):
                key, batch = futures[future]
                results = future.result()
                with lock:
                    log.write(json.dumps({"key": key, "results": results}) + "\n")
                    log.flush()  # a kill after this line keeps the batch done
                    tally(batch, results)
    finally:
        if own_client:
            client.http.close()  # leave no idle keep-alive connections to the server
    if bar:
        bar.close()
    return summary


def print_summary(summary: Summary, out=sys.stdout) -> None:
    print(summary.line(), file=out)
    for rej in sorted(summary.rejected, key=lambda r: r["rows"][:1] or [0]):
        rows = ",".join(str(n) for n in rej["rows"]) or "?"
        status = f" [{rej['status']}]" if rej.get("status") else ""
        for fld, msgs in rej["errors"].items():
            print(
                f"  rejected rows {rows} policy {rej['policy_no']}{status}: {fld}: "
                f"{'; '.join(msgs)}",
                file=out,
            )

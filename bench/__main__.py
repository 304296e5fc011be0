"""``python -m bench`` (``make bench``): run every row, print the table, write results.json.

``python -m bench --only credit,ingest`` runs some sections (of pg, sqlite, drivers, bus,
gateway, insurance, scale, credit, ingest, rebuild, public).
Sizes come from the environment (see ``bench/common.py``); ``SESP_BENCH_SCALE=0.3`` is a
quick smoke run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import common

RESULTS = Path(__file__).resolve().parent / "results.json"
SECTIONS = (
    "pg",
    "sqlite",
    "drivers",
    "bus",
    "gateway",
    "insurance",
    "scale",
    "credit",
    "ingest",
    "rebuild",
    "public",
)


def log(msg: str) -> None:
    print(msg, flush=True)


def run_section(name: str) -> tuple[list[common.Row], dict[str, str]]:
    pg_sections = ("pg", "drivers", "gateway", "insurance", "scale", "credit", "ingest")
    if name in (*pg_sections, "rebuild", "public"):
        problem = common.pg_available()
        if problem:
            raise RuntimeError(problem)
    if name in ("pg", "sqlite"):
        from . import eventstore

        return eventstore.rows(name, log)
    if name == "drivers":
        from . import pg_drivers

        return pg_drivers.rows(log), {}
    if name == "bus":
        from . import bus

        return bus.rows(log)
    if name == "gateway":  # written by the gateway's engineers
        from . import gateway_bench

        return gateway_bench.rows(log)
    if name == "insurance":  # written by the insurance service's engineers
        from . import insurance

        return insurance.rows(log)
    if name == "scale":  # reads at N and 4N elevators
        from . import scale

        return scale.rows(log)
    if name == "credit":  # maintenance records, the missed-maintenance sweep, a score
        from . import credit

        return credit.rows(log)
    if name == "ingest":  # a year of records via the gateway, every unit scored, memory at N, 4N
        from . import credit_ingest

        return credit_ingest.rows(log)
    if name == "rebuild":  # read-model rebuild next to a raw scan of the events table
        from . import rebuild

        return rebuild.rows(log=log), {}
    if name == "public":  # the public blacklist through the gateway, its 304s and its CSV
        from . import public_bench

        return public_bench.rows(log)
    raise ValueError(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections out of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    log(
        f"sesp benchmarks: scale {common.scale()}, {common.writers()} writers "
        f"({common.writer_mode()}), batch {common.batch_size()}"
    )
    rows: list[common.Row] = []
    targets: dict[str, str] = {}
    failed: list[str] = []
    started = time.perf_counter()
    for section in sections:
        log(f"[{section}]")
        t0 = time.perf_counter()
        try:
            got, tgt = run_section(section)
        except Exception as exc:  # noqa: BLE001 - one section failing must not hide the others
            failed.append(section)
            log(f"  FAILED: {exc}")
            continue
        rows += got
        targets.update(tgt)
        log(f"  ({time.perf_counter() - t0:.0f} s)")

    log("")
    log(common.format_table(rows, targets))
    Path(args.out).write_text(json.dumps([r.to_json() for r in rows], indent=2) + "\n")
    log(f"\n{len(rows)} rows in {time.perf_counter() - started:.0f} s; written to {args.out}")
    if failed:
        log(f"sections that failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

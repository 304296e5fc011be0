"""``sesp insurer ...``: tools for insurers (mounted by ``sesp`` through the registry)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from services.insurance.sync_client import COLUMN_HELP


def _sync_help() -> str:
    columns = "\n".join(f"  {name:<15} {text}" for name, text in COLUMN_HELP.items())
    return (
        "Push an insurer's policy export (CSV, one row per policy and elevator).\n\n"
        "\b\nThe file: a header row, then one row per policy and elevator; a policy's fields\n"
        "repeat on each of its rows and must agree. UTF-8 (a BOM is fine); a file that is\n"
        "not UTF-8 is read as GB18030/GBK (what Excel saves on Chinese Windows), and the\n"
        "summary says so. Rows are numbered by their line in the file. Columns:\n"
        f"{columns}\n\n"
        "Exit code 1 when any policy or row was rejected, 0 when all were accepted."
    )


@click.group()
def insurer() -> None:
    """Tools for insurers."""


@insurer.command("sync", help=_sync_help())
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--url", required=True, help="The gateway, e.g. http://127.0.0.1:8000")
@click.option("--token", required=True, envvar="SESP_TOKEN", help="An insurer token.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--parallel",
    default=2,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Batches in flight at once.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def insurer_sync(
    file: str, url: str, token: str, batch_size: int, parallel: int, no_progress: bool
) -> None:
    from services.insurance.sync_client import print_summary, sync_file

    summary = sync_file(
        Path(file), url, token, batch_size=batch_size, parallel=parallel, progress=not no_progress
    )
    print_summary(summary)
    sys.exit(1 if summary.rejected else 0)

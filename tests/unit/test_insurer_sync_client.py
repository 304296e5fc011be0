"""The insurer sync client's reading of an export and its summary (no server: what it sends
and how it reports; ``tests/e2e/test_insurance_http.py`` drives it against a running stack)."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from services.insurance.cli import insurer
from services.insurance.sync_client import (
    COLUMNS,
    Rejection,
    Summary,
    print_summary,
    read_policies,
)

HOLDERS = "9135021359498494XQ|电梯业主 甲|owner|0.70;91440101MA5CJQ4N59|Lift Care|maintenance|0.30"
ROW = ["P-1", "1", "active", "liability", "1000000.00", "800000.00", "93.00", "2014-07-01",
       "2015-06-30", HOLDERS, "311012345201400001"]  # fmt: skip


def export(tmp_path, *rows: list[str] | str, encoding: str = "utf-8"):
    """A CSV file; a row given as text is written as it is (a blank line, a short row)."""
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(row if isinstance(row, str) else ",".join(f'"{c}"' for c in row))
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def row(**changes: str) -> list[str]:
    out = list(ROW)
    for name, value in changes.items():
        out[COLUMNS.index(name)] = value
    return out


def text(summary: Summary) -> str:
    out = io.StringIO()
    print_summary(summary, out)
    return out.getvalue()


def test_a_row_missing_its_last_column_is_reported_not_a_traceback(tmp_path):
    short = ",".join(row(policy_no="P-2")[:-1])
    path = export(tmp_path, row(), short, row(policy_no="P-2", equipment_code="311012345201400002"))
    good, rejected, rows = read_policies(path)
    assert [p.policy_no for p in good] == ["P-1"] and rows == 3
    [rejection] = rejected
    assert (rejection.policy_no, rejection.rows) == ("P-2", [3, 4])
    assert rejection.problems == [
        ("equipment_code", "missing in row 3 (it has 10 of the 11 columns)")
    ]


def test_a_gbk_file_is_read_and_the_summary_says_so(tmp_path):
    path = export(tmp_path, row(), encoding="gbk")
    notes: list[str] = []
    [policy], rejected, _ = read_policies(path, notes)
    assert rejected == [] and policy.body["policyholders"][0]["name"] == "电梯业主 甲"
    assert notes == [
        "export.csv is not UTF-8: read as GB18030 (GBK, as Excel saves CSV on Chinese Windows)"
    ]
    assert text(Summary(notes=notes)).startswith("export.csv is not UTF-8")


def test_rows_are_numbered_by_their_line_in_the_file_blank_lines_included(tmp_path):
    path = export(
        tmp_path,
        row(),
        "",
        ",,,,,,,,,,",  # what a spreadsheet writes for an empty row
        row(policy_no=""),
        row(policy_no="P-2", premium="93.00"),
        row(policy_no="P-2", premium="95.00", equipment_code="311012345201400002"),
    )
    good, rejected, rows = read_policies(path)
    assert [p.rows for p in good] == [[2]] and rows == 4
    assert [(r.rows, r.policy_no) for r in rejected] == [([5], None), ([6, 7], "P-2")]
    assert rejected[1].problems == [("premium", "row 7 says '95.00', row 6 says '93.00'")]


def test_enumerations_in_any_case_and_whole_yuan_are_what_the_api_takes(tmp_path):
    path = export(
        tmp_path,
        row(status="ACTIVE", cover="Liability", per_accident="5000000", premium="93"),
        row(
            status="active",
            cover="LIABILITY",
            per_accident="5000000.00",
            premium="93.0",
            equipment_code="311012345201400002",
        ),
    )
    [policy], rejected, _ = read_policies(path)
    assert rejected == []
    body = policy.body
    assert (body["status"], body["cover"], body["premium"]) == ("active", "liability", "93.00")
    assert body["limits"]["per_accident"] == "5000000.00"
    assert [h["role"] for h in body["policyholders"]] == ["owner", "maintenance"]


def test_the_summary_counts_policies_and_names_rows_without_one_apart():
    summary = Summary(
        policies=9,
        rows=20,
        created=7,
        rejected=[
            Rejection([4, 5], "P-4", [("premium", "row 5 says '95.00', row 4 says '93.00'")]),
            Rejection([9], None, [("policy_no", "missing")]),
            Rejection([12], "P-9", [(None, "revision 2 is older than the stored 3")], 409),
        ],
    )
    out = text(summary)
    assert out.splitlines()[0] == (
        "9 policies from 20 rows: 7 created, 0 superseded, 0 unchanged, 2 rejected, "
        "1 row without a policy number"
    )
    assert "  rejected rows 4,5 policy P-4: premium: row 5 says '95.00', row 4 says '93.00'" in out
    assert "  rejected row 9: policy_no: missing" in out
    assert "  rejected row 12 policy P-9 [409]: revision 2 is older than the stored 3" in out
    assert "_policy" not in out and "_row" not in out


def test_what_an_earlier_run_applied_is_not_counted_as_created_again():
    line = Summary(policies=3, rows=3, earlier=3, skipped_batches=1).line()
    assert line == (
        "3 policies from 3 rows: 0 created, 0 superseded, 0 unchanged, "
        "3 applied by an earlier run, 0 rejected (1 batch already done)"
    )


@pytest.mark.parametrize("column", COLUMNS)
def test_help_lists_every_column(column):
    result = CliRunner().invoke(insurer, ["sync", "--help"])
    assert result.exit_code == 0 and f"  {column} " in result.output

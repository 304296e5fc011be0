"""Licences as the public sees them (the published decision records) and as officers list
them: one place decides what of a licence is published.

Officers find a person's certificates by resident ID number: the number is turned into the
person's data subject (``Repository.subject_id``), which the read model keeps instead of it.
The bureau that issued a person's certificate sees the person's name, decrypted from the
licence's stream on read (read models never hold it).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from infra.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc
from infra.places import CITY_BUREAU
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.projections import licences

if TYPE_CHECKING:
    from infra.repository import Repository

AUTHORITIES = {
    "SH": "Shanghai Municipal Bureau of Quality and Technical Supervision",
    "FTZ": "Shanghai Free Trade Zone Branch Bureau",
    "310101": "Huangpu District Bureau", "310104": "Xuhui District Bureau",
    "310105": "Changning District Bureau", "310106": "Jing'an District Bureau",
    "310107": "Putuo District Bureau", "310109": "Hongkou District Bureau",
    "310110": "Yangpu District Bureau", "310112": "Minhang District Bureau",
    "310113": "Baoshan District Bureau", "310114": "Jiading District Bureau",
    "310115": "Pudong New Area Bureau", "310116": "Jinshan District Bureau",
    "310117": "Songjiang District Bureau", "310118": "Qingpu District Bureau",
    "310120": "Fengxian District Bureau", "310151": "Chongming District Bureau",
}  # fmt: skip


def public_record(row: Any) -> dict[str, Any]:
    """A licensing decision as published: never a personal ID number or a person's name."""
    person = row.holder_type == "person"
    return {
        "licence_no": row.licence_no,
        "kind": row.kind,
        "name": None if person else row.holder_name,
        "uscc": None if person else row.holder_uscc,
        "holder_type": row.holder_type,
        "decision_no": row.decision_no,
        "decided_on": row.decided_on.isoformat(),
        "valid_from": row.valid_from.isoformat(),
        "valid_until": row.valid_until.isoformat() if row.valid_until else None,
        "authority": row.bureau,
        "authority_name": AUTHORITIES.get(row.bureau, row.bureau),
        "status": row.status,
    }


def licence_summary(row: Any) -> dict[str, Any]:
    return {
        **public_record(row),
        "bureau": row.bureau,
        "supervised_by": row.supervised_by,
        "holder": {"type": row.holder_type, "uscc": row.holder_uscc, "name": row.holder_name},
        "scope": json.loads(row.scope),
        "level": row.level,
        "equipment_code": row.equipment_code,
        "application_id": row.application_id,
        "renewal_pending": row.renewal_pending,
        "version": row.version,
    }


def _holder_clauses(repo: Repository, holder: str) -> list:
    """Who ``holder`` names: an organization by credit code, a person by resident ID number
    (through the data subject), or both when the text is valid as both."""
    c = licences.c
    clauses = []
    try:
        clauses.append(c.holder_uscc == validate_uscc(holder))
    except InvalidIdentifier:
        pass
    try:
        subject = repo.subject_id(validate_resident_id(holder))
        clauses.append(c.holder_subject == subject)
    except InvalidIdentifier:
        pass
    return clauses


def officers_listing(
    repo: Repository,
    filters: dict,
    limit: int = 50,
    after: list | None = None,
    names_for: str | None = None,
) -> list[dict[str, Any]]:
    """Licences by ``holder`` (credit code or resident ID number), ``kind``, ``status`` and
    ``bureau`` (the bureau that acts on them). ``names_for``: the caller's bureau, whose
    persons' certificates show the person's name (``SH``: every bureau's); None shows none."""
    c = licences.c
    q = select(licences)
    if filters.get("holder"):
        clauses = _holder_clauses(repo, filters["holder"])
        if not clauses:
            return []  # names nobody (the gateway refuses such a holder first)
        q = q.where(or_(*clauses))
    for name in ("kind", "status"):
        if filters.get(name):
            q = q.where(c[name] == filters[name])
    if filters.get("bureau"):
        q = q.where(c.supervised_by == filters["bureau"])
    if after:
        q = q.where(c.licence_no > after[0])
    rows = repo.conn.execute(q.order_by(c.licence_no).limit(limit)).all()
    out = []
    for row in rows:
        summary = licence_summary(row)
        if row.holder_type == "person" and names_for in (CITY_BUREAU, row.bureau):
            person = repo.load(Licence, row.licence_no).holder_view().get("name")
            summary["name"] = summary["holder"]["name"] = person
        out.append(summary)
    return out


_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ASCII_LOWER = _ASCII_UPPER.lower()


def name_contains(conn, text: str) -> Any:
    """Whether the holder's name contains ``text``, ASCII letters in either case and every
    other character as written, on both backends alike: SQLite's own ``LIKE``; on PostgreSQL
    ``ILIKE`` (what the trigram index answers) narrowed by a ``LIKE`` on ASCII-folded text
    (``ILIKE`` alone would fold non-ASCII letters too, which SQLite does not)."""
    c = licences.c
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if conn.dialect.name != "postgresql":
        return c.holder_name.like(f"%{escaped}%", escape="\\")
    folded = escaped.translate(str.maketrans(_ASCII_UPPER, _ASCII_LOWER))
    return and_(
        c.holder_name.ilike(f"%{escaped}%", escape="\\"),
        func.translate(c.holder_name, _ASCII_UPPER, _ASCII_LOWER).like(f"%{folded}%", escape="\\"),
    )


def public_listing(
    conn,
    holder: str | None,
    limit: int = 50,
    after: list | None = None,
    kind: str | None = None,
    licence_no: str | None = None,
) -> list:
    """Public decision records of organizations by credit code (exact) or name (partial);
    persons' certificates appear in the full list without a name or credit code. ``kind``
    keeps one kind of licence, ``licence_no`` the one licence of that number (exact)."""
    c = licences.c
    q = select(licences)
    if licence_no:
        q = q.where(c.licence_no == licence_no.strip())
    if kind:
        q = q.where(c.kind == kind)
    if holder:
        text = holder.strip()
        if len(text) == 18 and text.isalnum():
            q = q.where(c.holder_uscc == text.upper(), c.holder_type == "organization")
        else:
            q = q.where(name_contains(conn, text), c.holder_type == "organization")
    if after:
        q = q.where(c.licence_no > after[0])
    rows = conn.execute(q.order_by(c.licence_no).limit(limit)).all()
    return [public_record(r) for r in rows]

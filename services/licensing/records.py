"""Licences as the public sees them (the published decision records) and as officers list
them: one place decides what of a licence is published."""

from __future__ import annotations

import json
from typing import Any

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
        "holder": {"type": row.holder_type, "uscc": row.holder_uscc, "name": row.holder_name},
        "scope": json.loads(row.scope),
        "level": row.level,
        "equipment_code": row.equipment_code,
        "application_id": row.application_id,
        "renewal_pending": row.renewal_pending,
        "version": row.version,
    }

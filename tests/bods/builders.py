"""Small BODS 0.4 statement builders for the import tests (valid by default)."""

from __future__ import annotations

import gzip
import hashlib
import json
from decimal import Decimal
from pathlib import Path

from django.forms.models import model_to_dict

from cases.models import BodsStatement, Entity, EntityIdentifier, Interest, Jurisdiction, Person, Relationship

PUBLICATION = {"publicationDate": "2026-01-15", "bodsVersion": "0.4", "publisher": {"name": "Test publisher"}}


def statement(record_id: str, record_type: str, details: dict, *, status: str = "new", sid: str | None = None) -> dict:
    sid = sid or hashlib.sha256(f"{record_id}/{status}/{json.dumps(details, default=str)}".encode()).hexdigest()[:40]
    return {
        "statementId": sid,
        "declarationSubject": record_id,
        "statementDate": "2026-01-15",
        "publicationDetails": dict(PUBLICATION),
        "source": {"type": ["officialRegister"], "description": "test"},
        "recordId": record_id,
        "recordType": record_type,
        "recordStatus": status,
        "recordDetails": details,
    }


def entity(record_id: str, name: str = "Test Co", code: str = "GB", *, status: str = "new", **extra) -> dict:
    details = {"isComponent": False, "entityType": {"type": "registeredEntity"}, "name": name}
    if code:
        details["jurisdiction"] = {"code": code, "name": code}
    details.update(extra)
    return statement(record_id, "entity", details, status=status)


def person(record_id: str, name: str = "Test Person", nationality: str = "GB", **extra) -> dict:
    details = {
        "isComponent": False,
        "personType": "knownPerson",
        "names": [{"type": "legal", "fullName": name}],
        "nationalities": [{"code": nationality, "name": nationality}],
    }
    details.update(extra)
    return statement(record_id, "person", details)


def relationship(
    record_id: str, owner, subject: str, share=None, *, status: str = "new", interests=None, **extra
) -> dict:
    if interests is None:
        interest = {"type": "shareholding", "directOrIndirect": "direct"}
        if share is not None:
            interest["share"] = share if isinstance(share, dict) else {"exact": share}
        interests = [interest]
    details = {"isComponent": False, "subject": subject, "interestedParty": owner, "interests": interests}
    details.update(extra)
    return statement(record_id, "relationship", details, status=status)


def _dumps(value) -> str:
    return json.dumps(value, default=lambda v: float(v) if isinstance(v, Decimal) else str(v))


def write_jsonl(path: Path, statements: list[dict], *, compress: bool = False) -> Path:
    text = "".join(_dumps(s) + "\n" for s in statements)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def write_array(path: Path, statements: list[dict], *, compress: bool = False) -> Path:
    text = "[\n" + ",\n".join(_dumps(s) for s in statements) + "\n]\n"
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())
    return path


def snapshot() -> dict:
    """Every imported row, every field: 'nothing changed' means this is equal before and after."""
    models = (Entity, Person, Relationship, Interest, EntityIdentifier, BodsStatement)
    rows = {
        model.__name__: sorted((model_to_dict(obj) | {"pk": obj.pk} for obj in model.objects.all()), key=str)
        for model in models
    }
    for model in (Entity, Person, Relationship):
        rows[model.__name__ + ".updated_at"] = sorted(model.objects.values_list("pk", "updated_at"))
    rows["Jurisdiction"] = Jurisdiction.objects.count()
    return rows

"""Name screening for customers submitted with only a name and a country.

Without an identifier the product cannot know which company a customer is, so it looks
for candidates: members of the active restricted lists (names and aliases) and the
restricted roots among the decided entities (companies in a restricted jurisdiction).
Names are compared after normalisation —
transliterated to ASCII (``unidecode``: 北京 → "Bei Jing", Газпром → "Gazprom"), case and
punctuation folded, legal forms stripped ("Ltd", "GmbH", "S.à r.l.", "OOO", "Youxian
Gongsi") — with ``rapidfuzz`` (``name_score``), so word order and transliteration's
word splits do not hide a match. Candidates above the threshold open a case for an investigator with
the candidates and scores; a name match never blocks on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from rapidfuzz import fuzz, process, utils
from unidecode import unidecode

from cases.models import CaseTrigger, CurrentDecision, Entity, NameMatch, Outcome, RestrictedListMember
from cases.services.audit import audit_record
from cases.services.cases import case_reopen_or_open

DEFAULT_THRESHOLD = 88
MAX_CANDIDATES = 10
#: Legal-form words, after transliteration and folding (several languages; multi-word forms as phrases).
LEGAL_FORMS = (
    "youxian zeren gongsi",
    "gufen youxian gongsi",
    "youxian gongsi",
    "you xian ze ren gong si",
    "you xian gong si",
    "gu fen you xian gong si",
    "gu fen",
    "gong si",
    "societe a responsabilite limitee",
    "s a r l",
    "sarl",
    "s a",
    "sa",
    "b v",
    "bv",
    "n v",
    "nv",
    "gmbh",
    "ag",
    "kg",
    "se",
    "plc",
    "ltd",
    "limited",
    "llc",
    "l l c",
    "llp",
    "lp",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "spa",
    "s p a",
    "srl",
    "s r l",
    "sas",
    "oy",
    "ab",
    "as",
    "a s",
    "kk",
    "jsc",
    "pjsc",
    "ojsc",
    "cjsc",
    "ooo",
    "oao",
    "zao",
    "pao",
    "ao",
    "pte",
    "pty",
    "bhd",
    "sdn bhd",
)
_FORMS = re.compile(
    r"\b(?:" + "|".join(re.escape(form) for form in sorted(LEGAL_FORMS, key=len, reverse=True)) + r")\b"
)
_SPACES = re.compile(r"\s+")


def name_score(left: str, right: str, *, score_cutoff: float | None = None, **_: object) -> float:
    """Token-sort ratio (word order does not matter), or the ratio with spaces removed when higher.

    Transliteration splits or joins words unpredictably ("Bei Jing" / "Beijing"); comparing the
    letters alone catches that. Token *sort* rather than token *set*: a set ratio scores a
    one-word name 100 against every longer name containing that word.
    """
    score = max(fuzz.token_sort_ratio(left, right), fuzz.ratio(left.replace(" ", ""), right.replace(" ", "")))
    return score if score_cutoff is None or score >= score_cutoff else 0.0


def normalise_name(name: str) -> str:
    """ASCII, lower case, no punctuation, no legal forms: the form names are compared in."""
    folded = utils.default_process(unidecode(name or ""))
    stripped = _SPACES.sub(" ", _FORMS.sub(" ", folded)).strip()
    return stripped or folded


@dataclass(frozen=True)
class Candidate:
    name: str
    matched_name: str
    score: float
    countries: tuple[str, ...]
    member_id: int | None = None
    entity_id: int | None = None


def _candidates(exclude_entity: int | None) -> tuple[list[str], list[tuple]]:
    """Normalised names and what each belongs to: list members' names and aliases, then decided entities."""
    names, owners = [], []
    members = RestrictedListMember.objects.filter(restricted_list__is_active=True).values_list(
        "pk", "name", "aliases", "countries"
    )
    for pk, name, aliases, countries in members:
        for alias in dict.fromkeys([name, *(aliases or [])]):
            names.append(normalise_name(alias))
            owners.append(("member", pk, name, alias, tuple(countries or ())))
    # Restricted roots only: they are the named parties a customer might be (a subsidiary blocked
    # through its owners is found through them), and they keep the candidate set small.
    decided = (
        CurrentDecision.objects.filter(outcome__in=[Outcome.REVIEW, Outcome.BLOCK], decision__is_restricted_root=True)
        .exclude(entity_id=exclude_entity)
        .values_list("entity_id", "entity__name", "entity__alternate_names", "entity__jurisdiction_id")
    )
    for pk, name, alternates, jurisdiction in decided:
        for alias in dict.fromkeys([name, *(alternates or [])]):
            names.append(normalise_name(alias))
            owners.append(("entity", pk, name, alias, (jurisdiction,) if jurisdiction else ()))
    return names, owners


def find_candidates(*, name: str, exclude_entity: int | None = None, threshold: float | None = None) -> list[Candidate]:
    """The best candidates for ``name`` scoring at least ``threshold`` (0–100), best first, one per party."""
    threshold = threshold if threshold is not None else getattr(settings, "NAME_SCREENING_THRESHOLD", DEFAULT_THRESHOLD)
    names, owners = _candidates(exclude_entity)
    query = normalise_name(name)
    if not query or not names:
        return []
    found: dict[tuple[str, int], Candidate] = {}
    for _choice, score, index in process.extract(
        query, names, scorer=name_score, score_cutoff=threshold, limit=MAX_CANDIDATES * 3
    ):
        kind, pk, party_name, alias, countries = owners[index]
        if (kind, pk) in found and found[(kind, pk)].score >= score:
            continue
        found[(kind, pk)] = Candidate(
            name=party_name,
            matched_name=alias,
            score=round(float(score), 2),
            countries=countries,
            member_id=pk if kind == "member" else None,
            entity_id=pk if kind == "entity" else None,
        )
    return sorted(found.values(), key=lambda c: (-c.score, c.name))[:MAX_CANDIDATES]


def needs_name_screening(entity: Entity) -> bool:
    """Only a customer we cannot identify: no identifiers and no stated owners."""
    return not entity.identifiers.exists() and not entity.owner_relationships.exists()


@transaction.atomic
def name_screen_entity(*, entity: Entity, actor=None) -> list[NameMatch]:
    """Record the candidates for ``entity`` and, if there are any, open (or reuse) a case to review them.

    Earlier matches of the entity are replaced (the lists and the decided entities change).
    Returns the stored matches; none means nothing came near the threshold.
    """
    candidates = find_candidates(name=entity.name, exclude_entity=entity.pk)
    before = list(NameMatch.objects.filter(entity=entity).values_list("candidate_name", "score"))
    NameMatch.objects.filter(entity=entity).delete()
    if not candidates:
        if before:
            audit_record(actor=actor, action="name_screening.cleared", target=entity, before={"matches": before})
        return []
    country = entity.jurisdiction_id or ""
    lines = ", ".join(f"{c.name} ({c.score:g})" for c in candidates)
    case = case_reopen_or_open(
        subject=entity,
        trigger=CaseTrigger.ONBOARDING,
        reason=f"Name screening: {len(candidates)} candidate(s) for {entity.name!r}: {lines}. Review before relying on "
        "the automatic decision (a name match does not block on its own).",
    )
    matches = NameMatch.objects.bulk_create(
        [
            NameMatch(
                entity=entity,
                case=case,
                candidate_member_id=c.member_id,
                candidate_entity_id=c.entity_id,
                candidate_name=c.name[:500],
                matched_name=c.matched_name[:500],
                score=Decimal(str(c.score)),
                country_matches=bool(country)
                and any(code.split("-")[0] == country.split("-")[0] for code in c.countries),
            )
            for c in candidates
        ]
    )
    audit_record(
        actor=actor,
        action="name_screening.matched",
        target=entity,
        before={"matches": before} if before else None,
        after={"case": case.reference, "matches": [(c.name, c.score) for c in candidates]},
        reason="customer submitted without identifiers",
    )
    return matches

"""Benchmark-sized GLEIF and FtM files in the official shapes: ``python -m benchmarks.sources_synthetic``.

``--gleif N`` writes an LEI-CDF golden-copy CSV (or ``--xml``) with N records and an
RR-CDF CSV consolidating about a third of them under earlier ones; ``--ftm N`` writes FtM
JSON lines with N entities (companies, persons, ownerships). LEIs carry valid ISO 17442
check digits, so the files pass the importers' validation like real ones.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections.abc import Iterator
from pathlib import Path

from cases.sources.lei import lei_check_digits

COUNTRIES = ["GB", "DE", "FR", "US", "JP", "NL", "LU", "CN", "HK", "KY", "SG", "CH", "IE", "RU"]
LEI_COLUMNS = [
    "LEI",
    "Entity.LegalName",
    "Entity.OtherEntityNames.OtherEntityName.1",
    "Entity.LegalAddress.FirstAddressLine",
    "Entity.LegalAddress.City",
    "Entity.LegalAddress.Country",
    "Entity.LegalAddress.PostalCode",
    "Entity.HeadquartersAddress.FirstAddressLine",
    "Entity.HeadquartersAddress.City",
    "Entity.HeadquartersAddress.Country",
    "Entity.HeadquartersAddress.PostalCode",
    "Entity.RegistrationAuthority.RegistrationAuthorityID",
    "Entity.RegistrationAuthority.RegistrationAuthorityEntityID",
    "Entity.LegalJurisdiction",
    "Entity.EntityCategory",
    "Entity.LegalForm.EntityLegalFormCode",
    "Entity.EntityStatus",
    "Entity.EntityCreationDate",
    "Registration.InitialRegistrationDate",
    "Registration.LastUpdateDate",
    "Registration.RegistrationStatus",
    "Registration.ManagingLOU",
    "Registration.ValidationSources",
]
RR_COLUMNS = [
    "Relationship.StartNode.NodeID",
    "Relationship.StartNode.NodeIDType",
    "Relationship.EndNode.NodeID",
    "Relationship.EndNode.NodeIDType",
    "Relationship.RelationshipType",
    "Relationship.RelationshipStatus",
    "Relationship.Period.1.startDate",
    "Relationship.Period.1.endDate",
    "Relationship.Period.1.periodType",
    "Registration.LastUpdateDate",
    "Registration.RegistrationStatus",
    "Registration.ValidationSources",
]


def lei(number: int) -> str:
    base = f"9845{number:014d}"
    return base + lei_check_digits(base)


def lei_rows(count: int, seed: int = 11) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for number in range(count):
        country = rng.choice(COUNTRIES)
        yield {
            "LEI": lei(number),
            "Entity.LegalName": f"Benchmark Holdings {number} Ltd",
            "Entity.OtherEntityNames.OtherEntityName.1": f"BH {number}" if number % 5 == 0 else "",
            "Entity.LegalAddress.FirstAddressLine": f"{number} High Street",
            "Entity.LegalAddress.City": "Town",
            "Entity.LegalAddress.Country": country,
            "Entity.LegalAddress.PostalCode": f"{number % 99999:05d}",
            "Entity.HeadquartersAddress.FirstAddressLine": f"{number} High Street",
            "Entity.HeadquartersAddress.City": "Town",
            "Entity.HeadquartersAddress.Country": rng.choice(COUNTRIES) if number % 7 == 0 else country,
            "Entity.HeadquartersAddress.PostalCode": f"{number % 99999:05d}",
            "Entity.RegistrationAuthority.RegistrationAuthorityID": "RA000585",
            "Entity.RegistrationAuthority.RegistrationAuthorityEntityID": f"{number:08d}",
            "Entity.LegalJurisdiction": country,
            "Entity.EntityCategory": "GENERAL",
            "Entity.LegalForm.EntityLegalFormCode": "8888",
            "Entity.EntityStatus": "ACTIVE",
            "Entity.EntityCreationDate": "2001-02-03T00:00:00+00:00",
            "Registration.InitialRegistrationDate": "2014-06-01T09:00:00+00:00",
            "Registration.LastUpdateDate": "2024-03-01T10:00:00+00:00",
            "Registration.RegistrationStatus": "ISSUED",
            "Registration.ManagingLOU": "5299000J2N45DDNE4Y28",
            "Registration.ValidationSources": "FULLY_CORROBORATED",
        }


def write_gleif(directory: Path, count: int) -> tuple[Path, Path]:
    lei_path = directory / "20240301-0000-gleif-goldencopy-lei2-golden-copy.csv"
    with lei_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, LEI_COLUMNS, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(lei_rows(count))
    rr_path = directory / "20240301-0000-gleif-goldencopy-rr-golden-copy.csv"
    rng = random.Random(13)
    with rr_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, RR_COLUMNS, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        for number in range(1, count, 3):
            writer.writerow(
                {
                    "Relationship.StartNode.NodeID": lei(number),
                    "Relationship.StartNode.NodeIDType": "LEI",
                    "Relationship.EndNode.NodeID": lei(rng.randrange(number)),
                    "Relationship.EndNode.NodeIDType": "LEI",
                    "Relationship.RelationshipType": "IS_DIRECTLY_CONSOLIDATED_BY",
                    "Relationship.RelationshipStatus": "ACTIVE",
                    "Relationship.Period.1.startDate": "2018-01-01T00:00:00+00:00",
                    "Relationship.Period.1.endDate": "",
                    "Relationship.Period.1.periodType": "RELATIONSHIP_PERIOD",
                    "Registration.LastUpdateDate": "2024-03-01T10:00:00+00:00",
                    "Registration.RegistrationStatus": "PUBLISHED",
                    "Registration.ValidationSources": "FULLY_CORROBORATED",
                }
            )
    return lei_path, rr_path


def ftm_entities(count: int, seed: int = 17) -> Iterator[dict]:
    """Per group of three: a company, a person or earlier company as owner, and the ownership."""
    rng = random.Random(seed)
    seen = {"first_seen": "2023-05-01T00:00:00", "last_seen": "2024-03-01T00:00:00", "referents": []}
    number = 0
    group = 0
    while number < count:
        company = f"bench-co-{group}"
        owner_is_person = group == 0 or rng.random() < 0.5
        owner = f"bench-person-{group}" if owner_is_person else f"bench-co-{rng.randrange(group)}"
        items = [
            {
                "id": company,
                "schema": "Company",
                "properties": {"name": [f"Benchmark Company {group}"], "jurisdiction": [rng.choice(COUNTRIES).lower()]},
                "datasets": ["bench"],
                **seen,
            }
        ]
        if owner_is_person:
            items.append(
                {
                    "id": owner,
                    "schema": "Person",
                    "properties": {"name": [f"Person {group}"], "nationality": [rng.choice(COUNTRIES).lower()]},
                    "datasets": ["bench"],
                    **seen,
                }
            )
        items.append(
            {
                "id": f"bench-own-{group}",
                "schema": "Ownership",
                "properties": {"owner": [owner], "asset": [company], "percentage": [str(rng.randint(1, 100))]},
                "datasets": ["bench"],
                **seen,
            }
        )
        for item in items:
            if number >= count:
                return
            number += 1
            yield item
        group += 1


def write_ftm(directory: Path, count: int) -> Path:
    path = directory / "entities.ftm.json"
    with path.open("w", encoding="utf-8") as out:
        for item in ftm_entities(count):
            out.write(json.dumps(item, separators=(",", ":")))
            out.write("\n")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--gleif", type=int, default=0, help="LEI records (plus about a third as RR records)")
    parser.add_argument("--ftm", type=int, default=0, help="FtM entities")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    if args.gleif:
        print(*write_gleif(args.directory, args.gleif))
    if args.ftm:
        print(write_ftm(args.directory, args.ftm))


if __name__ == "__main__":
    main()

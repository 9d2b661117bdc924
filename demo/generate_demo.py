"""Generate the demo BODS 0.4 data set and its customer list (deterministic).

Run ``python demo/generate_demo.py``; it rewrites ``demo/demo.bods.jsonl.gz``
and ``demo/customers.csv``. Every name is fictional. The groups cover what
screening has to get right: Chinese state-owned chains, VIE structures,
offshore holding companies with undisclosed owners, listed companies with
public float, cross-holdings, UK share bands, a Russian-owned group through
Cyprus and the Netherlands, a Cayman company headquartered in Hong Kong,
restricted persons, unspecified owners, clean multinationals (TW is not
China), the ten worked examples of the screening policy, time-limited stakes,
indirect summaries with ``componentRecords``, and later ``updated``/``closed``
statements.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODS_PATH = HERE / "demo.bods.jsonl.gz"
CUSTOMERS_PATH = HERE / "customers.csv"
NAMESPACE = uuid.UUID("6f1c2a52-5d0e-4c55-9a43-3b1e0c9d7a11")
PUBLICATION = {
    "publicationDate": "2026-01-15",
    "bodsVersion": "0.4",
    "publisher": {"name": "Demo Registry (fictional)"},
    "license": "https://creativecommons.org/publicdomain/zero/1.0/",
}
SOURCE = {"type": ["officialRegister"], "description": "Fictional demo data"}
COUNTRY_NAMES = {
    "AU": "Australia",
    "BE": "Belgium",
    "CN": "China",
    "CY": "Cyprus",
    "DE": "Germany",
    "FR": "France",
    "GB": "United Kingdom",
    "HK": "Hong Kong",
    "IE": "Ireland",
    "IT": "Italy",
    "JP": "Japan",
    "KY": "Cayman Islands",
    "NL": "Netherlands",
    "RU": "Russian Federation",
    "SE": "Sweden",
    "SG": "Singapore",
    "TW": "Taiwan",
    "US": "United States",
    "VG": "Virgin Islands, British",
    "CH": "Switzerland",
    "ES": "Spain",
    "CA": "Canada",
}


def _country(code: str) -> dict:
    return {"code": code, "name": COUNTRY_NAMES.get(code.split("-")[0], code)}


class Demo:
    """Collects statements in publication order and the customers to register."""

    def __init__(self) -> None:
        self.statements: list[dict] = []
        self.customers: list[tuple[str, str, str]] = []
        self._counter = 0

    def _emit(self, record_id: str, record_type: str, details: dict, *, status="new", date="2026-01-15", subject=None):
        self._counter += 1
        self.statements.append(
            {
                "statementId": str(uuid.uuid5(NAMESPACE, f"{record_id}/{self._counter}")),
                "declarationSubject": subject or record_id,
                "statementDate": date,
                "publicationDetails": PUBLICATION,
                "source": SOURCE,
                "recordId": record_id,
                "recordType": record_type,
                "recordStatus": status,
                "recordDetails": details,
            }
        )

    # records ----------------------------------------------------------------------------

    def entity(
        self,
        record_id: str,
        name: str,
        jurisdiction: str,
        *,
        entity_type: str = "registeredEntity",
        subtype: str | None = None,
        listed: bool = False,
        business: str | None = None,
        registered: str | None = None,
        identifiers: list[dict] | None = None,
        alternate_names: list[str] | None = None,
        status: str = "new",
        date: str = "2026-01-15",
    ) -> str:
        details: dict = {"isComponent": False, "entityType": {"type": entity_type}, "name": name}
        if subtype:
            details["entityType"]["subtype"] = subtype
        if jurisdiction:
            details["jurisdiction"] = _country(jurisdiction)
        details["addresses"] = [
            {
                "type": "registered",
                "address": f"{len(name) % 90 + 1} {name.split()[0]} Street",
                "country": _country((registered or jurisdiction).split("-")[0]),
            }
        ]
        if business:
            details["addresses"].append(
                {"type": "business", "address": "Tower One, Central", "country": _country(business)}
            )
        if listed:
            details["publicListing"] = {
                "hasPublicListing": True,
                "securitiesListings": [
                    {
                        "marketIdentifierCode": "XDEM",
                        "stockExchangeJurisdiction": jurisdiction.split("-")[0],
                        "stockExchangeName": "Demo Exchange",
                        "security": {"ticker": name[:4].upper()},
                    }
                ],
            }
        details["identifiers"] = identifiers or [
            {"scheme": "XI-LEI", "id": str(uuid.uuid5(NAMESPACE, record_id)).replace("-", "").upper()[:20]}
        ]
        if alternate_names:
            details["alternateNames"] = alternate_names
        self._emit(record_id, "entity", details, status=status, date=date)
        return record_id

    def state(self, record_id: str, name: str, code: str, *, body: bool = False) -> str:
        return self.entity(
            record_id,
            name,
            code,
            entity_type="stateBody" if body else "state",
            subtype="stateAgency" if body else None,
            identifiers=[{"schemeName": "Demo state register", "id": record_id}],
        )

    def person(
        self,
        record_id: str,
        name: str,
        nationality: str,
        *,
        residence: str | None = None,
        tax: str | None = None,
        person_type: str = "knownPerson",
    ) -> str:
        details: dict = {"isComponent": False, "personType": person_type}
        if person_type == "knownPerson":
            given, _, family = name.partition(" ")
            details["names"] = [{"type": "legal", "fullName": name, "givenName": given, "familyName": family}]
            details["nationalities"] = [_country(nationality)]
            details["addresses"] = [
                {"type": "residence", "address": "Flat 1", "country": _country(residence or nationality)}
            ]
            if tax:
                details["taxResidencies"] = [_country(tax)]
        else:
            details["unspecifiedPersonDetails"] = {"reason": "informationUnknownToPublisher"}
        self._emit(record_id, "person", details)
        return record_id

    def owns(
        self,
        record_id: str,
        owner: str | dict,
        subject: str,
        share: dict | float | None = None,
        *,
        interests: list[dict] | None = None,
        voting: dict | float | None = None,
        start: str | None = None,
        end: str | None = None,
        indirect: bool = False,
        components: list[str] | None = None,
        component: bool = False,
        status: str = "new",
        date: str = "2026-01-15",
    ) -> str:
        """A relationship; ``share`` is a percentage or a BODS share object."""
        if interests is None:
            interests = [_interest("shareholding", share, start, end, indirect)]
            if voting is not None:
                interests.append(_interest("votingRights", voting, start, end, indirect))
        details = {"isComponent": component, "subject": subject, "interestedParty": owner, "interests": interests}
        if components is not None:
            details["componentRecords"] = components
        self._emit(record_id, "relationship", details, status=status, date=date, subject=subject)
        return record_id

    def customer(self, reference: str, record_id: str, onboarded: str = "2025-03-01") -> None:
        self.customers.append((reference, record_id, onboarded))

    # output -----------------------------------------------------------------------------

    def write(self) -> None:
        payload = "".join(json.dumps(s, ensure_ascii=False, sort_keys=True) + "\n" for s in self.statements)
        # mtime=0 keeps the gzip bytes identical between runs.
        with open(BODS_PATH, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as out:
            out.write(payload.encode("utf-8"))
        with open(CUSTOMERS_PATH, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["customer_reference", "entity_record_id", "onboarded_on"])
            writer.writerows(self.customers)


def _interest(kind: str, share, start=None, end=None, indirect=False) -> dict:
    interest = {"type": kind, "directOrIndirect": "indirect" if indirect else "direct"}
    if share is not None:
        interest["share"] = share if isinstance(share, dict) else {"exact": share}
    if start:
        interest["startDate"] = start
    if end:
        interest["endDate"] = end
    return interest


def control(kind: str, details: str = "") -> dict:
    interest = {"type": kind, "directOrIndirect": "direct"}
    if details:
        interest["details"] = details
    return interest


UNSPECIFIED = {
    "reason": "interestedPartyHasNotProvidedInformation",
    "description": "Nominee shareholder declined to disclose the beneficial owner.",
}


# -- the policy's ten worked examples ---------------------------------------------------------


def worked_examples(d: Demo) -> None:
    d.person("demo-p-clean-anna", "Anna Lindqvist", "SE")
    d.person("demo-p-clean-marc", "Marc Dubois", "FR")
    d.person("demo-p-cn-wei", "Wei Zhang", "CN")
    d.person("demo-p-ru-ivan", "Ivan Petrov", "RU")

    # 1: CN company owns 70 % of S.
    d.entity("demo-ex1-cn", "Example 1 Owner Co., Ltd.", "CN")
    d.entity("demo-ex1-s", "Example 1 Subject GmbH", "DE")
    d.owns("demo-ex1-r1", "demo-ex1-cn", "demo-ex1-s", 70)
    d.owns("demo-ex1-r2", "demo-p-clean-anna", "demo-ex1-s", 30)
    # 2: CN person 20 %, RU company 35 %.
    d.entity("demo-ex2-ru", "Example 2 Owner OOO", "RU")
    d.entity("demo-ex2-s", "Example 2 Subject GmbH", "DE")
    d.owns("demo-ex2-r1", "demo-p-cn-wei", "demo-ex2-s", 20)
    d.owns("demo-ex2-r2", "demo-ex2-ru", "demo-ex2-s", 35)
    d.owns("demo-ex2-r3", "demo-p-clean-anna", "demo-ex2-s", 45)
    # 3: CN company 55 % of H (DE); H 80 % of S.
    d.entity("demo-ex3-cn", "Example 3 Owner Co., Ltd.", "CN")
    d.entity("demo-ex3-h", "Example 3 Holding GmbH", "DE")
    d.entity("demo-ex3-s", "Example 3 Subject GmbH", "DE")
    d.owns("demo-ex3-r1", "demo-ex3-cn", "demo-ex3-h", 55)
    d.owns("demo-ex3-r2", "demo-p-clean-marc", "demo-ex3-h", 45)
    d.owns("demo-ex3-r3", "demo-ex3-h", "demo-ex3-s", 80)
    d.owns("demo-ex3-r4", "demo-p-clean-anna", "demo-ex3-s", 20)
    # 4: CN company 45 % of H; H 90 % of S; the same CN company 10 % of S.
    d.entity("demo-ex4-cn", "Example 4 Owner Co., Ltd.", "CN")
    d.entity("demo-ex4-h", "Example 4 Holding GmbH", "DE")
    d.entity("demo-ex4-s", "Example 4 Subject GmbH", "DE")
    d.owns("demo-ex4-r1", "demo-ex4-cn", "demo-ex4-h", 45)
    d.owns("demo-ex4-r2", "demo-p-clean-marc", "demo-ex4-h", 55)
    d.owns("demo-ex4-r3", "demo-ex4-h", "demo-ex4-s", 90)
    d.owns("demo-ex4-r4", "demo-ex4-cn", "demo-ex4-s", 10)
    # 5: CN person 30 %, clean person 30 %, the rest undisclosed.
    d.entity("demo-ex5-s", "Example 5 Subject GmbH", "DE")
    d.owns("demo-ex5-r1", "demo-p-cn-wei", "demo-ex5-s", 30)
    d.owns("demo-ex5-r2", "demo-p-clean-anna", "demo-ex5-s", 30)
    # 6: S listed; CN company 40 %; rest public float.
    d.entity("demo-ex6-cn", "Example 6 Owner Co., Ltd.", "CN")
    d.entity("demo-ex6-s", "Example 6 Subject AG", "DE", listed=True)
    d.owns("demo-ex6-r1", "demo-ex6-cn", "demo-ex6-s", 40)
    # 7: S and T own 100 % of each other.
    d.entity("demo-ex7-s", "Example 7 Subject BV", "NL")
    d.entity("demo-ex7-t", "Example 7 Twin BV", "NL")
    d.owns("demo-ex7-r1", "demo-ex7-t", "demo-ex7-s", 100)
    d.owns("demo-ex7-r2", "demo-ex7-s", "demo-ex7-t", 100)
    # 8: RU person votingRights 55 %, shareholding 20 %.
    d.entity("demo-ex8-s", "Example 8 Subject GmbH", "DE")
    d.owns("demo-ex8-r1", "demo-p-ru-ivan", "demo-ex8-s", 20, voting=55)
    d.owns("demo-ex8-r2", "demo-p-clean-anna", "demo-ex8-s", 80, voting=45)
    # 9: S (KY) with its business address in CN; a clean person owns 100 %.
    d.entity("demo-ex9-s", "Example 9 Subject Ltd", "KY", business="CN")
    d.owns("demo-ex9-r1", "demo-p-clean-marc", "demo-ex9-s", 100)
    # 10: clean person owns 100 %; CN company holds rightsGrantedByContract.
    d.entity("demo-ex10-cn", "Example 10 Owner Co., Ltd.", "CN")
    d.entity("demo-ex10-s", "Example 10 Subject GmbH", "DE")
    d.owns("demo-ex10-r1", "demo-p-clean-anna", "demo-ex10-s", 100)
    d.owns(
        "demo-ex10-r2",
        "demo-ex10-cn",
        "demo-ex10-s",
        interests=[control("rightsGrantedByContract", "Exclusive business cooperation agreement")],
    )
    for number in range(1, 11):
        d.customer(f"CUST-EX{number:02d}", f"demo-ex{number}-s", "2025-01-10")


# -- realistic groups ----------------------------------------------------------------------


def state_owned_chains(d: Demo) -> None:
    d.state("demo-cn-state", "People's Republic of China (fictional record)", "CN")
    d.state("demo-cn-sasac", "State Assets Oversight Commission (fictional)", "CN", body=True)
    d.owns("demo-cn-r-state-sasac", "demo-cn-state", "demo-cn-sasac", interests=[control("controlByLegalFramework")])
    d.entity("demo-huaxin-group", "Huaxin Industrial Group Co., Ltd.", "CN-BJ", alternate_names=["华信实业集团"])
    d.owns("demo-cn-r-sasac-huaxin", "demo-cn-sasac", "demo-huaxin-group", 100)
    d.entity("demo-huaxin-hk", "Huaxin International Holdings Limited", "HK")
    d.owns("demo-cn-r-huaxin-hk", "demo-huaxin-group", "demo-huaxin-hk", 100)
    d.entity("demo-huaxin-eu", "Huaxin Europe GmbH", "DE")
    d.owns("demo-cn-r-hk-eu", "demo-huaxin-hk", "demo-huaxin-eu", 75)
    d.person("demo-p-klaus", "Klaus Brenner", "DE")
    d.owns("demo-cn-r-klaus-eu", "demo-p-klaus", "demo-huaxin-eu", 25)
    d.entity("demo-huaxin-it", "Huaxin Componenti Italia S.r.l.", "IT")
    d.owns("demo-cn-r-eu-it", "demo-huaxin-eu", "demo-huaxin-it", 100)
    d.customer("CUST-1001", "demo-huaxin-eu")
    d.customer("CUST-1002", "demo-huaxin-it")

    d.state("demo-cn-prov", "Provincial Assets Bureau of Jiangsu (fictional)", "CN-JS", body=True)
    d.entity("demo-orient-group", "Orient Ship Leasing Group Co., Ltd.", "CN-JS")
    d.owns("demo-cn-r-prov-orient", "demo-cn-prov", "demo-orient-group", 68)
    d.entity("demo-orient-sg", "Orient Ship Leasing (Singapore) Pte. Ltd.", "SG")
    d.owns("demo-cn-r-orient-sg", "demo-orient-group", "demo-orient-sg", 60)
    d.person("demo-p-tan", "Tan Mei Ling", "SG")
    d.owns("demo-cn-r-tan-sg", "demo-p-tan", "demo-orient-sg", 40)
    d.customer("CUST-1003", "demo-orient-sg")


def vie_structure(d: Demo) -> None:
    d.entity("demo-lotus-ky", "Lotus Cloud Holdings Limited", "KY", listed=True, business="CN")
    d.entity("demo-lotus-hk", "Lotus Cloud (HK) Limited", "HK")
    d.owns("demo-vie-r1", "demo-lotus-ky", "demo-lotus-hk", 100)
    d.entity("demo-lotus-wfoe", "Lotus Cloud (Shanghai) Technology Co., Ltd.", "CN-SH")
    d.owns("demo-vie-r2", "demo-lotus-hk", "demo-lotus-wfoe", 100)
    d.entity("demo-lotus-opco", "Shanghai Lotus Network Co., Ltd.", "CN-SH")
    d.person("demo-p-liu", "Liu Yang", "CN")
    d.person("demo-p-chen", "Chen Jing", "CN")
    d.owns("demo-vie-r3", "demo-p-liu", "demo-lotus-opco", 60)
    d.owns("demo-vie-r4", "demo-p-chen", "demo-lotus-opco", 40)
    d.owns(
        "demo-vie-r5",
        "demo-lotus-wfoe",
        "demo-lotus-opco",
        interests=[
            control("rightsGrantedByContract", "Exclusive technical services and equity pledge agreements"),
            control("rightsToProfitOrIncome", "Exclusive service fees"),
        ],
    )
    d.entity("demo-lotus-sg", "Lotus Cloud Singapore Pte. Ltd.", "SG")
    d.owns("demo-vie-r6", "demo-lotus-ky", "demo-lotus-sg", 100)
    d.customer("CUST-1101", "demo-lotus-sg")
    d.customer("CUST-1102", "demo-lotus-ky")

    # A second VIE whose listed holdco is headquartered outside China: control decides.
    d.entity("demo-jade-ky", "Jade Harbour Education Inc.", "KY", listed=True, business="SG")
    d.entity("demo-jade-opco", "Beijing Jade Harbour Learning Co., Ltd.", "CN-BJ")
    d.owns("demo-jade-r1", "demo-jade-ky", "demo-jade-opco", interests=[control("rightsGrantedByContract")])
    d.entity("demo-jade-uk", "Jade Harbour Learning UK Ltd", "GB")
    d.owns("demo-jade-r2", "demo-jade-ky", "demo-jade-uk", 100)
    d.owns("demo-jade-r3", "demo-p-liu", "demo-jade-ky", 18, voting=58)
    d.customer("CUST-1103", "demo-jade-uk")


def offshore_undisclosed(d: Demo) -> None:
    d.entity("demo-tidewater-vg", "Tidewater Ventures Ltd", "VG")
    d.owns("demo-tidewater-r1", UNSPECIFIED, "demo-tidewater-vg", 100)
    d.entity("demo-tidewater-ie", "Tidewater Aviation Leasing DAC", "IE")
    d.owns("demo-tidewater-r2", "demo-tidewater-vg", "demo-tidewater-ie", 100)
    d.customer("CUST-1201", "demo-tidewater-ie")

    d.entity("demo-coral-ky", "Coral Bay Holdings Ltd", "KY")
    d.person("demo-p-oconnor", "Siobhan O'Connor", "IE")
    d.owns("demo-coral-r1", "demo-p-oconnor", "demo-coral-ky", 40)
    d.customer("CUST-1202", "demo-coral-ky")

    d.entity("demo-granite-vg", "Granite Peak Investments Ltd", "VG")
    d.person("demo-p-anon", "", "", person_type="anonymousPerson")
    d.owns("demo-granite-r1", "demo-p-anon", "demo-granite-vg", {"minimum": 75, "maximum": 100})
    d.entity("demo-granite-ch", "Granite Peak Trading SA", "CH")
    d.owns("demo-granite-r2", "demo-granite-vg", "demo-granite-ch", 100)
    d.customer("CUST-1203", "demo-granite-ch")

    d.entity("demo-exempt-gb", "Meridian Pension Trustees Ltd", "GB")
    d.owns(
        "demo-exempt-r1",
        {"reason": "subjectExemptFromDisclosure", "description": "Regulated pension scheme trustee"},
        "demo-exempt-gb",
    )


def listed_companies(d: Demo) -> None:
    d.entity("demo-nordlicht", "Nordlicht Energie AG", "DE", listed=True)
    d.entity("demo-fund-us", "Cascade Ridge Capital LLC", "US")
    d.person("demo-p-harper", "Emily Harper", "US")
    d.owns("demo-fund-r0", "demo-p-harper", "demo-fund-us", 100)
    d.owns("demo-nordlicht-r1", "demo-fund-us", "demo-nordlicht", 12.5)
    d.customer("CUST-1301", "demo-nordlicht")

    d.entity("demo-sakura", "Sakura Precision Instruments K.K.", "JP", listed=True)
    d.entity("demo-sakura-cn", "Shenzhen Bright Optics Co., Ltd.", "CN-GD")
    d.owns("demo-sakura-r1", "demo-sakura-cn", "demo-sakura", 8.25)
    d.customer("CUST-1302", "demo-sakura")

    d.entity("demo-dragon-listed", "Golden Dragon Consumer Brands plc", "GB", listed=True)
    d.entity("demo-dragon-hk", "Golden Dragon Investments (HK) Limited", "HK")
    d.owns("demo-dragon-r1", "demo-dragon-hk", "demo-dragon-listed", 50.01)
    d.customer("CUST-1303", "demo-dragon-listed")


def cross_holdings(d: Demo) -> None:
    d.entity("demo-alder", "Alder Trading B.V.", "NL")
    d.entity("demo-birch", "Birch Logistics NV", "BE")
    d.person("demo-p-janssens", "Pieter Janssens", "BE")
    d.person("demo-p-devries", "Sanne de Vries", "NL")
    d.owns("demo-cross-r1", "demo-birch", "demo-alder", 30)
    d.owns("demo-cross-r2", "demo-alder", "demo-birch", 30)
    d.owns("demo-cross-r3", "demo-p-devries", "demo-alder", 70)
    d.owns("demo-cross-r4", "demo-p-janssens", "demo-birch", 70)
    d.customer("CUST-1401", "demo-alder")

    # A three-way cycle fed by a Hong Kong company.
    d.entity("demo-cyc-a", "Cypress Marine Ltd", "GB")
    d.entity("demo-cyc-b", "Hawthorn Shipping Ltd", "GB")
    d.entity("demo-cyc-c", "Juniper Port Services Ltd", "GB")
    d.entity("demo-cyc-hk", "Kowloon Bay Maritime Limited", "HK")
    d.owns("demo-cyc-r1", "demo-cyc-b", "demo-cyc-a", 60)
    d.owns("demo-cyc-r2", "demo-cyc-c", "demo-cyc-b", 60)
    d.owns("demo-cyc-r3", "demo-cyc-a", "demo-cyc-c", 60)
    d.owns("demo-cyc-r4", "demo-cyc-hk", "demo-cyc-a", 40)
    d.owns("demo-cyc-r5", "demo-p-janssens", "demo-cyc-b", 40)
    d.owns("demo-cyc-r6", "demo-p-devries", "demo-cyc-c", 40)
    d.customer("CUST-1402", "demo-cyc-c")


def uk_share_bands(d: Demo) -> None:
    d.person("demo-p-orlov", "Sergei Orlov", "RU")
    d.person("demo-p-hughes", "Gareth Hughes", "GB")
    d.person("demo-p-lam", "Lam Ka Wai", "HK")
    d.entity("demo-thames", "Thames Valley Components Ltd", "GB-WBK")
    d.owns("demo-band-r1", "demo-p-orlov", "demo-thames", {"exclusiveMinimum": 25, "maximum": 50})
    d.owns("demo-band-r2", "demo-p-hughes", "demo-thames", {"exclusiveMinimum": 50, "exclusiveMaximum": 75})
    d.customer("CUST-1501", "demo-thames")

    d.entity("demo-severn-cn", "Wuhan Riverside Heavy Industry Co., Ltd.", "CN-HB")
    d.entity("demo-severn", "Severn Marine Engineering Ltd", "GB")
    d.owns("demo-band-r3", "demo-severn-cn", "demo-severn", {"exclusiveMinimum": 50, "exclusiveMaximum": 75})
    d.owns("demo-band-r4", "demo-p-hughes", "demo-severn", {"exclusiveMinimum": 25, "maximum": 50})
    d.customer("CUST-1502", "demo-severn")

    d.entity("demo-mersey", "Mersey Textiles Ltd", "GB")
    d.owns("demo-band-r5", "demo-p-lam", "demo-mersey", {"minimum": 75, "maximum": 100})
    d.customer("CUST-1503", "demo-mersey")

    d.entity("demo-tyne", "Tyne Robotics Ltd", "GB")
    d.owns("demo-band-r6", "demo-p-orlov", "demo-tyne", {"exclusiveMinimum": 25, "maximum": 50})
    d.owns("demo-band-r7", "demo-p-hughes", "demo-tyne", {"exclusiveMinimum": 25, "maximum": 50})
    d.customer("CUST-1504", "demo-tyne")


def russian_group(d: Demo) -> None:
    d.person("demo-p-volkov", "Dmitry Volkov", "RU", residence="RU")
    d.entity("demo-volga-cy", "Volga Capital Ltd", "CY")
    d.entity("demo-volga-nl", "Volga Holdings B.V.", "NL")
    d.entity("demo-baltic-de", "Baltic Freight GmbH", "DE")
    components = [
        d.owns("demo-ru-r1", "demo-p-volkov", "demo-volga-cy", 100, component=True),
        d.owns("demo-ru-r2", "demo-volga-cy", "demo-volga-nl", 100, component=True),
        d.owns("demo-ru-r3", "demo-volga-nl", "demo-baltic-de", 65, component=True),
    ]
    d.person("demo-p-schulz", "Martina Schulz", "DE")
    d.owns("demo-ru-r4", "demo-p-schulz", "demo-baltic-de", 35)
    d.owns("demo-ru-r5", "demo-p-volkov", "demo-baltic-de", 65, indirect=True, components=components)
    d.customer("CUST-1601", "demo-baltic-de")
    d.customer("CUST-1602", "demo-volga-nl")


def hk_headquartered(d: Demo) -> None:
    d.person("demo-p-wright", "Oliver Wright", "GB")
    d.entity("demo-pearl-ky", "Pearl Harbourfront Holdings Ltd", "KY", business="HK")
    d.owns("demo-pearl-r1", "demo-p-wright", "demo-pearl-ky", 100)
    d.entity("demo-pearl-au", "Pearl Harbourfront Australia Pty Ltd", "AU")
    d.owns("demo-pearl-r2", "demo-pearl-ky", "demo-pearl-au", 100)
    d.customer("CUST-1701", "demo-pearl-au")


def restricted_persons(d: Demo) -> None:
    d.person("demo-p-morgan", "Rhys Morgan", "GB", residence="CN")
    d.entity("demo-kestrel", "Kestrel Analytics Ltd", "GB")
    d.owns("demo-persons-r1", "demo-p-morgan", "demo-kestrel", 60)
    d.owns("demo-persons-r2", "demo-p-hughes", "demo-kestrel", 40)
    d.customer("CUST-1801", "demo-kestrel")

    d.person("demo-p-novak", "Elena Novak", "CA", tax="RU")
    d.entity("demo-maple", "Maple Ridge Software Inc.", "CA")
    d.owns("demo-persons-r3", "demo-p-novak", "demo-maple", 51)
    d.owns("demo-persons-r4", "demo-p-harper", "demo-maple", 49)
    d.customer("CUST-1802", "demo-maple")

    d.person("demo-p-nominee", "Graham Fielding", "GB")
    d.entity("demo-osprey", "Osprey Consulting Ltd", "GB")
    d.owns("demo-persons-r5", "demo-p-nominee", "demo-osprey", 100)
    d.owns(
        "demo-persons-r6",
        "demo-p-cn-wei",
        "demo-osprey",
        interests=[control("nominator", "Nominee arrangement over the whole shareholding")],
    )
    d.customer("CUST-1803", "demo-osprey")


def clean_multinationals(d: Demo) -> None:
    d.person("demo-p-weber", "Johanna Weber", "DE")
    d.entity("demo-rheinwerk", "Rheinwerk Maschinenbau AG", "DE", listed=True)
    d.owns("demo-rw-r1", "demo-p-weber", "demo-rheinwerk", 22)
    for code, suffix, name in (("FR", "fr", "Rheinwerk France SAS"), ("US", "us", "Rheinwerk Machinery Inc.")):
        d.entity(f"demo-rheinwerk-{suffix}", name, code)
        d.owns(f"demo-rw-r-{suffix}", "demo-rheinwerk", f"demo-rheinwerk-{suffix}", 100)
    d.customer("CUST-1901", "demo-rheinwerk-fr")
    d.customer("CUST-1902", "demo-rheinwerk-us")

    d.entity("demo-hoshino", "Hoshino Electronics K.K.", "JP", listed=True)
    d.entity("demo-hoshino-us", "Hoshino Electronics America, Inc.", "US-DE")
    d.owns("demo-hoshino-r1", "demo-hoshino", "demo-hoshino-us", 100)
    d.customer("CUST-1903", "demo-hoshino-us")

    d.person("demo-p-lin", "Lin Chia-Hao", "TW")
    d.entity("demo-formosa", "Formosa Microsystems Corp.", "TW")
    d.owns("demo-formosa-r1", "demo-p-lin", "demo-formosa", 64)
    d.person("demo-p-huang", "Huang Shu-Fen", "TW")
    d.owns("demo-formosa-r2", "demo-p-huang", "demo-formosa", 36)
    d.entity("demo-formosa-nl", "Formosa Micro Europe B.V.", "NL")
    d.owns("demo-formosa-r3", "demo-formosa", "demo-formosa-nl", 100)
    d.customer("CUST-1904", "demo-formosa-nl")

    d.entity("demo-lumiere", "Lumière Cosmétiques SA", "FR")
    d.owns("demo-lumiere-r1", "demo-p-clean-marc", "demo-lumiere", 100)
    d.customer("CUST-1905", "demo-lumiere")


def time_limited(d: Demo) -> None:
    d.entity("demo-harbour-cn", "Ningbo Harbour Equipment Co., Ltd.", "CN-ZJ")
    d.entity("demo-harbour", "Harbour Crane Services Ltd", "GB")
    d.owns("demo-time-r1", "demo-harbour-cn", "demo-harbour", 60, start="2019-03-01", end="2024-06-30")
    d.owns("demo-time-r2", "demo-p-hughes", "demo-harbour", 60, start="2024-07-01")
    d.owns("demo-time-r3", "demo-p-wright", "demo-harbour", 40, start="2019-03-01")
    d.customer("CUST-2001", "demo-harbour")

    d.entity("demo-summit-cn", "Heilongjiang Northern Grain Co., Ltd.", "CN-HL")
    d.entity("demo-summit", "Summit Agritech Pty Ltd", "AU")
    d.person("demo-p-walsh", "Liam Walsh", "AU")
    d.owns("demo-time-r4", "demo-p-walsh", "demo-summit", 100, start="2015-01-01", end="2026-12-31")
    d.owns("demo-time-r5", "demo-summit-cn", "demo-summit", 55, start="2027-01-01")
    d.owns("demo-time-r6", "demo-p-walsh", "demo-summit", 45, start="2027-01-01")
    d.customer("CUST-2002", "demo-summit")


def later_statements(d: Demo) -> None:
    """A rename (``updated``), a divestment (``closed``) and a sale to a restricted buyer (``updated``)."""
    d.entity("demo-aurora", "Aurora Fine Chemicals Ltd", "GB")
    d.entity("demo-aurora-ru", "Ural Chemical Trading JSC", "RU")
    d.owns("demo-later-r1", "demo-aurora-ru", "demo-aurora", 80, date="2025-06-01")
    d.owns("demo-later-r2", "demo-p-wright", "demo-aurora", 20)
    d.owns("demo-later-r1", "demo-aurora-ru", "demo-aurora", 80, status="closed", date="2026-02-01")
    d.entity("demo-aurora", "Aurora Specialty Chemicals Ltd", "GB", status="updated", date="2026-02-01")
    d.owns("demo-later-r3", "demo-p-wright", "demo-aurora", 80, start="2026-02-01", date="2026-02-01")
    d.customer("CUST-2101", "demo-aurora")

    d.entity("demo-fjord", "Fjord Seafood AB", "SE")
    d.person("demo-p-berg", "Erik Berg", "SE")
    d.owns("demo-later-r4", "demo-p-berg", "demo-fjord", 100, date="2025-05-01")
    d.entity("demo-fjord-hk", "Victoria Harbour Seafood Trading Limited", "HK")
    d.owns("demo-later-r4", "demo-p-berg", "demo-fjord", 45, status="updated", date="2026-03-01")
    d.owns("demo-later-r5", "demo-fjord-hk", "demo-fjord", 55, start="2026-03-01", date="2026-03-01")
    d.customer("CUST-2102", "demo-fjord")


def regional_distributors(d: Demo, rng: random.Random) -> None:
    """Seeded filler: small distributors with two or three owners from a mixed pool."""
    countries = ["GB", "DE", "FR", "ES", "NL", "SE", "US", "JP", "SG", "CN", "HK", "RU"]
    surnames = ["Moreau", "Fischer", "García", "Okafor", "Nakamura", "Novak", "Rossi", "Kowalski", "Silva", "Ahmed"]
    for number in range(1, 13):
        code = rng.choice(countries[:9])
        rid = f"demo-dist-{number:02d}"
        d.entity(
            rid, f"{rng.choice(['Northwind', 'Bluecrest', 'Silverline', 'Redoak'])} Distribution {number} Ltd", code
        )
        remaining = 100
        for index in range(rng.choice([2, 3])):
            owner = f"demo-p-dist-{number:02d}-{index}"
            nationality = rng.choice(countries)
            d.person(owner, f"{rng.choice(['Alex', 'Sam', 'Kim', 'Robin'])} {rng.choice(surnames)}", nationality)
            share = remaining if index == 2 else rng.choice([10, 20, 25, 30, 45])
            remaining -= share
            d.owns(f"demo-dist-r{number:02d}-{index}", owner, rid, share)
        if number <= 6:
            d.customer(f"CUST-30{number:02d}", rid, f"2025-{number + 2:02d}-15")


def build() -> Demo:
    demo = Demo()
    rng = random.Random(20260115)
    worked_examples(demo)
    state_owned_chains(demo)
    vie_structure(demo)
    offshore_undisclosed(demo)
    listed_companies(demo)
    cross_holdings(demo)
    uk_share_bands(demo)
    russian_group(demo)
    hk_headquartered(demo)
    restricted_persons(demo)
    clean_multinationals(demo)
    time_limited(demo)
    later_statements(demo)
    regional_distributors(demo, rng)
    return demo


if __name__ == "__main__":
    demo = build()
    demo.write()
    print(f"{len(demo.statements)} statements, {len(demo.customers)} customers")

"""Searching the directory on SQLite and PostgreSQL: full text in English and French, filters
(OR within one, AND across), staff-only filters, facet counts, and cursor pages that neither
repeat nor skip. Where the two engines' text search differs, the tests say how.
"""
# Table names in these queries are module constants; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.config import Settings
from api.wiring import System, build_system
from domain.base import Actor, acting_as
from domain.organization import ContactOutcome, RemovalReason
from domain.rules import review_cutoff
from projections.aggregates import iso
from projections.directory import (
    INTERNAL,
    PUBLIC,
    DirectoryPage,
    DirectoryQueries,
    DirectoryQuery,
    InvalidQuery,
    encode_cursor,
    fold,
)
from projections.sql import load_doc
from tests.conftest import _postgres_settings
from tests.e2e.conftest import seed
from tests.helpers import a_key

STAFF = Actor("fictional-staff-3", "staff", request_id="req-fictional-search")


@dataclass(frozen=True)
class Listing:
    """One fictional organization, as the test knows it (independently of the projection)."""

    name: str
    name_fr: str
    kind: str
    provinces: tuple[str, ...]
    services: tuple[tuple[str, str, str, tuple[str, ...]], ...]  # en, fr, category, natures
    focus: tuple[str, ...]
    populations: tuple[str, ...]
    languages: tuple[str, ...]
    about_en: str
    about_fr: str
    extra: dict[str, Any] = field(default_factory=dict)

    def profile(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "nameFr": self.name_fr,
            "descriptionEn": self.about_en,
            "descriptionFr": self.about_fr,
            "services": [
                {"nameEn": en, "nameFr": fr, "category": category, "natures": list(natures)}
                for en, fr, category, natures in self.services
            ],
            "focusAreas": list(self.focus),
            "populations": list(self.populations),
            "languages": list(self.languages),
            "regions": [{"province": p, "municipality": "Fictionville"} for p in self.provinces],
            **self.extra,
        }

    def facets(self) -> dict[str, set[str]]:
        return {
            "kind": {self.kind},
            "province": set(self.provinces),
            "serviceCategory": {s[2] for s in self.services},
            "serviceNature": {n for s in self.services for n in s[3]},
            "focusArea": set(self.focus),
            "population": set(self.populations),
            "language": set(self.languages),
        }


SOCIAL, LEGAL = ("SOCIAL",), ("LEGAL",)
DIRECT = "DIRECT_SERVICE_PROVIDER"

# Included and publicly listed, in the order the directory sorts them (accents folded).
DIRECTORY = [
    Listing(
        "Aurora Youth Shelter",
        "Refuge jeunesse Aurora",
        DIRECT,
        ("CA-ON",),
        (("Shelter", "Hébergement", "EMERGENCY", SOCIAL),),
        ("HUMAN_TRAFFICKING", "HOMELESS_YOUTH"),
        ("YOUTH",),
        ("en", "fr"),
        "Emergency beds for young survivors",
        "Lits d'urgence pour jeunes survivants",
    ),
    Listing(
        "Birchwood Legal Clinic",
        "Clinique juridique Birchwood",
        DIRECT,
        ("CA-QC",),
        (("Legal advice", "Conseils juridiques", "LONG_TERM", LEGAL),),
        ("LABOUR_RIGHTS",),
        ("MIGRANT_WORKERS",),
        ("fr", "en", "es"),
        "Legal advice for migrant workers",
        "Conseils juridiques pour travailleurs migrants",
    ),
    Listing(
        "Cedar Coalition Network",
        "Réseau coalition Cedar",
        "COALITION_OR_NETWORK",
        ("CA-BC", "CA-AB"),
        (("Training", "Formation", "SHORT_TERM_TRANSITIONAL", SOCIAL),),
        ("HUMAN_TRAFFICKING",),
        ("ALL",),
        ("en",),
        "Training for frontline agencies",
        "Formation pour organismes de première ligne",
    ),
    Listing(
        "Dogwood Police Service",
        "Service de police Dogwood",
        "LAW_ENFORCEMENT_AGENCY",
        ("CA-BC",),
        (),
        ("HUMAN_TRAFFICKING",),
        ("ADULTS",),
        ("en",),
        "Investigations unit",
        "Unité des enquêtes",
    ),
    Listing(
        "Évangéline Transition House",
        "Maison de transition Évangéline",
        DIRECT,
        ("CA-NB",),
        (("Transitional housing", "Hébergement de transition", "SHORT_TERM_TRANSITIONAL", SOCIAL),),
        ("DOMESTIC_VIOLENCE",),
        ("WOMEN",),
        ("fr", "en"),
        "Transitional housing for women",
        "Logement de transition pour femmes",
    ),
    Listing(
        "Fireweed Health Centre",
        "Centre de santé Fireweed",
        DIRECT,
        ("CA-YT",),
        (("Clinic", "Clinique", "LONG_TERM", SOCIAL),),
        ("HEALTH_CARE", "INDIGENOUS_SPECIFIC"),
        ("INDIGENOUS_PEOPLES",),
        ("en", "cr"),
        "Health care close to home",
        "Soins de santé près de chez soi",
    ),
    Listing(
        "Glacier Newcomer Services",
        "Services aux nouveaux arrivants Glacier",
        "INDIRECT_SERVICE_PROVIDER",
        ("CA-AB",),
        (("Settlement", "Établissement", "SHORT_TERM_TRANSITIONAL", SOCIAL + LEGAL),),
        ("IMMIGRATION_AND_REFUGEE",),
        ("NEWCOMERS_AND_REFUGEES",),
        ("en", "ar"),
        "Settlement support for newcomers",
        "Soutien à l'établissement",
    ),
    Listing(
        "Harbour Light Shelter",
        "Refuge Harbour Light",
        DIRECT,
        ("CA-NS",),
        (("Emergency shelter", "Hébergement d'urgence", "EMERGENCY", SOCIAL),),
        ("HUMAN_TRAFFICKING",),
        ("WOMEN",),
        ("en",),
        "Shelters and safe rooms for survivors",
        "Refuges et chambres sûres",
    ),
    Listing(
        "Inukshuk Youth Outreach",
        "Approche jeunesse Inukshuk",
        DIRECT,
        ("CA-NU",),
        (("Outreach", "Approche de rue", "EMERGENCY", SOCIAL),),
        ("INDIGENOUS_SPECIFIC", "HOMELESS_YOUTH"),
        ("YOUTH", "INDIGENOUS_PEOPLES"),
        ("iu", "en"),
        "Street outreach for youth",
        "Travail de rue auprès des jeunes",
    ),
    Listing(
        "Juniper Government Office",
        "Bureau gouvernemental Juniper",
        "GOVERNMENT_BODY",
        ("CA-ON",),
        (),
        ("OTHER",),
        ("ALL",),
        ("en", "fr"),
        "Funding programs",
        "Programmes de financement",
    ),
]
NAMES = [listing.name for listing in DIRECTORY]
BY_NAME = {listing.name: listing for listing in DIRECTORY}
# In the internal directory only: listed, but not (or no longer) included.
SUBMITTED, DECLINED, REMOVED = (
    "Kestrel Applicant Shelter",
    "Larch Declined Shelter",
    "Maple Removed Shelter",
)


def a_directory(system: System) -> dict[str, UUID]:
    ids = {
        listing.name: seed(system, listing.name, province=listing.provinces[0], **listing.profile())
        for listing in DIRECTORY
    }
    for name in (SUBMITTED, DECLINED, REMOVED):
        ids[name] = seed(system, name, included=name == REMOVED)
    with acting_as(STAFF):
        system.app.start_review(a_key(), ids[DECLINED])
        system.app.decline_inclusion(a_key(), ids[DECLINED], "Fictional: criteria not met.")
        system.app.remove_organization(
            a_key(), ids[REMOVED], RemovalReason.ORGANIZATION_REQUEST, ""
        )
    system.projector.catch_up()
    return ids


@pytest.fixture
def org_ids(system: System) -> dict[str, UUID]:
    return a_directory(system)


def names(page: DirectoryPage) -> list[str]:
    return [doc["nameEn"] for doc in page.docs]


def search(system: System, scope: str = PUBLIC, **query: Any) -> list[str]:
    return names(system.directory.search(scope, DirectoryQuery(first=50, **query)))


def walk(system: System, scope: str, query: DirectoryQuery) -> list[DirectoryPage]:
    """Every page of a search, following the cursors to the end."""
    pages = [system.directory.search(scope, query)]
    while pages[-1].has_next_page:
        assert len(pages) < 50, "the cursor does not move"
        pages.append(system.directory.search(scope, replace(query, after=pages[-1].end_cursor)))
    return pages


# -- full text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shelters", ["Aurora Youth Shelter", "Harbour Light Shelter"]),  # English plural stemmed
        ("SHELTER", ["Aurora Youth Shelter", "Harbour Light Shelter"]),
        ("survivor", ["Aurora Youth Shelter", "Harbour Light Shelter"]),
        ("youth shelter", ["Aurora Youth Shelter"]),  # every word must match
        ("cliniques", ["Birchwood Legal Clinic", "Fireweed Health Centre"]),  # French plural
        (
            "hébergements",
            ["Aurora Youth Shelter", "Évangéline Transition House", "Harbour Light Shelter"],
        ),
        ("juridique", ["Birchwood Legal Clinic"]),
        ("fictionville", NAMES),  # the municipality is searchable
        ("nowhere-to-be-found", []),
    ],
)
def test_full_text_search_stems_english_and_french_words_on_both_stores(
    system: System,
    org_ids: dict[str, UUID],
    text: str,
    expected: list[str],
) -> None:
    assert search(system, text=text) == expected


def test_accents_are_folded_on_both_stores_so_words_typed_without_them_still_match(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    accented = ["Aurora Youth Shelter", "Évangéline Transition House", "Harbour Light Shelter"]
    assert search(system, text="hébergement") == accented
    # SQLite's FTS5 tokenizer removes diacritics; on PostgreSQL the indexed text and the query
    # are both folded before text search, so callers need not type the accents anywhere.
    assert search(system, text="hebergement") == accented
    assert search(system, text="Evangeline") == ["Évangéline Transition House"]


def test_french_stop_words_match_on_sqlite_but_are_ignored_on_postgresql(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    with_pour = [
        "Aurora Youth Shelter",
        "Birchwood Legal Clinic",
        "Cedar Coalition Network",
        "Évangéline Transition House",
    ]
    if system.store.dialect == "sqlite":  # FTS5 has no stop-word list
        assert search(system, text="pour") == with_pour
    else:  # PostgreSQL's 'french' configuration drops "pour"; 'english' keeps it as a word
        assert search(system, text="pour") == []


def test_the_internal_directory_searches_organizations_the_public_one_does_not_hold(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    assert search(system, INTERNAL, text="shelters") == [
        "Aurora Youth Shelter",
        "Harbour Light Shelter",
        SUBMITTED,
        DECLINED,
        REMOVED,
    ]
    assert search(system, PUBLIC, text="kestrel") == []


# -- filters -------------------------------------------------------------------------------

FILTERS: list[dict[str, list[str]]] = [
    {"province": ["CA-ON"]},
    {"province": ["CA-ON", "CA-QC"]},
    {"province": ["CA-AB"]},
    {"serviceCategory": ["EMERGENCY"]},
    {"serviceNature": ["LEGAL"]},
    {"focusArea": ["HUMAN_TRAFFICKING"]},
    {"population": ["YOUTH", "WOMEN"]},
    {"language": ["fr"]},
    {"kind": ["LAW_ENFORCEMENT_AGENCY", "GOVERNMENT_BODY"]},
    {"focusArea": ["HUMAN_TRAFFICKING"], "province": ["CA-BC", "CA-NS"]},
    {"population": ["YOUTH"], "language": ["iu"]},
    {"kind": [DIRECT], "serviceCategory": ["EMERGENCY"], "province": ["CA-ON", "CA-NU"]},
    {"province": ["CA-PE"]},
]


def matching(filters: dict[str, list[str]]) -> list[str]:
    """Any of the values within a filter, all of the filters."""
    return [
        listing.name
        for listing in DIRECTORY
        if all(listing.facets()[facet] & set(values) for facet, values in filters.items())
    ]


@pytest.mark.parametrize(
    "filters",
    FILTERS,
    ids=lambda f: "+".join(f"{facet}={'|'.join(values)}" for facet, values in f.items()),
)
def test_filters_match_any_value_within_a_filter_and_every_filter(
    system: System,
    org_ids: dict[str, UUID],
    filters: dict[str, list[str]],
) -> None:
    expected = matching(filters)

    assert search(system, PUBLIC, facets=filters) == expected
    assert search(system, INTERNAL, facets=filters, statuses=["INCLUDED"]) == expected


def test_spot_checks_of_the_filter_semantics(system: System, org_ids: dict[str, UUID]) -> None:
    # Written out by hand, so a slip in matching() cannot hide one in the store.
    assert search(system, facets={"province": ["CA-ON", "CA-QC"]}) == [
        "Aurora Youth Shelter",
        "Birchwood Legal Clinic",
        "Juniper Government Office",
    ]
    assert search(
        system, facets={"focusArea": ["HUMAN_TRAFFICKING"], "province": ["CA-BC", "CA-NS"]}
    ) == ["Cedar Coalition Network", "Dogwood Police Service", "Harbour Light Shelter"]
    assert search(system, text="shelter", facets={"province": ["CA-ON"]}) == [
        "Aurora Youth Shelter"
    ]


def test_an_unknown_filter_is_refused_by_name(system: System, org_ids: dict[str, UUID]) -> None:
    with pytest.raises(InvalidQuery, match="unknown filter colour"):
        search(system, facets={"colour": ["BLUE"]})


# -- staff-only filters ---------------------------------------------------------------------


def test_staff_filter_the_internal_directory_by_status(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    assert search(system, INTERNAL, statuses=["SUBMITTED", "DECLINED"]) == [SUBMITTED, DECLINED]
    assert search(system, INTERNAL, statuses=["REMOVED"]) == [REMOVED]
    assert search(system, INTERNAL, statuses=["INCLUDED"]) == NAMES
    # The public directory holds included organizations only, whatever a caller asks for.
    assert search(system, PUBLIC, statuses=["DECLINED", "REMOVED"]) == NAMES


def test_staff_find_organizations_due_for_their_periodic_review(
    system: System,
    org_ids: dict[str, UUID],
    settings: Settings,
) -> None:
    confirmed_before = iso(datetime.now(UTC))
    with acting_as(STAFF):
        system.app.confirm_review(a_key(), org_ids["Aurora Youth Shelter"], "Fictional check.")
    system.projector.catch_up()
    now = datetime.now(UTC)

    assert search(system, INTERNAL, review_due_before=confirmed_before) == NAMES[1:]
    assert (
        search(
            system,
            INTERNAL,
            review_due_before=iso(review_cutoff(now, settings.review_interval_days)),
        )
        == []
    )
    in_the_future = iso(
        review_cutoff(
            now + timedelta(days=settings.review_interval_days + 1), settings.review_interval_days
        )
    )
    assert search(system, INTERNAL, review_due_before=in_the_future) == NAMES


def test_staff_find_organizations_flagged_unreachable_after_three_failed_attempts(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    def attempt(name: str, outcome: ContactOutcome) -> None:
        with acting_as(STAFF):
            system.app.record_contact_attempt(a_key(), org_ids[name], outcome, "Fictional call.")
        system.projector.catch_up()

    for _ in range(2):
        attempt("Harbour Light Shelter", ContactOutcome.NO_ANSWER)
        attempt("Glacier Newcomer Services", ContactOutcome.LEFT_MESSAGE)
    assert search(system, INTERNAL, flagged_unreachable=True) == []

    attempt("Harbour Light Shelter", ContactOutcome.NO_REPLY_TO_EMAIL)

    assert search(system, INTERNAL, flagged_unreachable=True) == ["Harbour Light Shelter"]
    assert "Harbour Light Shelter" not in search(system, INTERNAL, flagged_unreachable=False)
    assert len(search(system, INTERNAL, flagged_unreachable=False)) == len(NAMES) + 2

    attempt("Harbour Light Shelter", ContactOutcome.REACHED)

    assert search(system, INTERNAL, flagged_unreachable=True) == []


# -- facets --------------------------------------------------------------------------------


def counted(docs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for doc in docs:
        values = {
            "kind": {doc["kind"]},
            "province": {r["province"] for r in doc["regions"]},
            "serviceCategory": {s["category"] for s in doc["services"]},
            "serviceNature": {n for s in doc["services"] for n in s["natures"]},
            "focusArea": set(doc["focusAreas"]),
            "population": set(doc["populations"]),
            "language": set(doc["languages"]),
        }
        for facet, found in values.items():
            counts.setdefault(facet, Counter()).update(found)
    return {facet: dict(counter) for facet, counter in counts.items()}


@pytest.mark.parametrize(
    "query",
    [
        DirectoryQuery(first=3),
        DirectoryQuery(first=3, facets={"province": ["CA-ON", "CA-QC", "CA-AB"]}),
        DirectoryQuery(first=3, text="shelter"),
        DirectoryQuery(first=3, facets={"kind": [DIRECT], "language": ["fr"]}),
    ],
    ids=["everything", "three-provinces", "text", "kind-and-language"],
)
def test_facet_counts_and_total_describe_the_whole_filtered_set_not_the_page(
    system: System,
    org_ids: dict[str, UUID],
    query: DirectoryQuery,
) -> None:
    pages = walk(system, PUBLIC, query)
    docs = [doc for page in pages for doc in page.docs]

    assert docs  # the query matches something
    for page in pages:
        assert page.total == len(docs)
        assert page.facets == counted(docs)


def test_facet_counts_in_the_internal_directory_follow_the_staff_filters(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    page = system.directory.search(INTERNAL, DirectoryQuery(statuses=["SUBMITTED", "REMOVED"]))

    assert page.total == 2
    assert page.facets["province"] == {"CA-ON": 2}
    assert page.facets["kind"] == {DIRECT: 2}


# -- cursor pages --------------------------------------------------------------------------


def test_walking_pages_of_three_lists_every_organization_once_in_order(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    pages = walk(system, PUBLIC, DirectoryQuery(first=3))

    assert [len(page.docs) for page in pages] == [3, 3, 3, 1]
    assert [page.has_next_page for page in pages] == [True, True, True, False]
    assert [name for page in pages for name in names(page)] == NAMES
    assert [doc["id"] for page in pages for doc in page.docs] == [
        str(org_ids[name]) for name in NAMES
    ]
    beyond = system.directory.search(PUBLIC, DirectoryQuery(first=3, after=pages[-1].end_cursor))
    assert (beyond.docs, beyond.has_next_page, beyond.end_cursor) == ([], False, None)


def test_organizations_added_during_a_walk_are_neither_repeated_nor_make_others_skipped(
    system: System,
    org_ids: dict[str, UUID],
) -> None:
    first = system.directory.search(PUBLIC, DirectoryQuery(first=3))
    assert names(first) == NAMES[:3]

    seed(system, "Aaron Early Shelter")  # sorts before the cursor: not in this walk
    seed(system, "Hawthorn Late Shelter")  # sorts after it: met in its place
    rest = walk(system, PUBLIC, DirectoryQuery(first=3, after=first.end_cursor))

    listed = names(first) + [name for page in rest for name in names(page)]
    assert listed == [*NAMES[:8], "Hawthorn Late Shelter", *NAMES[8:]]


def test_organizations_with_the_same_name_are_ordered_by_id_across_pages(
    system: System,
) -> None:
    twins = sorted(str(seed(system, "Example Twin Shelter")) for _ in range(5))

    pages = walk(system, PUBLIC, DirectoryQuery(first=2))

    assert [doc["id"] for page in pages for doc in page.docs] == twins


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        base64.urlsafe_b64encode(b"{}").decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
        base64.urlsafe_b64encode(b'["only one"]').decode(),
        base64.urlsafe_b64encode(b'["a", "b", "c"]').decode(),
        base64.urlsafe_b64encode(b'["a", "\xff"]').decode(),
    ],
    ids=["text", "symbols", "object", "numbers", "one", "three", "not-utf8"],
)
def test_a_malformed_cursor_is_refused_with_a_clear_message(
    system: System,
    org_ids: dict[str, UUID],
    cursor: str,
) -> None:
    with pytest.raises(InvalidQuery, match=r"^after: not a cursor returned by this API$"):
        system.directory.search(PUBLIC, DirectoryQuery(after=cursor))


@pytest.mark.parametrize(
    "cursor",
    [
        encode_cursor("\x00", "x"),
        base64.urlsafe_b64encode(b'["\\ud800", "x"]').decode(),
        base64.urlsafe_b64encode(b'"ab"').decode(),
        base64.urlsafe_b64encode(b'{"a": 1, "b": 2}').decode(),
    ],
    ids=["nul", "lone-surrogate", "two-character-string", "two-key-object"],
)
def test_a_forged_cursor_is_refused_like_any_malformed_one(
    system: System,
    org_ids: dict[str, UUID],
    cursor: str,
) -> None:
    with pytest.raises(InvalidQuery, match=r"^after: not a cursor returned by this API$"):
        system.directory.search(PUBLIC, DirectoryQuery(after=cursor))


# -- the same answers on both stores -----------------------------------------------------------


@pytest.fixture
def both_stores(tmp_path: Path) -> Iterator[dict[str, System]]:
    """The same directory written to SQLite and to PostgreSQL, side by side."""
    postgres_settings = _postgres_settings(tmp_path / "postgres")
    systems = {
        "sqlite": build_system(
            Settings(data_dir=tmp_path / "sqlite", jwt_secret="test-secret-" + "x" * 32)
        ),
        "postgres": build_system(next(postgres_settings)),
    }
    try:
        for system in systems.values():
            a_directory(system)
        yield systems
    finally:
        for system in systems.values():
            system.close()
        next(postgres_settings, None)  # runs the fixture's clean-up: drops the schema


AGREED = [
    DirectoryQuery(first=50),
    DirectoryQuery(first=50, text="shelters"),
    DirectoryQuery(first=50, text="youth"),
    DirectoryQuery(first=50, text="hébergements"),
    DirectoryQuery(first=50, text="cliniques"),
    DirectoryQuery(first=50, text="training", facets={"province": ["CA-AB"]}),
    DirectoryQuery(first=50, facets={"population": ["YOUTH", "WOMEN"], "language": ["en"]}),
    DirectoryQuery(first=50, facets={"kind": [DIRECT]}, statuses=["INCLUDED", "REMOVED"]),
    DirectoryQuery(first=4, facets={"focusArea": ["HUMAN_TRAFFICKING", "HOMELESS_YOUTH"]}),
]


@pytest.mark.postgres
def test_sqlite_and_postgresql_return_the_same_organizations_in_the_same_order(
    both_stores: dict[str, System],
) -> None:
    for query in AGREED:
        for scope in (PUBLIC, INTERNAL):
            answers = {
                store: [
                    (names(page), page.total, page.facets, page.has_next_page)
                    for page in walk(system, scope, query)
                ]
                for store, system in both_stores.items()
            }
            assert answers["sqlite"] == answers["postgres"], (scope, query)
            assert answers["sqlite"][0][0], (scope, query)  # not agreeing on nothing


@pytest.mark.postgres
def test_the_stores_differ_only_where_their_text_search_engines_do(
    both_stores: dict[str, System],
) -> None:
    def found(store: str, text: str) -> list[str]:
        return search(both_stores[store], text=text)

    for text in ("hebergement", "Evangeline"):  # accents are folded on both stores
        assert found("sqlite", text) == found("postgres", text) != [], text
    # A French stop word: FTS5 has no stop-word list, PostgreSQL's 'french' drops it.
    assert found("sqlite", "pour") != found("postgres", "pour") == []


# -- the plans a search may take -------------------------------------------------------------

COMBINED = [
    DirectoryQuery(first=2, text="shelter", facets={"province": ["CA-ON", "CA-NS"]}),
    DirectoryQuery(
        first=2, text="fictionville", facets={"language": ["en"], "population": ["YOUTH", "WOMEN"]}
    ),
    DirectoryQuery(
        first=1, text="youth", facets={"focusArea": ["HOMELESS_YOUTH"], "kind": [DIRECT]}
    ),
    DirectoryQuery(first=2, text="fictionville", facets={"serviceCategory": ["EMERGENCY"]}),
    DirectoryQuery(
        first=2, facets={"province": ["CA-BC", "CA-AB"], "focusArea": ["HUMAN_TRAFFICKING"]}
    ),
    DirectoryQuery(first=3, text="hébergement"),
    DirectoryQuery(first=2),
    DirectoryQuery(first=2, text="nowhere-to-be-found", facets={"province": ["CA-ON"]}),
]
# Thresholds that send every search of this small directory down each way a page is found on
# SQLite: gathering the words' matches, walking the sort index, a walk cut short that then
# gathers. PostgreSQL's planner chooses for itself; it must answer the same under each.
STRATEGIES = {
    "as-configured": {},
    "words-walk": {"RARE_MATCHES": 1},
    "short-walks-then-gather": {"RARE_MATCHES": 1, "WALK_ROWS": 3},
    "one-row-walks-then-gather": {"RARE_MATCHES": 1, "WALK_ROWS": 1},
}


def searched_before(system: System, scope: str, query: DirectoryQuery) -> list[str]:
    """The search as one statement, every condition a list of ids, the way it was written
    before a search chose how to find its page: what every way of finding it must answer."""
    where: list[str] = []
    params: list[Any] = []
    if query.text:
        if system.store.dialect == "postgres":
            text = fold(query.text)
            where.append(
                "search @@ (plainto_tsquery('english', %s) || plainto_tsquery('french', %s))"
            )
            params += [text, text]
        else:
            where.append(f"id IN (SELECT id FROM {scope}_fts WHERE {scope}_fts MATCH %s)")
            params.append(f'"{query.text}"')
    for facet, values in sorted(query.facets.items()):
        where.append(
            f"id IN (SELECT id FROM {scope}_facets WHERE facet = %s "
            f"AND value IN ({', '.join(['%s'] * len(values))}))"
        )
        params += [facet, *values]
    if query.statuses:
        where.append(f"status IN ({', '.join(['%s'] * len(query.statuses))})")
        params += list(query.statuses)
    with system.store.read() as cursor:
        rows = cursor.execute(
            f"SELECT doc FROM {scope} WHERE {' AND '.join(where) or 'TRUE'} ORDER BY sort_key, id",
            params,
        ).fetchall()
    return [load_doc(row[0])["nameEn"] for row in rows]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_way_of_finding_a_page_answers_what_one_plain_statement_answers(
    system: System,
    org_ids: dict[str, UUID],
    strategy: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in STRATEGIES[strategy].items():
        monkeypatch.setattr(DirectoryQueries, name, value)

    def answers() -> list[tuple[list[str], list[str], int]]:
        found = []
        for query in COMBINED:
            for scope, asked in (
                (PUBLIC, query),
                (INTERNAL, replace(query, statuses=["INCLUDED", "REMOVED"])),
            ):
                pages = walk(system, scope, asked)
                found.append(
                    (
                        [name for page in pages for name in names(page)],
                        searched_before(system, scope, asked),
                        pages[0].total,
                    )
                )
        return found

    before_rebuild = answers()
    for walked, expected, total in before_rebuild:
        assert walked == expected
        assert total == len(expected)
    assert sum(bool(walked) for walked, _, _ in before_rebuild) >= 12  # not agreeing on nothing

    system.projector.rebuild()  # rows copied into place keep what links them

    assert answers() == before_rebuild
    assert unlinked_full_text(system) == 0
    if system.store.dialect == "postgres":  # the planner's facet statistics came along
        with system.store.read() as cursor:
            found = cursor.execute(
                "SELECT stxname FROM pg_statistic_ext WHERE stxnamespace = "
                "current_schema()::regnamespace ORDER BY 1"
            ).fetchall()
        assert [row[0] for row in found] == [f"{INTERNAL}_facets_pairs", f"{PUBLIC}_facets_pairs"]


def unlinked_full_text(system: System) -> int:
    """SQLite: full-text rows whose rowid is not their organization's (none, ever)."""
    if system.store.dialect != "sqlite":
        return 0
    with system.store.read() as cursor:
        return sum(
            cursor.execute(
                f"SELECT COUNT(*) FROM {scope}_fts f LEFT JOIN {scope} t ON t.rowid = f.rowid "
                "WHERE t.id IS NOT f.id"
            ).fetchone()[0]
            for scope in (PUBLIC, INTERNAL)
        )

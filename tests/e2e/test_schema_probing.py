"""A caller who may not introspect cannot map the schema one name at a time.

Every pair of documents below differs in one name only: a real one of the schema (a type, an
enum value, an input field, a field, a directive, a filter the role may not use) against an
invented one. For the public, partners and liaisons each pair must get the same answer, byte
for byte: status, headers and body. The pairs are generated from the schema itself, so a new
name is probed the day it is added: every name of the schema is probed by one of the three
roles in turn (those probes do not depend on the role: each document is invalid for all), and
every filter a role may not use by that role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
)
from starlette.applications import Starlette

from api.app import create_app
from api.config import Settings
from api.hardening import POLICED_INPUTS
from api.schema.adapter import graphql_schema
from api.wiring import System, build_system

UNTRUSTED = ["public", "partner", "law_enforcement"]
AN_ORGANIZATION = "0c0ffee0-0000-4000-8000-00000000f1c7"
GENERIC = (
    b'{"data":null,"errors":[{"message":"The query is not valid for this API.",'
    b'"extensions":{"code":"INVALID_QUERY"}}]}'
)
INVENTED = "Zq"  # appended to a real name; no name of the schema ends so


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Starlette]]:
    """One server for the whole module: nothing here reaches a store (every document is
    refused before it runs), so one store is enough."""
    folder: Path = tmp_path_factory.mktemp("probing")
    system = build_system(Settings(data_dir=folder, jwt_secret="test-secret-" + "x" * 32))
    try:
        yield system, create_app(system, run_projections=False)
    finally:
        system.close()


def names(system: System) -> dict[str, Any]:
    schema = graphql_schema(system.schema)
    return {name: t for name, t in schema.type_map.items() if not name.startswith("__")}


def invented(name: str) -> str:
    return name + (INVENTED.upper() if name.isupper() else INVENTED)


def a_value(graphql_type: Any) -> str:
    """A literal of the right type (for an enum, its first value)."""
    while isinstance(graphql_type, GraphQLNonNull):
        graphql_type = graphql_type.of_type
    if isinstance(graphql_type, GraphQLList):
        return f"[{a_value(graphql_type.of_type)}]"
    if isinstance(graphql_type, GraphQLEnumType):
        first: str = next(iter(graphql_type.values))
        return first
    if isinstance(graphql_type, GraphQLScalarType) and graphql_type.name == "Boolean":
        return "true"
    return '"x"'


Pair = tuple[str, tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]


def document_pairs(system: System) -> Iterator[Pair]:
    """(what, real, invented): documents with their variables, differing in one name."""
    types = names(system)
    for name in types:
        yield (
            f"variable type {name}",
            (f"query($v: {name}) {{ __typename }}", {}),
            (f"query($v: {invented(name)}) {{ __typename }}", {}),
        )
        yield (
            f"fragment on {name}",
            (f"fragment F on {name} {{ __typename }} {{ __typename }}", {}),
            (f"fragment F on {invented(name)} {{ __typename }} {{ __typename }}", {}),
        )
    for name, t in types.items():
        if isinstance(t, GraphQLEnumType):
            for value in t.values:
                yield (
                    f"enum value {name}.{value}",
                    (f"query($v: {name} = {value}) {{ __typename }}", {}),
                    (f"query($v: {name} = {invented(value)}) {{ __typename }}", {}),
                )
        elif isinstance(t, GraphQLInputObjectType):
            for field in t.fields:
                yield (
                    f"input field {name}.{field}",
                    (f"query($v: {name} = {{{field}: null}}) {{ __typename }}", {}),
                    (f"query($v: {name} = {{{invented(field)}: null}}) {{ __typename }}", {}),
                )
        elif isinstance(t, GraphQLObjectType):
            for field in t.fields:
                yield (
                    f"field {name}.{field}",
                    (f"fragment F on {name} {{ {field} }} {{ __typename }}", {}),
                    (f"fragment F on {name} {{ {invented(field)} }} {{ __typename }}", {}),
                )
    for directive in graphql_schema(system.schema).directives:
        yield (
            f"directive @{directive.name}",
            (f"{{ __typename @{directive.name} }}", {}),
            (f"{{ __typename @{invented(directive.name)} }}", {}),
        )


def filter_pairs(system: System, role: str) -> Iterator[Pair]:
    """Each filter the role may not use, named in the document and in the variables, with a
    null, a real value and (for an enum) an invented value, against an invented filter."""
    schema = graphql_schema(system.schema)
    roots = {
        "DirectoryFilter": ("directory", "totalCount"),
        "CaseFilter": ("cases", "items { id }"),
    }
    assert set(roots) == set(POLICED_INPUTS)
    for input_name, (root, selection) in roots.items():

        def literal(field: str, value: str, root: str = root, selection: str = selection) -> str:
            return f"{{ {root}(filter: {{ {field}: {value} }}) {{ {selection} }} }}"

        variable = f"query($f: {input_name}) {{ {root}(filter: $f) {{ {selection} }} }}"
        input_type = schema.type_map[input_name]
        assert isinstance(input_type, GraphQLInputObjectType)
        for field, definition in input_type.fields.items():
            if system.policy.allows(role, f"{input_name}.{field}", "filter"):
                continue
            value = a_value(definition.type)
            what = f"filter {input_name}.{field}"
            for given in ("null", value):
                yield (
                    f"{what} = {given}",
                    (literal(field, given), {}),
                    (literal(invented(field), given), {}),
                )
                raw = _json_value(given)
                yield (
                    f"{what} = ${given}",
                    (variable, {"f": {field: raw}}),
                    (variable, {"f": {invented(field): raw}}),
                )
            if value.strip("[]").isupper():
                wrong = value.replace(value.strip("[]"), invented(value.strip("[]")))
                yield (
                    f"{what} = {wrong}",
                    (literal(field, value), {}),
                    (literal(field, wrong), {}),
                )
                yield (
                    f"{what} = ${wrong}",
                    (variable, {"f": {field: _json_value(value)}}),
                    (variable, {"f": {field: _json_value(wrong)}}),
                )


def _json_value(literal: str) -> Any:
    if literal == "null":
        return None
    if literal == "true":
        return True
    if literal.startswith("["):
        return [_json_value(literal[1:-1])]
    return literal.strip('"')


Answer = tuple[int, list[tuple[str, str]], bytes]


def answers(
    app: Starlette, token: str | None, documents: list[tuple[str, dict[str, Any]]]
) -> list[Answer]:
    """Each document's whole answer, in order, over HTTP to the app in this process."""
    headers = {"authorization": f"Bearer {token}"} if token else {}

    async def ask() -> list[Answer]:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), base_url="http://nrd.test"
        ) as client:
            found = []
            for query, variables in documents:
                response = await client.post(
                    "/graphql", headers=headers, json={"query": query, "variables": variables}
                )
                found.append(
                    (response.status_code, sorted(response.headers.items()), response.content)
                )
            return found

    return asyncio.run(ask())


def token_for(system: System, role: str) -> str | None:
    if role == "public":
        return None
    return system.auth.issue(role, f"fictional-{role}-prober", AN_ORGANIZATION)


def differing(
    app: Starlette, token: str | None, pairs: list[Pair]
) -> list[tuple[str, bytes, bytes]]:
    documents = [document for _, real, made_up in pairs for document in (real, made_up)]
    got = answers(app, token, documents)
    found = []
    for index, (what, _, _) in enumerate(pairs):
        first, second = got[2 * index], got[2 * index + 1]
        if first != second or first[2] != GENERIC:
            found.append((what, first[2], second[2]))
    return found


@pytest.mark.parametrize("turn", range(len(UNTRUSTED)))
def test_documents_differing_in_one_name_get_byte_identical_answers(
    probe: tuple[System, Starlette], turn: int
) -> None:
    system, app = probe
    role = UNTRUSTED[turn]
    every = list(document_pairs(system))
    assert len(every) > 700  # every name of the schema is there
    mine = every[turn :: len(UNTRUSTED)]
    assert differing(app, token_for(system, role), mine) == []


@pytest.mark.parametrize("role", UNTRUSTED)
def test_a_filter_the_role_may_not_use_answers_as_one_that_does_not_exist(
    probe: tuple[System, Starlette], role: str
) -> None:
    system, app = probe
    pairs = list(filter_pairs(system, role))
    assert len(pairs) >= 18
    assert differing(app, token_for(system, role), pairs) == []
    # The finding's own probe: `statuses` is real, `statusez` is not.
    real, made_up = answers(
        app,
        token_for(system, role),
        [
            ("{ directory(filter: {statuses: [INCLUDED]}) { totalCount } }", {}),
            ("{ directory(filter: {statusez: [INCLUDED]}) { totalCount } }", {}),
        ],
    )
    assert real == made_up
    assert real[2] == GENERIC


@pytest.mark.parametrize("role", ["staff", "supervisor", "compliance"])
def test_the_hotline_is_still_told_which_name_is_wrong(
    probe: tuple[System, Starlette], role: str
) -> None:
    system, app = probe
    unknown, refused = answers(
        app,
        system.auth.issue(role, f"fictional-{role}-1"),
        [
            ("query($f: Kase) { __typename }", {}),
            (
                "{ directory(filter: {reviewDue: true}) { totalCount } "
                "cases(filter: {callerPhone: null}) { items { id } } }",
                {},
            ),
        ],
    )
    assert b"Unknown type 'Kase'" in unknown[2]
    if role == "compliance":
        assert (
            b"CaseFilter.callerPhone is not available to the compliance role as a filter"
            in (refused[2])
        )
    else:
        assert refused[2].startswith(b'{"data":{"directory"'), refused

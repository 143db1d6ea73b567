"""The schema as SDL: committed, current, and described from end to end.

GraphiQL, code generators and IDE plugins read the schema's descriptions; so does anyone
reviewing ``schema.graphql``. Every type, field, argument, input field and enum value says what
it is, and the committed file is what the code builds.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)

from api.cli import main
from api.schema.adapter import graphql_schema
from api.schema.build import build_schema, schema_sdl

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "nrd schema --output schema.graphql"


def undescribed(schema: GraphQLSchema) -> list[str]:
    """Every schema coordinate without a description (built-in scalars and introspection
    types carry graphql-core's own)."""
    missing: list[str] = []
    for name, graphql_type in schema.type_map.items():
        if name.startswith("__"):
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({arg})"
                    for arg, value in field.args.items()
                    if not value.description
                ]
        elif isinstance(graphql_type, GraphQLInputObjectType):
            missing += [
                f"{name}.{field_name}"
                for field_name, field in graphql_type.fields.items()
                if not field.description
            ]
        elif isinstance(graphql_type, GraphQLEnumType):
            missing += [
                f"{name}.{value_name}"
                for value_name, value in graphql_type.values.items()
                if not value.description
            ]
    return missing


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing = undescribed(graphql_schema(build_schema([])))
    assert missing == [], f"{len(missing)} without a description: {', '.join(missing)}"


@strawberry.enum(description="A colour, described; its value is not.")
class Colour(Enum):
    RED = "RED"


@strawberry.input
class Where:
    near: str


@strawberry.type
class Undescribed:
    @strawberry.field
    def shade(self, where: Where, colour: Colour) -> str:
        return "red"


def test_the_walk_finds_what_lacks_a_description() -> None:
    """The control for the test above: a schema with gaps is caught at every kind of place."""
    missing = set(undescribed(graphql_schema(strawberry.Schema(query=Undescribed))))
    assert missing == {
        "Undescribed",
        "Undescribed.shade",
        "Undescribed.shade(where)",
        "Undescribed.shade(colour)",
        "Where",
        "Where.near",
        "Colour.RED",
    }


def test_the_committed_schema_is_the_one_the_code_builds() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), f"schema.graphql is stale: regenerate it with `{REGENERATE}`"


def test_nrd_schema_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_sdl()


def test_nrd_schema_writes_it_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    assert main(["schema", "--output", str(target)]) == 0
    assert target.read_text() == schema_sdl()
    assert "An organization in the National Referral Directory." in target.read_text()

"""The domain stays pure: its aggregates know nothing of the web, the database or the policies;
and the libraries are used through their front doors, their private members only in adapters."""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import inspect
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from eventsourcing.application import Application
from eventsourcing.postgres import PostgresAggregateRecorder
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"
# The aggregates' contract names its modules (pyproject.toml): the use cases and the write path
# are outside it because they are not in its list, not by a file name exempted here.
AGGREGATE_CONTRACT = next(
    contract
    for contract in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    if contract["name"].startswith("The domain stays pure")
)

# `python -m importlinter.cli` has no __main__ guard and would exit 0 without checking a thing.
RUN_IMPORT_LINTER = (
    "import sys; from importlinter.cli import lint_imports_command; "
    "sys.exit(lint_imports_command())"
)


def test_the_import_linter_contracts_in_pyproject_hold() -> None:
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", RUN_IMPORT_LINTER, "--config", "pyproject.toml", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "The domain stays pure" in report
    assert "KEPT" in report
    assert "BROKEN" not in report


def imported_modules(source: str) -> set[str]:
    """Absolute names of every module a source imports; relative imports stay in the package."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                modules.add("domain")
            elif node.module in ("eventsourcing", "domain"):
                modules.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif node.module is not None:
                modules.add(node.module)
    return modules


def allowed(module: str, in_file: str) -> bool:
    top = module.split(".")[0]
    return (
        top in sys.stdlib_module_names
        or top == "__future__"
        or module == "eventsourcing.domain"
        or module.startswith("eventsourcing.domain.")
        or top == "domain"
        or (top == "pycountry" and in_file == "vocabulary.py")
    )


def forbidden_imports(path: Path) -> set[str]:
    return {m for m in imported_modules(path.read_text()) if not allowed(m, path.name)}


AGGREGATE_MODULES = sorted(
    DOMAIN / f"{name.removeprefix('domain.')}.py" for name in AGGREGATE_CONTRACT["source_modules"]
)


def test_the_domain_has_aggregate_modules_to_check() -> None:
    names = {p.name for p in AGGREGATE_MODULES}
    assert {
        "base.py",
        "organization.py",
        "reporting_protocol.py",
        "idempotency.py",
        "vocabulary.py",
    } <= names


@pytest.mark.parametrize(
    "path",
    sorted(set(DOMAIN.glob("*.py")) - set(AGGREGATE_MODULES) - {DOMAIN / "__init__.py"}),
    ids=lambda p: p.name,
)
def test_a_domain_module_outside_the_aggregate_contract_is_on_the_write_path(path: Path) -> None:
    """A pure module belongs in the aggregates' contract: only a module that uses the library's
    application layer, or builds on the write path, may stay outside it."""
    imported = imported_modules(path.read_text())
    assert imported & {
        "eventsourcing.application",
        "domain.write_path",
        "domain.eventsourcing_adapter",
    }


@pytest.mark.parametrize("path", AGGREGATE_MODULES, ids=lambda p: p.name)
def test_an_aggregate_module_imports_only_the_standard_library_and_eventsourcing_domain(
    path: Path,
) -> None:
    assert forbidden_imports(path) == set()


@pytest.mark.parametrize(
    ("source", "in_file"),
    [
        ("import psycopg", "organization.py"),
        ("from eventsourcing.application import Application", "organization.py"),
        ("from eventsourcing import persistence", "organization.py"),
        ("from api.config import Settings", "base.py"),
        ("import strawberry", "vocabulary.py"),
        ("import pycountry", "organization.py"),
    ],
)
def test_the_purity_check_catches_a_forbidden_import(source: str, in_file: str) -> None:
    assert not all(allowed(m, in_file) for m in imported_modules(source))


@pytest.mark.parametrize(
    ("source", "in_file"),
    [
        ("from __future__ import annotations", "base.py"),
        ("from datetime import datetime", "organization.py"),
        ("from eventsourcing.domain import Aggregate", "base.py"),
        ("from domain.base import DomainError", "organization.py"),
        ("from .base import DomainError", "organization.py"),
        ("import pycountry", "vocabulary.py"),
    ],
)
def test_the_purity_check_lets_an_allowed_import_through(source: str, in_file: str) -> None:
    assert all(allowed(m, in_file) for m in imported_modules(source))


# Libraries are used through their front doors; where there is none, one adapter module per
# library holds the private use and says why.
LIBRARIES = ("eventsourcing", "strawberry", "graphql")
ADAPTERS = {ROOT / "domain" / "eventsourcing_adapter.py", ROOT / "api" / "schema" / "adapter.py"}
# Members with a leading underscore that a library documents for its subclasses.
DOCUMENTED_FOR_SUBCLASSES = {
    # eventsourcing's domain docs: a custom creation method constructs the aggregate with it.
    "_create",
    # eventsourcing's examples (searchable content, timestamps) extend it to write more in the
    # events' transaction.
    "_insert_events",
}
PRODUCTION = ("api", "domain", "projections", "policies")
CHECKED = (*PRODUCTION, "bench", "tests")


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_names(tree: ast.AST) -> set[str]:
    """The private names a module defines: functions, class and module attributes, and the
    attributes its methods set on ``self``."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
    return {name for name in names if is_private(name)}


@functools.cache
def library_private_names() -> frozenset[str]:
    names: set[str] = set()
    for library in LIBRARIES:
        spec = importlib.util.find_spec(library)
        assert spec is not None and spec.submodule_search_locations, library
        for folder in spec.submodule_search_locations:
            for path in Path(folder).rglob("*.py"):
                names |= private_names(ast.parse(path.read_text(encoding="utf-8")))
    return frozenset(names)


def inherited_private_names(klass: type) -> set[str]:
    """The private members ``klass`` inherits from a library: class attributes and methods,
    and the attributes the library's methods set on ``self``."""
    names: set[str] = set()
    for base in klass.__mro__[1:]:
        if base.__module__.split(".")[0] in LIBRARIES:
            names |= {name for name in vars(base) if is_private(name)}
            with contextlib.suppress(OSError, TypeError):
                names |= private_names(ast.parse(textwrap.dedent(inspect.getsource(base))))
    return names


def overrides_and_uses(path: Path, tree: ast.AST) -> list[tuple[int, str]]:
    """In a production module, a library's private member that a class of ours, derived from
    the library's, overrides or reaches through ``self``, ``cls`` or ``super()``."""
    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        klass = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not inspect.isclass(klass):
            continue
        inherited = inherited_private_names(klass)
        for inner in ast.walk(node):
            if isinstance(inner, ast.FunctionDef) and inner.name in inherited:
                found.append((inner.lineno, inner.name))
            elif isinstance(inner, ast.Attribute) and inner.attr in inherited:
                found.append((inner.lineno, inner.attr))
    return found


def private_library_uses(
    source: str, library_names: frozenset[str], ours: set[str]
) -> list[tuple[int, str]]:
    """Private names of a library read from any object or imported from the library, unless
    our own code defines that name too (a collision the class check above settles)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in library_names - ours:
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in LIBRARIES:
            found += [(node.lineno, a.name) for a in node.names if is_private(a.name)]
    return found


def checked_files() -> list[Path]:
    return sorted(path for folder in CHECKED for path in (ROOT / folder).rglob("*.py"))


def test_private_members_of_the_libraries_are_used_only_in_their_adapters() -> None:
    library_names = library_private_names()
    trees = {path: ast.parse(path.read_text()) for path in checked_files()}
    uses: list[str] = []
    overridden: set[str] = set()
    for path, tree in trees.items():
        if path.relative_to(ROOT).parts[0] in PRODUCTION:
            for line, name in overrides_and_uses(path, tree):
                overridden.add(name)
                if path not in ADAPTERS and name not in DOCUMENTED_FOR_SUBCLASSES:
                    uses.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    ours = set().union(*(private_names(tree) for tree in trees.values())) - overridden
    for path in trees:
        if path not in ADAPTERS:
            uses += [
                f"{path.relative_to(ROOT)}:{line}: {name}"
                for line, name in private_library_uses(path.read_text(), library_names, ours)
                if name not in DOCUMENTED_FOR_SUBCLASSES
            ]

    assert uses == [], "private library members outside their adapters:\n" + "\n".join(uses)


@pytest.mark.parametrize(
    "source",
    [
        "core = schema._schema",
        "nodes = info._raw_info.field_nodes",
        "recordings = app._record(processing_event)",
        "from eventsourcing.domain import _check_explicit_topic_is_registered",
    ],
)
def test_the_private_member_check_catches_a_library_private_name(source: str) -> None:
    assert private_library_uses(source, library_private_names(), ours=set())


@pytest.mark.parametrize(
    ("base", "hook"),
    [
        (PostgresAggregateRecorder, "_insert_stored_events"),
        (Application, "_record"),
        (Application, "_take_snapshots"),
        (StrawberryGraphQLCoreExecutionContext, "_relevant_sub_fields"),
    ],
)
def test_the_private_member_check_catches_an_override_of_a_library_private_hook(
    base: type, hook: str
) -> None:
    derived = type("Derived", (base,), {})

    assert hook in inherited_private_names(derived)

"""The domain stays pure: its aggregates know nothing of the web, the database or the policies."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

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

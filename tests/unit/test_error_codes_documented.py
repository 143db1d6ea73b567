"""Every named error a client can meet is in docs/errors.md, with what to do about it."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import domain
from domain.base import DomainError

ERRORS_DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _every_domain_error() -> set[type[DomainError]]:
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")
    found: set[type[DomainError]] = set()
    pending = [DomainError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.add(sub)
            pending.append(sub)
    return found


def test_every_domain_error_code_is_documented() -> None:
    documented = ERRORS_DOC.read_text()
    codes = {error.code for error in _every_domain_error()}

    assert len(codes) > 40  # the walk found the domain's errors, not none
    assert sorted(code for code in codes if f"`{code}`" not in documented) == []

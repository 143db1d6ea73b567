"""Field-level confidentiality decided from the Casbin model and policy in this folder.

Casbin's ``enforce()`` costs far too much to call per field, so the policy is compiled once
into sets of allowed (coordinate, action) per role and relation; every decision afterwards is a
set lookup. The compile reads Casbin's own parsed policy and role links and applies the model's
matcher to each line (asking ``enforce()`` for every coordinate took seconds at every start);
a test checks that its sets equal Casbin's decisions for every coordinate, role and relation.
Decisions key on the schema coordinate (``Type.field``), never on a response path, so an
alias, fragment or nested path cannot change them. Anything without a line is denied.
"""

from __future__ import annotations

import csv
import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import casbin

HERE = Path(__file__).parent
MODEL = HERE / "model.conf"
POLICY = HERE / "policy.csv"

ROLES = ("public", "partner", "law_enforcement", "staff", "supervisor", "compliance")
RELATIONS = ("any", "own")
# Roles whose tokens must name the organization they belong to.
ORGANIZATION_ROLES = frozenset({"partner", "law_enforcement"})
# Roles trusted with schema introspection, GraphiQL and detailed error messages.
STAFF_ROLES = frozenset({"staff", "supervisor", "compliance"})


def policy_version(model: Path = MODEL, policy: Path = POLICY) -> str:
    digest = hashlib.sha256(model.read_bytes() + b"\0" + policy.read_bytes())
    return digest.hexdigest()[:16]


def declared_coordinates(policy: Path = POLICY) -> set[tuple[str, str]]:
    """Every (coordinate, action) that has at least one explicit policy line."""
    with policy.open(newline="") as handle:
        return {
            (row[2].strip(), row[3].strip())
            for row in csv.reader(handle, skipinitialspace=True)
            if row and row[0].strip() == "p"
        }


@dataclass(frozen=True)
class FieldPolicy:
    version: str
    _allowed: dict[tuple[str, str], frozenset[tuple[str, str]]]
    _fields: dict[tuple[str, str, str], frozenset[str]]
    _selectable: dict[str, frozenset[str]]

    @classmethod
    def compile(cls, model: Path = MODEL, policy: Path = POLICY) -> FieldPolicy:
        enforcer = casbin.Enforcer(str(model), str(policy))
        # The model's matcher: g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
        #                      && (p.rel == "any" || r.rel == p.rel)
        groups = {role: {role, *enforcer.get_implicit_roles_for_user(role)} for role in ROLES}
        granted: dict[tuple[str, str], set[tuple[str, str]]] = {
            (role, relation): set() for role in ROLES for relation in RELATIONS
        }
        for subject, obj, act, rel in (line[:4] for line in enforcer.get_policy()):
            for role in ROLES:
                if subject in groups[role]:
                    for relation in RELATIONS:
                        if rel in ("any", relation):
                            granted[(role, relation)].add((obj, act))
        allowed = {key: frozenset(pairs) for key, pairs in granted.items()}
        fields: dict[tuple[str, str, str], set[str]] = {}
        selectable: dict[str, set[str]] = {role: set() for role in ROLES}
        for (role, relation), pairs in allowed.items():
            for obj, act in pairs:
                if act not in ("read", "call") or "." not in obj:
                    continue
                selectable[role].add(obj)
                if act == "read":
                    type_name, field_name = obj.split(".", 1)
                    fields.setdefault((role, type_name, relation), set()).add(field_name)
        return cls(
            version=policy_version(model, policy),
            _allowed=allowed,
            _fields={key: frozenset(value) for key, value in fields.items()},
            _selectable={role: frozenset(value) for role, value in selectable.items()},
        )

    def allows(
        self, role: str, coordinate: str, action: str = "read", relation: str = "any"
    ) -> bool:
        return (coordinate, action) in self._allowed.get((role, relation), frozenset())

    def fields(self, role: str, type_name: str, relation: str = "any") -> frozenset[str]:
        """The fields of ``type_name`` this role may read on a record in ``relation``."""
        return self._fields.get((role, type_name, relation), frozenset())

    def selectable(self, role: str) -> frozenset[str]:
        """Coordinates this role may read in some relation: a query naming others is refused."""
        return self._selectable.get(role, frozenset())


@lru_cache(maxsize=8)
def _compiled(model: Path, policy: Path, version: str) -> FieldPolicy:
    return FieldPolicy.compile(model, policy)


_compiling = threading.Lock()


def load_policy(model: Path = MODEL, policy: Path = POLICY) -> FieldPolicy:
    """The compiled policy, recompiled only when the model or policy files change."""
    # One compile at a time: it runs once anyway, and CPython 3.11's ast.parse (which Casbin
    # uses for its matcher) fails when called from several threads at once.
    with _compiling:
        return _compiled(model, policy, policy_version(model, policy))

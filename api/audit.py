"""Compliance at the terminal: signed chain heads, verification against them, and exports that
stop cleanly and resume.

A head names the chain's last link (position and hash) and is signed with an Ed25519 key from
configuration, so a copy kept outside the database proves what the log held when it was taken.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api.config import ConfigurationError, Settings, read_or_create_secret
from projections.aggregates import iso
from projections.chain import Head, chain_head
from projections.sql import ViewStore

HEAD_FORMAT = "nrd-chain-head/1"
_SIGNED = ("format", "position", "hash", "at", "publicKey")


class AuditFileError(Exception):
    """A head or export file that cannot be used; the message says which and why."""


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    text = settings.audit_signing_key
    if text is None:
        if settings.uses_postgres:
            raise ConfigurationError(
                "NRD_AUDIT_SIGNING_KEY must be set when NRD_DATABASE_URL is set"
            )
        text = read_or_create_secret(
            settings.data_dir / "audit-signing-key",
            lambda: base64.b64encode(os.urandom(32)).decode(),
        )
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            "NRD_AUDIT_SIGNING_KEY must be 32 random bytes in base64; make one with: "
            "python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())'"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def _public_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps({k: body[k] for k in _SIGNED}, sort_keys=True, separators=(",", ":")).encode()


def signed_head(store: ViewStore, key: Ed25519PrivateKey) -> dict[str, Any]:
    head = chain_head(store)
    if head is None:
        raise AuditFileError(
            "the chain is empty: nothing has been written, or the projections "
            "have not run yet (nrd projections run)"
        )
    body: dict[str, Any] = {
        "format": HEAD_FORMAT,
        "position": head.position,
        "hash": head.hash,
        "at": iso(datetime.now(UTC)),
        "publicKey": _public_text(key.public_key()),
    }
    body["signature"] = base64.b64encode(key.sign(_canonical(body))).decode()
    return body


def load_heads(paths: Iterable[Path], key: Ed25519PublicKey) -> list[Head]:
    """Reads exported heads, refusing any that is missing, malformed or not signed by ``key``."""
    heads = []
    for path in paths:
        try:
            body = json.loads(path.read_text())
        except FileNotFoundError:
            raise AuditFileError(f"{path}: no such head file") from None
        except (OSError, UnicodeError, ValueError):
            raise AuditFileError(
                f"{path}: not a head file (not readable JSON); export one "
                "with: nrd audit head --output FILE"
            ) from None
        if (
            not isinstance(body, dict)
            or body.get("format") != HEAD_FORMAT
            or any(k not in body for k in (*_SIGNED, "signature"))
            or not isinstance(body["position"], int)
            or not isinstance(body["hash"], str)
        ):
            raise AuditFileError(
                f"{path}: not a head file of format {HEAD_FORMAT} (a field "
                "is missing or of the wrong type)"
            )
        try:
            key.verify(base64.b64decode(str(body["signature"]), validate=True), _canonical(body))
        except (InvalidSignature, ValueError):
            raise AuditFileError(
                f"{path}: the signature does not match this store's audit "
                "signing key: the file was altered, or it comes from "
                "another store"
            ) from None
        heads.append(Head(body["position"], body["hash"]))
    return heads


def write_export(
    entries: Callable[[int], Iterable[dict[str, Any]]], path: Path | None, resume: bool, out: TextIO
) -> tuple[int, int]:
    """Writes NDJSON lines; returns (lines written, last position written).

    To a file, the lines go to ``FILE.partial`` (complete lines only) and the file takes its
    name when the export completes, so a file under the final name is always whole. An
    interrupted export is resumed from the partial file's last complete line.
    """
    if path is None:
        return _write(entries(0), out, 0)
    partial = path.with_name(path.name + ".partial")
    after = 0
    if resume:
        if not partial.exists():
            raise AuditFileError(f"{partial}: nothing to resume (no interrupted export there)")
        after = _trim_to_last_line(partial)
    elif partial.exists():
        raise AuditFileError(
            f"{partial}: an interrupted export is there; resume it with "
            "--resume, or delete it to start again"
        )
    if path.exists():
        raise AuditFileError(f"{path}: the file exists; name another, or delete it first")
    with partial.open("a", encoding="utf-8") as handle:
        written, last = _write(entries(after), handle, after)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    return written, last


def _write(entries: Iterable[dict[str, Any]], out: TextIO, last: int) -> tuple[int, int]:
    written = 0
    for entry in entries:
        out.write(json.dumps(entry, separators=(",", ":"), sort_keys=True) + "\n")
        written += 1
        last = entry["position"]
    out.flush()
    return written, last


def _trim_to_last_line(partial: Path) -> int:
    """Cuts a torn last line off the partial file; returns the last complete line's position."""
    with partial.open("rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        handle.truncate(end)
    lines = data[:end].splitlines()
    if not lines:
        return 0
    try:
        return int(json.loads(lines[-1])["position"])
    except (ValueError, KeyError, TypeError):
        raise AuditFileError(
            f"{partial}: its last line is not an exported event; delete the file and export again"
        ) from None

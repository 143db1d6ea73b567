"""``nrd audit`` at the terminal, on SQLite and PostgreSQL: a signed head verifies the untouched
log and names the first tampered position; an unusable head file is refused by name and
nothing is written; exports stream the masked history as NDJSON, refuse to overwrite, and an
interrupted one resumes to the very same bytes; replay shows a record as it stood; and every
read is recorded in the access log in the operating-system user's name.
"""

from __future__ import annotations

import base64
import io
import json
import os
import pwd
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from api import cli
from api.audit import load_heads, signing_key
from api.config import Settings
from api.wiring import System
from domain.base import acting_as
from domain.case import ConsentScope
from projections.aggregates import iso
from projections.audit import SEALED
from projections.chain import chain_head
from tests.e2e.conftest import seed
from tests.helpers import AGREEMENT, a_key
from tests.integration.test_case_application import STAFF, a_case, consent, refer
from tests.integration.test_chain import Intruder
from tests.integration.test_projections import nrd_environment

# Obviously test-only signing keys (32 bytes of 0x02 and of 0x03, base64): never real ones.
SIGNING_KEY = base64.b64encode(b"\x02" * 32).decode()
ANOTHER_STORES_KEY = base64.b64encode(b"\x03" * 32).decode()
CALLER_NAME = "Fictional Caller Example"
OPERATOR = f"cli:{pwd.getpwuid(os.getuid()).pw_name}(uid {os.getuid()})"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


Nrd = Callable[..., Run]


@pytest.fixture
def nrd(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Nrd:
    """Runs ``nrd audit ...`` as an operator would, against this test's store."""
    nrd_environment(monkeypatch, settings)
    monkeypatch.setenv("NRD_AUDIT_SIGNING_KEY", SIGNING_KEY)

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = cli.main(["audit", *argv, "--data-dir", str(settings.data_dir)])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@dataclass(frozen=True)
class History:
    shelter: UUID
    case: UUID
    midpoint: datetime  # after the shelter's inclusion and the case's opening, before the rest


@pytest.fixture
def history(system: System) -> History:
    """A shelter included, a case opened with a caller's personal data; then, after the
    midpoint, a consent, a referral holding a sealed copy, and the shelter's listing withdrawn."""
    shelter = seed(system, "Example Harbour Shelter")
    case = a_case(system)
    time.sleep(0.01)
    midpoint = datetime.now(UTC)
    time.sleep(0.01)
    consent(system, case, ConsentScope.SHARE_WITH_ORGANIZATION, shelter)
    refer(system, case, shelter)
    with acting_as(STAFF):
        system.app.set_public_listing(a_key(), shelter, False, AGREEMENT)
    system.projector.catch_up()
    return History(shelter, case, midpoint)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the database, where an operator keeps heads and exports."""
    folder = tmp_path / "kept-outside"
    folder.mkdir()
    return folder


def head_of(system: System) -> int:
    return system.app.recorder.max_notification_id() or 0


def everything_stored(system: System, tmp_path: Path) -> dict[str, Any]:
    """What a command could have written: files (and their bytes, but for the databases'),
    the log, the chain, the tracking positions and the access log."""
    files = {
        str(path.relative_to(tmp_path)): (b"" if ".sqlite" in path.name else path.read_bytes())
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file()
    }
    with system.store.read() as cursor:
        chain = cursor.execute("SELECT position, hash FROM event_chain ORDER BY position")
        links = [tuple(row) for row in chain.fetchall()]
        tracking = cursor.execute(
            "SELECT name, position FROM projection_tracking ORDER BY name"
        ).fetchall()
    with system.access.store.read() as cursor:
        reads = cursor.execute("SELECT COUNT(*) FROM access_log").fetchone()[0]
    return {
        "files": files,
        "log": head_of(system),
        "chain": links,
        "tracking": [tuple(row) for row in tracking],
        "reads": int(reads),
    }


def lines_of(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def last_read(system: System) -> dict[str, Any]:
    [entry] = system.access.entries(user_id=OPERATOR, first=1)
    return entry


# -- head and verify ---------------------------------------------------------------------------


def test_a_head_exported_to_a_file_verifies_the_untouched_log(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    settings: Settings,
) -> None:
    head_file = outside / "head-fictional.json"

    exported = nrd("head", "--output", str(head_file))

    assert exported.code == 0, exported.err
    head = head_of(system)
    assert f"head at position {head} written to {head_file}" in exported.err
    assert [p.name for p in outside.iterdir()] == [head_file.name]  # no temporary file left
    body = json.loads(head_file.read_text())
    chained = chain_head(system.store)
    assert chained is not None
    assert (body["format"], body["position"], body["hash"]) == (
        "nrd-chain-head/1",
        head,
        chained.hash,
    )
    key = signing_key(settings.with_changes(audit_signing_key=SIGNING_KEY))
    assert load_heads([head_file], key.public_key())[0] == chained

    verified = nrd("verify", "--head", str(head_file))

    assert verified.code == 0, verified.out + verified.err
    assert verified.out.strip() == (
        f"intact: {head} events; the stored chain covers positions up to {head}; "
        "1 exported head(s) matched"
    )


def test_a_head_printed_to_the_terminal_is_signed_json_usable_as_a_head_file(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    settings: Settings,
) -> None:
    printed = nrd("head")

    assert printed.code == 0, printed.err
    body = json.loads(printed.out)
    assert set(body) == {"format", "position", "hash", "at", "publicKey", "signature"}
    assert body["position"] == head_of(system)
    public = signing_key(settings.with_changes(audit_signing_key=SIGNING_KEY)).public_key()
    assert (
        body["publicKey"]
        == base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    )
    kept = outside / "head-from-the-terminal.json"
    kept.write_text(printed.out)
    assert load_heads([kept], public) == [chain_head(system.store)]


def test_a_head_taken_before_later_honest_writes_still_verifies(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
) -> None:
    earlier = outside / "head-earlier.json"
    assert nrd("head", "--output", str(earlier)).code == 0
    seed(system, "Example Later Shelter")
    later = outside / "head-later.json"
    assert nrd("head", "--output", str(later)).code == 0

    verified = nrd("verify", "--head", str(earlier), "--head", str(later))

    assert verified.code == 0, verified.out + verified.err
    assert verified.out.startswith(f"intact: {head_of(system)} events")
    assert "2 exported head(s) matched" in verified.out


def test_an_edited_event_makes_verify_exit_1_naming_its_position(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    settings: Settings,
) -> None:
    head_file = outside / "head-fictional.json"
    assert nrd("head", "--output", str(head_file)).code == 0
    # Who recorded the caller's consent is rewritten in the stored event.
    [granted] = [
        n.id
        for n in system.app.recorder.select_notifications(start=1, limit=1000)
        if n.topic.endswith("Case.ConsentGranted")
    ]
    Intruder(settings).edit(
        granted, b'"actor_id":"fictional-staff-1"', b'"actor_id":"fictional-staff-9"'
    )

    with_head = nrd("verify", "--head", str(head_file))
    without = nrd("verify")

    for run in (with_head, without):
        assert run.code == 1, run.out + run.err
        assert run.out.startswith(f"TAMPERED at position {granted}: ")
        assert "intact" not in run.out


@pytest.mark.parametrize(
    "kind", ["missing", "not json", "not a head", "position changed", "signed by another store"]
)
def test_an_unusable_head_file_is_refused_by_name_with_exit_2_and_nothing_written(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    good = outside / "head-good.json"
    assert nrd("head", "--output", str(good)).code == 0
    bad = outside / "head-bad.json"
    if kind == "not json":
        bad.write_text("fictional: this is not a head\n")
    elif kind == "not a head":
        bad.write_text(json.dumps({"fictional": True}))
    elif kind == "position changed":
        body = json.loads(good.read_text())
        body["position"] -= 1
        bad.write_text(json.dumps(body))
    elif kind == "signed by another store":
        monkeypatch.setenv("NRD_AUDIT_SIGNING_KEY", ANOTHER_STORES_KEY)
        assert nrd("head", "--output", str(bad)).code == 0
        monkeypatch.setenv("NRD_AUDIT_SIGNING_KEY", SIGNING_KEY)
    before = everything_stored(system, tmp_path)

    refused = nrd("verify", "--head", str(good), "--head", str(bad))

    assert refused.code == 2, refused.out + refused.err
    assert f"nrd audit verify: {bad}: " in refused.err
    expected = {
        "missing": "no such head file",
        "not json": "not readable JSON",
        "not a head": "not a head file of format",
        "position changed": "signature does not match",
        "signed by another store": "signature does not match",
    }[kind]
    assert expected in refused.err
    assert refused.out == ""
    assert everything_stored(system, tmp_path) == before


def test_without_a_signing_key_sqlite_keeps_one_in_the_data_folder_and_postgres_refuses(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NRD_AUDIT_SIGNING_KEY")
    head_file = outside / "head-fictional.json"

    exported = nrd("head", "--output", str(head_file))

    if settings.uses_postgres:
        assert exported.code == 2
        assert "NRD_AUDIT_SIGNING_KEY must be set" in exported.err
        assert not head_file.exists()
        return
    assert exported.code == 0, exported.err
    assert (settings.data_dir / "audit-signing-key").exists()
    assert nrd("verify", "--head", str(head_file)).code == 0
    monkeypatch.setenv("NRD_AUDIT_SIGNING_KEY", SIGNING_KEY)  # now another key: refused
    assert nrd("verify", "--head", str(head_file)).code == 2


# -- export ------------------------------------------------------------------------------------


def sealed_values(system: System) -> dict[int, dict[str, str]]:
    """Each stored event's sealed values, by position, as the log holds them."""
    found: dict[int, dict[str, str]] = {}
    for notification in system.app.recorder.select_notifications(start=1, limit=1000):
        state = json.loads(notification.state)
        sealed = {k: v for k, v in state.items() if k in SEALED and v}
        if sealed:
            found[notification.id] = sealed
    return found


def test_an_export_streams_every_event_in_log_order_with_sealed_values_masked(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
) -> None:
    printed = nrd("export")

    assert printed.code == 0, printed.err
    entries = lines_of(printed.out)
    head = head_of(system)
    assert [e["position"] for e in entries] == list(range(1, head + 1))
    assert {e["recordId"] for e in entries} >= {str(history.shelter), str(history.case)}
    sealed = sealed_values(system)
    assert len(sealed) >= 2  # the caller's personal data, and the referral's sealed copy
    for position, values in sealed.items():
        for field, value in values.items():
            assert entries[position - 1]["data"][field] == "[sealed]"
            assert value not in printed.out
    assert CALLER_NAME not in printed.out
    read = last_read(system)
    assert (read["recordType"], read["recordId"], read["role"], read["fields"]) == (
        "AuditExport",
        "all",
        "operator",
        ["events"],
    )

    to_file = outside / "export-fictional.ndjson"
    written = nrd("export", "--output", str(to_file))

    assert written.code == 0, written.err
    assert to_file.read_text() == printed.out
    assert f"exported {head} events (to position {head}) to {to_file}" in written.err
    assert sorted(p.name for p in outside.iterdir()) == [to_file.name]
    assert len(system.access.entries(user_id=OPERATOR)) == 2


def test_an_export_of_one_record_holds_its_events_only_in_version_order(
    system: System,
    history: History,
    nrd: Nrd,
) -> None:
    printed = nrd("export", "--record", str(history.case))

    assert printed.code == 0, printed.err
    entries = lines_of(printed.out)
    versions = len(system.app.recorder.select_events(history.case))
    assert {e["recordId"] for e in entries} == {str(history.case)}
    assert [e["version"] for e in entries] == list(range(1, versions + 1))
    positions = [e["position"] for e in entries]
    assert positions == sorted(set(positions))
    assert CALLER_NAME not in printed.out
    read = last_read(system)
    assert (read["recordType"], read["recordId"], read["caseId"]) == (
        "AuditExport",
        str(history.case),
        str(history.case),
    )


def test_an_export_since_and_until_a_moment_splits_the_history_there(
    system: System,
    history: History,
    nrd: Nrd,
) -> None:
    moment = history.midpoint.isoformat()

    before = lines_of(nrd("export", "--until", moment).out)
    after = lines_of(nrd("export", "--since", moment).out)

    assert before and after
    assert all(e["at"] < iso(history.midpoint) for e in before)
    assert all(e["at"] >= iso(history.midpoint) for e in after)
    assert [e["position"] for e in before + after] == list(range(1, head_of(system) + 1))
    assert {e["type"] for e in before} >= {"Organization.InclusionApproved", "Case.Opened"}
    assert {e["type"] for e in after} >= {"Case.ConsentGranted", "Case.ReferralMade"}
    just_the_case = lines_of(
        nrd(
            "export",
            "--record",
            str(history.case),
            "--since",
            moment,
            "--until",
            datetime.now(UTC).isoformat(),
        ).out
    )
    assert [e["type"] for e in just_the_case] == [
        "Case.ConsentGranted",
        "Case.InformationDisclosed",
        "Case.ReferralMade",
    ]


def test_an_export_to_an_existing_file_is_refused_and_the_file_left_alone(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
) -> None:
    kept = outside / "export-fictional.ndjson"
    kept.write_text("fictional: an earlier export\n")

    refused = nrd("export", "--output", str(kept))

    assert refused.code == 2
    assert f"{kept}: the file exists" in refused.err
    assert kept.read_text() == "fictional: an earlier export\n"
    assert [p.name for p in outside.iterdir()] == [kept.name]


def test_an_interrupted_export_resumes_to_exactly_the_bytes_of_an_uninterrupted_one(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
) -> None:
    whole = outside / "export-whole.ndjson"
    assert nrd("export", "--output", str(whole)).code == 0
    lines = whole.read_bytes().splitlines(keepends=True)
    assert len(lines) == head_of(system) > 8
    target = outside / "export-resumed.ndjson"
    partial = outside / "export-resumed.ndjson.partial"
    torn = lines[5][: len(lines[5]) // 2]
    partial.write_bytes(b"".join(lines[:5]) + torn)
    assert not target.exists()

    started_again = nrd("export", "--output", str(target))

    assert started_again.code == 2
    assert f"{partial}: an interrupted export is there" in started_again.err
    assert partial.read_bytes() == b"".join(lines[:5]) + torn
    assert not target.exists()

    resumed = nrd("export", "--output", str(target), "--resume")

    assert resumed.code == 0, resumed.err
    assert f"exported {len(lines) - 5} events" in resumed.err
    assert target.read_bytes() == whole.read_bytes()
    assert not partial.exists()


class InterruptedTerminal(io.StringIO):
    """A terminal where the operator presses Ctrl-C as soon as the export shows progress."""

    def write(self, text: str) -> int:
        if "export events:" in text:
            raise KeyboardInterrupt
        return super().write(text)


def test_an_export_stopped_with_ctrl_c_leaves_only_complete_lines_under_the_partial_name(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = outside / "export-whole.ndjson"
    assert nrd("export", "--output", str(whole)).code == 0
    target = outside / "export-stopped.ndjson"
    partial = outside / "export-stopped.ndjson.partial"
    terminal, captured = InterruptedTerminal(), sys.stderr
    monkeypatch.setattr(sys, "stderr", terminal)

    stopped = nrd("export", "--output", str(target))

    monkeypatch.setattr(sys, "stderr", captured)
    assert stopped.code == 130
    assert "run the same command with --resume" in terminal.getvalue()
    assert not target.exists()
    text = partial.read_text()
    assert lines_of(text) and whole.read_text().startswith(text)

    resumed = nrd("export", "--output", str(target), "--resume")

    assert resumed.code == 0, resumed.err
    assert target.read_bytes() == whole.read_bytes()
    assert not partial.exists()


def test_resuming_an_export_that_was_never_started_is_refused(
    system: System,
    history: History,
    nrd: Nrd,
    outside: Path,
) -> None:
    target = outside / "export-fictional.ndjson"

    refused = nrd("export", "--output", str(target), "--resume")

    assert refused.code == 2
    assert f"{target}.partial: nothing to resume" in refused.err
    assert list(outside.iterdir()) == []


# -- replay --------------------------------------------------------------------------------------


def test_replay_prints_a_record_as_it_stood_at_a_version_and_at_a_moment(
    system: System,
    history: History,
    nrd: Nrd,
) -> None:
    applied = nrd("replay", str(history.shelter), "--version", "1")
    at_midpoint = nrd("replay", str(history.shelter), "--at", history.midpoint.isoformat())
    case_then = nrd("replay", str(history.case), "--at", history.midpoint.isoformat())

    for run in (applied, at_midpoint, case_then):
        assert run.code == 0, run.err
    first = json.loads(applied.out)
    assert (first["recordId"], first["recordType"], first["version"]) == (
        str(history.shelter),
        "Organization",
        1,
    )
    assert first["state"]["status"] == "SUBMITTED"
    then = json.loads(at_midpoint.out)
    assert (then["version"], then["state"]["status"], then["state"]["public_listing"]) == (
        3,
        "INCLUDED",
        True,
    )
    case = json.loads(case_then.out)
    assert (case["recordType"], case["version"], case["state"]["consents"]) == ("Case", 1, {})
    assert case["state"]["sealed_personal"] == "[sealed]"
    assert CALLER_NAME not in case_then.out
    reads = system.access.entries(user_id=OPERATOR)
    assert [(r["recordType"], r["recordId"], r["caseId"]) for r in reads] == [
        ("RecordAsOf", str(history.case), str(history.case)),
        ("RecordAsOf", str(history.shelter), None),
        ("RecordAsOf", str(history.shelter), None),
    ]


def test_replay_of_a_record_that_did_not_exist_then_exits_1_and_records_no_read(
    system: System,
    history: History,
    nrd: Nrd,
) -> None:
    nowhere = nrd("replay", str(uuid4()), "--version", "1")
    not_yet = nrd("replay", str(history.shelter), "--at", "2000-01-01")
    never_reached = nrd("replay", str(history.shelter), "--version", "99")

    for run in (nowhere, not_yet, never_reached):
        assert run.code == 1
        assert run.out == ""
        assert "no such record at that moment or version" in run.err
    assert system.access.entries(user_id=OPERATOR) == []


def test_a_read_at_the_terminal_is_logged_under_the_real_account_whatever_user_says(
    system: System,
    history: History,
    nrd: Nrd,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("USER", "fictional-compliance-officer")
    monkeypatch.setenv("LOGNAME", "fictional-compliance-officer")

    assert nrd("replay", str(history.shelter), "--version", "1").code == 0

    assert [r["userId"] for r in system.access.entries(record_id=str(history.shelter))] == [
        OPERATOR
    ]
    assert system.access.entries(user_id="cli:fictional-compliance-officer") == []


def test_an_export_or_head_to_a_folder_that_does_not_exist_says_so_and_exits_2(
    nrd: Nrd,
    history: History,
    outside: Path,
) -> None:
    missing = outside / "no-such-folder" / "export.ndjson"

    export = nrd("export", "--output", str(missing))
    head = nrd("head", "--output", str(missing))

    for run in (export, head):
        assert run.code == 2
        assert f"cannot write {missing}" in run.err
        assert "No such file or directory" in run.err
    assert not (outside / "no-such-folder").exists()


def test_resume_without_an_output_file_is_refused(nrd: Nrd, history: History) -> None:
    run = nrd("export", "--resume")

    assert run.code == 2
    assert "--resume continues an export to a file" in run.err
    assert run.out == ""

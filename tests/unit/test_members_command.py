"""`nrd members invite`: a deployment's first supervisor, from the command line; and `nrd token`
refused in production."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import pytest

from api import cli
from api.config import Settings
from api.wiring import build_system


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NRD_DATABASE_URL", "NRD_JWT_SECRET", "NRD_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


def test_the_first_supervisor_is_invited_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["members", "invite", "--role", "supervisor", "--data-dir", str(tmp_path)]
    assert cli.main([*argv, "--email", "first.supervisor@example.org", "--key", "fictional-1"]) == 0
    member_id = capsys.readouterr().out.strip()
    UUID(member_id)

    system = build_system(Settings(data_dir=tmp_path))
    try:
        doc = system.memberships.get(member_id)
        assert doc is not None
        assert (doc["role"], doc["status"], doc["invitedBy"]) == (
            "supervisor",
            "INVITED",
            "nrd-cli",
        )
        member = system.members.on_sign_in(
            "https://id.example.org", "fictional-subject", "first.supervisor@example.org", True
        )
        assert member is not None and member.role == "supervisor"
    finally:
        system.close()


@pytest.mark.parametrize(
    "extra,why",
    [
        (["--email", "not-an-address"], "INVALID_INPUT"),
        (["--email", "a@example.org", "--org", "nope"], "--org must be"),
    ],
)
def test_bad_input_is_refused_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], why: str
) -> None:
    argv = ["members", "invite", "--role", "staff", "--data-dir", str(tmp_path), *extra]
    assert cli.main(argv) == 2
    assert why in capsys.readouterr().err


def test_a_development_token_is_refused_in_production(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NRD_ENVIRONMENT", "production")
    argv = ["token", "--role", "staff", "--user", "fictional-staff-1", "--data-dir", str(tmp_path)]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "production" in captured.err


def test_nrd_serve_demo_is_refused_in_production_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NRD_ENVIRONMENT", "production")

    assert cli.main(["serve", "--demo", "--data-dir", str(tmp_path)]) == 2

    assert "refused when NRD_ENVIRONMENT=production" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no store was even opened

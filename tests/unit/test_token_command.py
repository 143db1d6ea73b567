"""`nrd token`: a development token, refused for a lifetime or a user id the server would not
accept, with a message that says why."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from api import cli


@pytest.fixture(autouse=True)
def embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NRD_DATABASE_URL", "NRD_JWT_SECRET", "NRD_TOKEN_MAX_HOURS"):
        monkeypatch.delenv(name, raising=False)


def token(tmp_path: Path, *extra: str) -> list[str]:
    return ["token", "--role", "staff", "--data-dir", str(tmp_path), *extra]


def test_a_token_is_printed_for_the_longest_lifetime_by_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NRD_TOKEN_MAX_HOURS", "4")
    assert cli.main(token(tmp_path, "--user", "fictional-staff-1")) == 0
    claims = jwt.decode(
        capsys.readouterr().out.strip(),
        (tmp_path / "jwt-secret").read_text().strip(),
        algorithms=["HS256"],
        issuer="nrd",
    )
    assert claims["exp"] - claims["iat"] == 4 * 3600


@pytest.mark.parametrize(
    "extra,why",
    [
        (["--user", "fictional-staff-1", "--hours", "-1"], "at most 12 hours"),
        (["--user", "fictional-staff-1", "--hours", "0"], "at most 12 hours"),
        (["--user", "fictional-staff-1", "--hours", "2628000"], "at most 12 hours"),  # 300 years
        (["--user", "fictional-staff-1\nforged log line"], "printable"),
        (["--user", "fictional-staff-1\x1b[2J"], "printable"),
    ],
)
def test_a_negative_or_too_long_lifetime_and_control_characters_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], why: str
) -> None:
    assert cli.main(token(tmp_path, *extra)) == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert why in printed.err and printed.err.startswith("nrd token: ")

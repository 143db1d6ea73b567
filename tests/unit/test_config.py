"""Configuration is read once, refuses what cannot work, and says which variable is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.config import ConfigurationError, Settings


@pytest.mark.parametrize("key", ["POSTGRES_ENABLE_DB_FUNCTIONS",
                                 "NRD_POSTGRES_ENABLE_DB_FUNCTIONS"])
@pytest.mark.parametrize("value", ["y", "yes", "true", "1", "on"])
def test_startup_is_refused_when_the_lockless_insert_path_is_enabled(key: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        Settings.from_env({key: value})


def test_the_lockless_insert_path_may_be_explicitly_disabled() -> None:
    assert Settings.from_env({"POSTGRES_ENABLE_DB_FUNCTIONS": "no"}).uses_postgres is False


def test_the_event_store_never_enables_database_functions() -> None:
    settings = Settings.from_env({"NRD_DATABASE_URL": "postgresql://nrd:pw@db:5432/nrd"})
    env = settings.event_store_env()
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"
    assert (env["POSTGRES_HOST"], env["POSTGRES_DBNAME"], env["POSTGRES_USER"]) == (
        "db", "nrd", "nrd")


def test_sqlite_is_the_embedded_default_under_the_data_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({"NRD_DATA_DIR": str(tmp_path / "fictional")})
    env = settings.event_store_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert Path(env["SQLITE_DBNAME"]) == tmp_path / "fictional" / "events.sqlite"


@pytest.mark.parametrize("env,names", [
    ({"NRD_DATABASE_URL": "mysql://x"}, "NRD_DATABASE_URL"),
    ({"NRD_MAX_PAGE_SIZE": "lots"}, "NRD_MAX_PAGE_SIZE"),
    ({"NRD_MAX_PAGE_SIZE": "0"}, "NRD_MAX_PAGE_SIZE"),
    ({"NRD_UNREACHABLE_AFTER": "-1"}, "NRD_UNREACHABLE_AFTER"),
    ({"NRD_COMMAND_THREADS": "0"}, "NRD_COMMAND_THREADS"),
    ({"NRD_TOKEN_MAX_HOURS": "0"}, "NRD_TOKEN_MAX_HOURS"),
    ({"NRD_TOKEN_MAX_HOURS": "2628000"}, "NRD_TOKEN_MAX_HOURS"),
    ({"NRD_DATABASE_SCHEMA": "Robert'); DROP"}, "NRD_DATABASE_SCHEMA"),
])
def test_bad_configuration_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        Settings.from_env(env)


def test_configured_limits_are_read() -> None:
    settings = Settings.from_env({"NRD_MAX_PAGE_SIZE": "25", "NRD_REVIEW_INTERVAL_DAYS": "30",
                                  "NRD_UNREACHABLE_AFTER": "5", "NRD_GRAPHIQL": "on",
                                  "NRD_COMMAND_THREADS": "3", "NRD_TOKEN_MAX_HOURS": "8"})
    assert (settings.max_page_size, settings.review_interval_days, settings.unreachable_after,
            settings.graphiql, settings.command_threads, settings.token_max_hours) == (
        25, 30, 5, True, 3, 8)
    assert Settings.from_env({}).token_max_hours == 12

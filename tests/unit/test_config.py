"""Configuration is read once, refuses what cannot work, and says which variable is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.config import CACHE_SHARES, ConfigurationError, Settings


@pytest.mark.parametrize(
    "key", ["POSTGRES_ENABLE_DB_FUNCTIONS", "NRD_POSTGRES_ENABLE_DB_FUNCTIONS"]
)
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
        "db",
        "nrd",
        "nrd",
    )


def test_sqlite_is_the_embedded_default_under_the_data_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({"NRD_DATA_DIR": str(tmp_path / "fictional")})
    env = settings.event_store_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert Path(env["SQLITE_DBNAME"]) == tmp_path / "fictional" / "events.sqlite"


@pytest.mark.parametrize(
    "env,names",
    [
        ({"NRD_DATABASE_URL": "mysql://x"}, "NRD_DATABASE_URL"),
        ({"NRD_MAX_PAGE_SIZE": "lots"}, "NRD_MAX_PAGE_SIZE"),
        ({"NRD_MAX_PAGE_SIZE": "0"}, "NRD_MAX_PAGE_SIZE"),
        ({"NRD_UNREACHABLE_AFTER": "-1"}, "NRD_UNREACHABLE_AFTER"),
        ({"NRD_COMMAND_THREADS": "0"}, "NRD_COMMAND_THREADS"),
        ({"NRD_TOKEN_MAX_HOURS": "0"}, "NRD_TOKEN_MAX_HOURS"),
        ({"NRD_TOKEN_MAX_HOURS": "2628000"}, "NRD_TOKEN_MAX_HOURS"),
        ({"NRD_DATABASE_SCHEMA": "Robert'); DROP"}, "NRD_DATABASE_SCHEMA"),
        ({"NRD_MAX_CONNECTIONS": "2"}, "NRD_MAX_CONNECTIONS"),
        ({"NRD_POOL_SIZE": "10"}, "NRD_MAX_CONNECTIONS"),
        ({"NRD_LOCK_TIMEOUT_MS": "0"}, "NRD_LOCK_TIMEOUT_MS"),
        (
            {"NRD_LOCK_TIMEOUT_MS": "9000", "NRD_STATEMENT_TIMEOUT_MS": "5000"},
            "NRD_STATEMENT_TIMEOUT_MS",
        ),
        ({"NRD_POOL_TIMEOUT_SECONDS": "0"}, "NRD_POOL_TIMEOUT_SECONDS"),
        ({"NRD_CONNECT_TIMEOUT_SECONDS": "-1"}, "NRD_CONNECT_TIMEOUT_SECONDS"),
        ({"NRD_APPLICATION_NAME": "nrd api; drop"}, "NRD_APPLICATION_NAME"),
    ],
)
def test_bad_configuration_names_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        Settings.from_env(env)


def test_configured_limits_are_read() -> None:
    settings = Settings.from_env(
        {
            "NRD_MAX_PAGE_SIZE": "25",
            "NRD_REVIEW_INTERVAL_DAYS": "30",
            "NRD_UNREACHABLE_AFTER": "5",
            "NRD_GRAPHIQL": "on",
            "NRD_COMMAND_THREADS": "3",
            "NRD_TOKEN_MAX_HOURS": "8",
        }
    )
    assert (
        settings.max_page_size,
        settings.review_interval_days,
        settings.unreachable_after,
        settings.graphiql,
        settings.command_threads,
        settings.token_max_hours,
    ) == (25, 30, 5, True, 3, 8)
    assert Settings.from_env({}).token_max_hours == 12


def test_one_setting_bounds_every_connection_a_process_opens() -> None:
    settings = Settings.from_env(
        {"NRD_DATABASE_URL": "postgresql://nrd:pw@db:5432/nrd", "NRD_MAX_CONNECTIONS": "12"}
    )
    events, views = settings.connection_shares()
    # One more is held alone: the start-up lock while starting, then a worker's listener.
    assert events + views + 1 == 12 and min(events, views) >= 1
    env = settings.event_store_env()
    assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == (str(events), "0")


def test_every_connection_is_named_after_the_process_and_bounded() -> None:
    settings = Settings.from_env(
        {
            "NRD_DATABASE_URL": "postgresql://nrd:pw@db:5432/nrd",
            "NRD_APPLICATION_NAME": "nrd-api",
            "NRD_LOCK_TIMEOUT_MS": "1500",
            "NRD_STATEMENT_TIMEOUT_MS": "20000",
        }
    )
    params = settings.postgres_params()
    assert params["application_name"] == "nrd-api"
    assert "-c lock_timeout=1500" in params["options"]
    assert "-c statement_timeout=20000" in params["options"]


def test_sqlite_waits_for_a_lock_as_long_as_the_lock_timeout_in_whole_seconds(
    tmp_path: Path,
) -> None:
    settings = Settings.from_env({"NRD_DATA_DIR": str(tmp_path), "NRD_LOCK_TIMEOUT_MS": "1500"})
    assert settings.event_store_env()["SQLITE_LOCK_TIMEOUT"] == "2"


def test_nrd_cache_mb_divides_among_the_caches_and_is_bounded() -> None:
    assert Settings.from_env({}).cache_mb == 16
    settings = Settings.from_env({"NRD_CACHE_MB": "32"})
    assert settings.cache_bytes("aggregates") == int(32 * 0.45 * 1024 * 1024)
    assert sum(settings.cache_bytes(c) for c in CACHE_SHARES) <= 32 * 1024 * 1024
    assert settings.event_store_env()["AGGREGATE_CACHE_BYTES"] == str(
        settings.cache_bytes("aggregates")
    )
    for wrong in ("0", "-1", "lots"):
        with pytest.raises(ConfigurationError, match="NRD_CACHE_MB"):
            Settings.from_env({"NRD_CACHE_MB": wrong})


def emergency_table(tmp_path: Path, table: object) -> dict[str, str]:
    path = tmp_path / "emergency-numbers.json"
    path.write_text(json.dumps(table))
    return dict(Settings.from_env({"NRD_EMERGENCY_NUMBERS": str(path)}).emergency_numbers)


def test_emergency_numbers_by_territory_as_before(tmp_path: Path) -> None:
    assert emergency_table(tmp_path, {"CA-NU": " 555-0100 ", "CA-NT": "+1 (555) 010-0101"}) == {
        "CA-NU": "555-0100",
        "CA-NT": "+1 (555) 010-0101",
    }


def test_emergency_numbers_by_community(tmp_path: Path) -> None:
    table = {"CA-NU": "555-0100", "CA-NU : Iqaluit ": "555-0111", "CA-NT:Fictional Bay": "555-0122"}

    assert emergency_table(tmp_path, table) == {
        "CA-NU": "555-0100",
        "CA-NU:Iqaluit": "555-0111",
        "CA-NT:Fictional Bay": "555-0122",
    }


@pytest.mark.parametrize(
    ("table", "names"),
    [
        (["CA-NU", "555-0100"], "JSON object"),
        ({"CA-ON": "555-0100"}, "CA-ON uses 911"),
        ({"CA-YT:Whitehorse": "555-0100"}, "CA-YT uses 911"),
        ({"Nunavut": "555-0100"}, "territory without 911"),
        ({"CA-NU:": "555-0100"}, "community after ':' is empty"),
        ({"CA-NU": ""}, "not a phone number"),
        ({"CA-NU": "call the RCMP"}, "not a phone number"),
        ({"CA-NU": 5550100}, "not a phone number"),
    ],
)
def test_a_malformed_emergency_table_stops_the_start(
    tmp_path: Path, table: object, names: str
) -> None:
    with pytest.raises(ConfigurationError, match="NRD_EMERGENCY_NUMBERS") as raised:
        emergency_table(tmp_path, table)

    assert names in str(raised.value)


def test_an_unreadable_emergency_table_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="NRD_EMERGENCY_NUMBERS: cannot read"):
        Settings.from_env({"NRD_EMERGENCY_NUMBERS": str(tmp_path / "missing.json")})


def test_the_environment_is_development_unless_production_is_named() -> None:
    assert not Settings.from_env({}).production
    assert Settings.from_env({"NRD_ENVIRONMENT": "production"}).production
    with pytest.raises(ConfigurationError, match="NRD_ENVIRONMENT"):
        Settings.from_env({"NRD_ENVIRONMENT": "staging"})


def test_a_service_token_lives_an_hour_at_most_by_default() -> None:
    assert Settings.from_env({}).service_token_max_minutes == 60
    assert (
        Settings.from_env({"NRD_SERVICE_TOKEN_MAX_MINUTES": "15"}).service_token_max_minutes == 15
    )


def test_a_service_token_may_not_outlive_any_bearer_token() -> None:
    with pytest.raises(ConfigurationError, match="NRD_SERVICE_TOKEN_MAX_MINUTES"):
        Settings.from_env({"NRD_TOKEN_MAX_HOURS": "1", "NRD_SERVICE_TOKEN_MAX_MINUTES": "90"})

"""Configuration, read once from the environment by the composition root."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from domain.emergency import NINE_ONE_ONE, WITHOUT_911, table_key
from domain.queues import Delays
from domain.rules import (
    FOLLOW_UP_DAYS,
    INFORMATION_ANSWER_DAYS,
    PROTOCOL_REVISION_DAYS,
    REFERRAL_OUTCOME_DAYS,
    REVIEW_INTERVAL_DAYS,
    SECOND_FACTOR_ROLES,
    SERVICE_TOKEN_MAX_MINUTES,
    SESSION_ABSOLUTE_HOURS,
    SESSION_IDLE_MINUTES,
    STATISTICS_THRESHOLD,
    UNREACHABLE_AFTER,
)

_TRUE = {"y", "yes", "t", "true", "on", "1"}
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_APPLICATION_NAME = re.compile(r"^[A-Za-z0-9._-]{1,63}$")
# Aggregates kept in memory per process, at most (``CACHE_SHARES`` bounds their bytes).
AGGREGATE_CACHE_SIZE = 5_000
# How NRD_CACHE_MB divides among a process's caches. Each is a bound, not a reservation: an
# API process holds aggregates and parsed documents, a projection worker folded cases.
CACHE_SHARES = {"aggregates": 0.45, "folded": 0.3, "documents": 0.1, "keys": 0.1, "tokens": 0.05}
# A process's PostgreSQL connections: one of its own (see ``Settings.connection_shares``)
# and at least one in each of its two pools.
MIN_CONNECTIONS = 3


class ConfigurationError(Exception):
    """The configuration cannot work; the message says which variable and why."""


class DatabaseUnreachable(Exception):
    """A process could not start: its database stayed unreachable for the whole time it had
    to connect. ``last`` names the kind of the last failure, never its text (a driver's text
    can carry the connection's parameters)."""

    def __init__(self, waited: float, last: str) -> None:
        super().__init__(
            f"the database could not be reached within {waited:g} s (last: {last}). Check "
            "that it runs and accepts connections from this host, NRD_DATABASE_URL, and that "
            "it has connections to spare (its max_connections, against NRD_MAX_CONNECTIONS "
            "per process); NRD_CONNECT_TIMEOUT_SECONDS sets how long a start keeps trying"
        )


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in _TRUE


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _emergency_numbers(path: str | None) -> dict[str, str]:
    """The configured emergency numbers of the territories without 911: a JSON object from a
    territory's ISO 3166-2:CA code (``CA-NU``), or a code and a community (``CA-NU:Iqaluit``),
    to a number; see deploy/emergency-numbers.example.json. A community's entry is used for
    cases in that community, the territory's for the others."""
    if not path:
        return {}
    try:
        table = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"NRD_EMERGENCY_NUMBERS: cannot read {path}: {type(error).__name__}"
        ) from None
    if not isinstance(table, dict):
        raise ConfigurationError(
            "NRD_EMERGENCY_NUMBERS must hold a JSON object mapping territory codes (or "
            'a code and a community) to numbers, e.g. {"CA-NU": "...", "CA-NU:Iqaluit": "..."}'
        )
    problems = [_emergency_entry_problem(key, value) for key, value in table.items()]
    if any(problems):
        raise ConfigurationError(
            "NRD_EMERGENCY_NUMBERS: " + "; ".join(p for p in problems if p) + " (keys are "
            f"{' or '.join(WITHOUT_911)}, optionally followed by ':' and a community; values "
            "are numbers: digits, spaces, +, -, parentheses)"
        )
    return {
        table_key(*(part.strip() for part in key.split(":", 1))): value.strip()
        for key, value in table.items()
    }


_EMERGENCY_NUMBER = re.compile(r"^\+?[0-9][0-9 ()\-.]{0,29}$")


def _emergency_entry_problem(key: Any, value: Any) -> str | None:
    """What is wrong with one entry of the table, or None (the message names the key, which
    is configuration, never case data)."""
    if not isinstance(key, str):
        return "a key is not text"
    province, colon, community = (part.strip() for part in key.partition(":"))
    if province in NINE_ONE_ONE:
        return f"{key!r}: {province} uses 911, which needs no entry"
    if province not in WITHOUT_911:
        return f"{key!r} does not start with the code of a territory without 911"
    if colon and (not community or len(community) > 200 or not community.isprintable()):
        return f"{key!r}: the community after ':' is empty or not a plain name"
    if not isinstance(value, str) or not _EMERGENCY_NUMBER.match(value.strip()):
        return f"{key!r}: the number is missing or not a phone number"
    return None


def read_or_create_secret(path: Path, make: Callable[[], str]) -> str:
    """A secret kept in the data folder (mode 0600), created once even when several processes
    start together: it is written aside, then linked into place, which only one can do."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(make())
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink()
    return path.read_text().strip()


def refuse_db_functions(env: Mapping[str, str]) -> None:
    """The library's database-function insert path takes no table lock and loses events."""
    for key, value in env.items():
        if key.endswith("POSTGRES_ENABLE_DB_FUNCTIONS") and _flag(value, False):
            raise ConfigurationError(
                f"{key} is enabled: that insert path takes no table lock, so tailing readers "
                "skip events and projections lose tracking records. Unset it."
            )


DEVELOPMENT, PRODUCTION = "development", "production"
ENVIRONMENTS = (DEVELOPMENT, PRODUCTION)


_SIGN_IN_ROLES = tuple(SESSION_IDLE_MINUTES)


def _per_role(
    env: Mapping[str, str], name: str, defaults: Mapping[str, int], high: int
) -> dict[str, int]:
    """A setting given per role, ``role=number`` pairs separated by commas; the roles not
    named keep their default."""
    table = dict(defaults)
    raw = env.get(name) or ""
    for pair in filter(None, (part.strip() for part in raw.split(","))):
        role, _, number = (piece.strip() for piece in pair.partition("="))
        if role not in _SIGN_IN_ROLES or not number.isdigit() or not 1 <= int(number) <= high:
            raise ConfigurationError(
                f"{name} takes role=number pairs separated by commas (roles: "
                f"{', '.join(_SIGN_IN_ROLES)}; numbers 1 to {high}), not {pair!r}"
            )
        table[role] = int(number)
    return table


def _roles(env: Mapping[str, str], name: str, default: frozenset[str]) -> frozenset[str]:
    raw = env.get(name)
    if raw is None:
        return default
    roles = frozenset(filter(None, (part.strip() for part in raw.split(","))))
    if not roles <= set(_SIGN_IN_ROLES):
        raise ConfigurationError(
            f"{name} takes roles separated by commas, among {', '.join(_SIGN_IN_ROLES)}"
        )
    return roles


def _oidc(env: Mapping[str, str], environment: str) -> dict[str, str | None]:
    """The OpenID Connect provider's settings: all of issuer, client id, client secret and
    redirect URL, or none (no provider: no sign-in but the development one). Plain http is
    refused in production."""
    names = (
        "NRD_OIDC_ISSUER",
        "NRD_OIDC_CLIENT_ID",
        "NRD_OIDC_CLIENT_SECRET",
        "NRD_OIDC_REDIRECT_URL",
    )
    values = {name: env.get(name) or None for name in names}
    given = [name for name in names if values[name]]
    if given and len(given) != len(names):
        missing = ", ".join(name for name in names if not values[name])
        raise ConfigurationError(f"OpenID Connect sign-in needs {missing} as well")
    for name in ("NRD_OIDC_ISSUER", "NRD_OIDC_REDIRECT_URL"):
        url = values[name]
        schemes = ("https",) if environment == PRODUCTION else ("https", "http")
        if url is not None and urlparse(url).scheme not in schemes:
            raise ConfigurationError(
                f"{name} must be an https:// URL (http:// only outside production)"
            )
    return values


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    database_url: str | None = None
    database_schema: str = ""
    jwt_secret: str | None = None
    master_key: str | None = None
    audit_signing_key: str | None = None
    emergency_numbers: Mapping[str, str] = field(default_factory=dict)
    statistics_threshold: int = STATISTICS_THRESHOLD
    jwt_issuer: str = "nrd"
    graphiql: bool = False
    inline_projections: bool = True
    review_interval_days: int = REVIEW_INTERVAL_DAYS
    unreachable_after: int = UNREACHABLE_AFTER
    # Work queues: days from an item's cause to its due date (domain/queues.py).
    follow_up_days: int = FOLLOW_UP_DAYS
    referral_outcome_days: int = REFERRAL_OUTCOME_DAYS
    information_answer_days: int = INFORMATION_ANSWER_DAYS
    protocol_revision_days: int = PROTOCOL_REVISION_DAYS
    max_page_size: int = 50
    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 3000
    threads: int = 16
    command_threads: int = 2
    rate_limit_per_minute: int = 120
    token_max_hours: int = 12
    # ``development`` (the default) or ``production``: production refuses ``nrd token`` and
    # the development sign-in.
    environment: str = DEVELOPMENT
    service_token_max_minutes: int = SERVICE_TOKEN_MAX_MINUTES
    # PostgreSQL: every connection of the process, together (see ``connection_shares``).
    max_connections: int = 10
    pool_timeout: float = 5.0  # seconds a caller waits for a free connection
    lock_timeout_ms: int = 5_000  # a statement's wait for a lock (SQLite: its busy timeout)
    statement_timeout_ms: int = 30_000
    connect_timeout: float = 60.0  # seconds a starting process keeps trying to connect
    projection_wait: float = 10.0  # seconds a request waits for the read models to catch up
    application_name: str = "nrd"
    # Readiness (/readyz, `nrd projections status`): a read model further behind the log than
    # this many events, or behind at all and still for this many seconds, is behind.
    ready_max_lag: int = 1000
    ready_max_stall: float = 30.0
    # Every cache of the process together (``CACHE_SHARES``), in MiB as measured by
    # ``domain.bounded.deep_size``.
    cache_mb: int = 16
    # OpenID Connect sign-in (api/signin/oidc.py): all four set, or none.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_redirect_url: str | None = None
    session_idle_minutes: Mapping[str, int] = field(
        default_factory=lambda: dict(SESSION_IDLE_MINUTES)
    )
    session_absolute_hours: Mapping[str, int] = field(
        default_factory=lambda: dict(SESSION_ABSOLUTE_HOURS)
    )
    second_factor_roles: frozenset[str] = SECOND_FACTOR_ROLES
    second_factor_acr: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def delays(self) -> Delays:
        """The work queues' days from an item's cause to its due date."""
        return Delays(
            follow_up_days=self.follow_up_days,
            referral_outcome_days=self.referral_outcome_days,
            review_interval_days=self.review_interval_days,
            information_answer_days=self.information_answer_days,
            protocol_revision_days=self.protocol_revision_days,
        )

    @property
    def production(self) -> bool:
        return self.environment == PRODUCTION

    @property
    def uses_postgres(self) -> bool:
        return self.database_url is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        refuse_db_functions(env)
        url = env.get("NRD_DATABASE_URL") or None
        if url is not None and urlparse(url).scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(
                "NRD_DATABASE_URL must be a postgresql:// URL (leave it unset for SQLite)"
            )
        schema = env.get("NRD_DATABASE_SCHEMA", "")
        if schema and not _SCHEMA.match(schema):
            raise ConfigurationError("NRD_DATABASE_SCHEMA must be a lower-case SQL identifier")
        if env.get("NRD_POOL_SIZE"):
            raise ConfigurationError(
                "NRD_POOL_SIZE is replaced by NRD_MAX_CONNECTIONS, the "
                "most PostgreSQL connections a process opens in all"
            )
        name = env.get("NRD_APPLICATION_NAME") or "nrd"
        if not _APPLICATION_NAME.match(name):
            raise ConfigurationError(
                "NRD_APPLICATION_NAME must be 1 to 63 letters, digits, dots, dashes or underscores"
            )
        lock_ms = _int(env, "NRD_LOCK_TIMEOUT_MS", 5_000, 100, 600_000)
        statement_ms = _int(env, "NRD_STATEMENT_TIMEOUT_MS", 30_000, 1_000, 3_600_000)
        if statement_ms < lock_ms:
            raise ConfigurationError(
                "NRD_STATEMENT_TIMEOUT_MS must be at least "
                "NRD_LOCK_TIMEOUT_MS (a statement's time includes its "
                "wait for locks)"
            )
        token_hours = _int(env, "NRD_TOKEN_MAX_HOURS", 12, 1, 720)
        service_minutes = _int(
            env, "NRD_SERVICE_TOKEN_MAX_MINUTES", SERVICE_TOKEN_MAX_MINUTES, 1, 720
        )
        if service_minutes > token_hours * 60:
            raise ConfigurationError(
                "NRD_SERVICE_TOKEN_MAX_MINUTES must be at most NRD_TOKEN_MAX_HOURS in minutes "
                "(a service token is a bearer token)"
            )
        environment = env.get("NRD_ENVIRONMENT") or DEVELOPMENT
        if environment not in ENVIRONMENTS:
            raise ConfigurationError("NRD_ENVIRONMENT must be development or production")
        oidc = _oidc(env, environment)
        return cls(
            oidc_issuer=oidc["NRD_OIDC_ISSUER"],
            oidc_client_id=oidc["NRD_OIDC_CLIENT_ID"],
            oidc_client_secret=oidc["NRD_OIDC_CLIENT_SECRET"],
            oidc_redirect_url=oidc["NRD_OIDC_REDIRECT_URL"],
            session_idle_minutes=_per_role(
                env, "NRD_SESSION_IDLE_MINUTES", SESSION_IDLE_MINUTES, 24 * 60
            ),
            session_absolute_hours=_per_role(
                env, "NRD_SESSION_ABSOLUTE_HOURS", SESSION_ABSOLUTE_HOURS, 24 * 30
            ),
            second_factor_roles=_roles(env, "NRD_SECOND_FACTOR_ROLES", SECOND_FACTOR_ROLES),
            second_factor_acr=tuple(
                filter(
                    None, (v.strip() for v in (env.get("NRD_SECOND_FACTOR_ACR") or "").split(","))
                )
            ),
            data_dir=Path(env.get("NRD_DATA_DIR", "data")),
            database_url=url,
            database_schema=schema,
            jwt_secret=env.get("NRD_JWT_SECRET") or None,
            master_key=env.get("NRD_MASTER_KEY") or None,
            audit_signing_key=env.get("NRD_AUDIT_SIGNING_KEY") or None,
            emergency_numbers=_emergency_numbers(env.get("NRD_EMERGENCY_NUMBERS")),
            statistics_threshold=_int(
                env, "NRD_STATISTICS_THRESHOLD", STATISTICS_THRESHOLD, 2, 1000
            ),
            jwt_issuer=env.get("NRD_JWT_ISSUER", "nrd"),
            graphiql=_flag(env.get("NRD_GRAPHIQL"), False),
            inline_projections=_flag(env.get("NRD_INLINE_PROJECTIONS"), True),
            review_interval_days=_int(
                env, "NRD_REVIEW_INTERVAL_DAYS", REVIEW_INTERVAL_DAYS, 1, 3650
            ),
            unreachable_after=_int(env, "NRD_UNREACHABLE_AFTER", UNREACHABLE_AFTER, 1, 100),
            follow_up_days=_int(env, "NRD_FOLLOW_UP_DAYS", FOLLOW_UP_DAYS, 0, 3650),
            referral_outcome_days=_int(
                env, "NRD_REFERRAL_OUTCOME_DAYS", REFERRAL_OUTCOME_DAYS, 0, 3650
            ),
            information_answer_days=_int(
                env, "NRD_INFORMATION_ANSWER_DAYS", INFORMATION_ANSWER_DAYS, 0, 3650
            ),
            protocol_revision_days=_int(
                env, "NRD_PROTOCOL_REVISION_DAYS", PROTOCOL_REVISION_DAYS, 0, 3650
            ),
            max_page_size=_int(env, "NRD_MAX_PAGE_SIZE", 50, 1, 500),
            max_depth=_int(env, "NRD_MAX_DEPTH", 10, 2, 50),
            max_aliases=_int(env, "NRD_MAX_ALIASES", 15, 0, 500),
            max_tokens=_int(env, "NRD_MAX_TOKENS", 3000, 100, 100_000),
            threads=_int(env, "NRD_THREADS", 16, 1, 256),
            command_threads=_int(env, "NRD_COMMAND_THREADS", 2, 1, 64),
            rate_limit_per_minute=_int(env, "NRD_RATE_LIMIT_PER_MINUTE", 120, 1, 1_000_000),
            token_max_hours=token_hours,
            environment=environment,
            service_token_max_minutes=service_minutes,
            max_connections=_int(env, "NRD_MAX_CONNECTIONS", 10, MIN_CONNECTIONS, 1000),
            pool_timeout=_int(env, "NRD_POOL_TIMEOUT_SECONDS", 5, 1, 300),
            lock_timeout_ms=lock_ms,
            statement_timeout_ms=statement_ms,
            connect_timeout=_int(env, "NRD_CONNECT_TIMEOUT_SECONDS", 60, 0, 3600),
            projection_wait=_int(env, "NRD_PROJECTION_WAIT_MS", 10_000, 0, 600_000) / 1000,
            application_name=name,
            ready_max_lag=_int(env, "NRD_READY_MAX_LAG", 1000, 0, 100_000_000),
            ready_max_stall=float(_int(env, "NRD_READY_MAX_STALL", 30, 1, 86_400)),
            cache_mb=_int(env, "NRD_CACHE_MB", 16, 1, 65_536),
        )

    def cache_bytes(self, cache: str) -> int:
        """The bytes one of the process's caches may hold (its share of ``cache_mb``)."""
        return int(self.cache_mb * CACHE_SHARES[cache] * 1024 * 1024)

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def connection_shares(self) -> tuple[int, int]:
        """How ``max_connections`` divides among a process's PostgreSQL connections: one
        held alone (the start-up lock while starting; later a projection worker's listener),
        then the event store's pool and the read models' pool (which also holds the case keys
        and the access log), the read models' the larger, as most requests read them."""
        pools = self.max_connections - 1
        return pools // 2, pools - pools // 2

    def postgres_params(self) -> dict[str, str]:
        """Connection parameters for every connection the process opens: named after the
        process (``pg_stat_activity.application_name``), and bounded (the lock and statement
        timeouts: a statement past them fails, and its transaction rolls back)."""
        assert self.database_url is not None
        url = urlparse(self.database_url)
        return {
            "dbname": (url.path or "/postgres").lstrip("/") or "postgres",
            "host": url.hostname or "127.0.0.1",
            "port": str(url.port or 5432),
            "user": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
            "application_name": self.application_name,
            "connect_timeout": str(max(2, min(10, round(self.pool_timeout)))),
            # Given explicitly, options replace libpq's PGOPTIONS, which is kept in front.
            "options": " ".join(
                filter(
                    None,
                    [
                        os.environ.get("PGOPTIONS", ""),
                        f"-c lock_timeout={self.lock_timeout_ms}",
                        f"-c statement_timeout={self.statement_timeout_ms}",
                    ],
                )
            ),
        }

    @property
    def lock_timeout_seconds(self) -> int:
        """The lock timeout in whole seconds, as the event store library takes it (SQLite's
        busy timeout)."""
        return max(1, -(-self.lock_timeout_ms // 1000))

    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for the event store.

        Aggregates are cached and fast-forwarded on each load (one query for the events since,
        never a stale decision; a command decides on the cached object under its lock, and
        every other load gets a copy). The pool's pre-ping is off: it
        cost a round trip per query, and the library retries a query on a dropped connection."""
        cache = {
            "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_SIZE),
            "AGGREGATE_CACHE_BYTES": str(self.cache_bytes("aggregates")),
            "AGGREGATE_CACHE_FASTFORWARD": "y",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
        }
        if not self.uses_postgres:
            return {
                **cache,
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "events.sqlite"),
                "SQLITE_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
                "APPLICATION_RECORDER_TOPIC": "api.infrastructure.recorders:CheckedSQLiteRecorder",
            }
        pg = self.postgres_params()
        events, _ = self.connection_shares()
        return {
            **cache,
            "PERSISTENCE_MODULE": "api.infrastructure.recorders:PostgresFactory",
            "POSTGRES_DBNAME": pg["dbname"],
            "POSTGRES_HOST": pg["host"],
            "POSTGRES_PORT": pg["port"],
            "POSTGRES_USER": pg["user"],
            "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_SCHEMA": self.database_schema,
            # Tables are made by `nrd db migrate` (api/infrastructure/migrations.py), never at
            # start.
            "CREATE_TABLE": "n",
            # api.infrastructure.recorders.PostgresFactory opens this pool with the parameters
            # above.
            "POSTGRES_POOL_SIZE": str(events),
            "POSTGRES_MAX_OVERFLOW": "0",
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, round(self.pool_timeout))),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout_seconds),
            "NRD_POSTGRES_PARAMS": json.dumps(pg),
            "NRD_POSTGRES_POOL_TIMEOUT": str(self.pool_timeout),
            "POSTGRES_PRE_PING": "n",
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            **self.extra,
        }

"""The ``nrd`` command: serve, issue development tokens, run and rebuild the read models."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from api.config import ConfigurationError, DatabaseUnreachable, Settings
from domain.rules import INVITATION_DAYS
from policies import ROLES

log = logging.getLogger("nrd")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "data_dir", None):
        settings = settings.with_changes(data_dir=Path(args.data_dir))
    return settings


def _progress(label: str) -> Callable[[str, int, int], None]:
    last = [0.0]

    def show(name: str, position: int, head: int) -> None:
        now = time.monotonic()
        if now - last[0] > 0.2 or position >= head:
            last[0] = now
            print(
                f"\r{label} {name}: {position}/{head} events", end="", file=sys.stderr, flush=True
            )

    return show


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.signin.web import SignIn
    from api.telemetry import configured_provider
    from api.wiring import build_system, settle_process

    settings = _settings(args)
    if args.demo and settings.production:
        # Fictional organizations in a production directory would be shown to survivors.
        raise ConfigurationError(
            "--demo loads fictional data and prints development tokens: it is refused when "
            "NRD_ENVIRONMENT=production"
        )
    if args.demo:
        settings = settings.with_changes(graphiql=True)
    if args.graphiql is not None:
        settings = settings.with_changes(graphiql=args.graphiql)
    system = build_system(settings, configured_provider())
    system.auth  # noqa: B018 - a server without a signing key fails now, not at the first request
    demo_members: list[Any] = []
    if args.demo:
        demo_members = _load_demo(system)
    app = create_app(system, sign_in=SignIn.build(system, demo_members=demo_members))
    settle_process()
    where = "PostgreSQL" if settings.uses_postgres else f"SQLite under {settings.data_dir}/"
    print(f"nrd serving http://{args.host}:{args.port}/graphql ({where})", file=sys.stderr)
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            server_header=False,
        )
    finally:
        system.close()
    return 0


def _load_demo(system: object) -> list[Any]:
    """Loads the fictional demo data; returns the demo members the development sign-in
    offers, one per role."""
    from api.demo import load_demo, load_demo_cases, load_demo_contacts, load_demo_work
    from api.signin.demo import load_demo_members
    from domain.idempotency import IdempotencyKeyReused

    app = system.app  # type: ignore[attr-defined]

    def progress(done: int, total: int) -> None:
        print(
            f"\rdemo: {done}/{total} fictional organizations", end="", file=sys.stderr, flush=True
        )

    # The demo's commands carry fixed idempotency keys: loading it again writes nothing.
    try:
        ids = load_demo(app, progress=progress)
        load_demo_cases(app, ids)
        load_demo_contacts(app)
        load_demo_work(app, ids)
    except IdempotencyKeyReused:
        # An earlier version's demo asked its commands with other inputs under the same keys.
        raise ConfigurationError(
            "this store holds demo data an earlier version of nrd wrote, which this version's "
            "demo cannot load over: move the data folder aside or set NRD_DATA_DIR to a new "
            "one (on PostgreSQL, set NRD_DATABASE_SCHEMA to a new schema), then run "
            "`nrd serve --demo` again"
        ) from None
    print(file=sys.stderr)
    system.projector.catch_up()  # type: ignore[attr-defined]
    auth = system.auth  # type: ignore[attr-defined]
    print("\nDevelopment tokens (send as 'Authorization: Bearer <token>'):", file=sys.stderr)
    for role in ROLES:
        if role == "public":
            print("  public: no token", file=sys.stderr)
            continue
        org = {"partner": str(ids["partner"]), "law_enforcement": str(ids["agency"])}.get(role)
        print(f"  {role}: {auth.issue(role, f'demo-{role}', org)}", file=sys.stderr)
    if system.settings.production:  # type: ignore[attr-defined]
        print("\nDevelopment sign-in: refused (NRD_ENVIRONMENT=production)", file=sys.stderr)
        return []
    print("\nDevelopment sign-in (browser): /auth/development", file=sys.stderr)
    return load_demo_members(system, ids)  # type: ignore[arg-type]


def cmd_token(args: argparse.Namespace) -> int:
    from api.auth import Authenticator, TokenError, load_or_create_secret

    settings = _settings(args)
    if settings.production:
        print(
            "nrd token: refused: NRD_ENVIRONMENT is production. Integrations use a service "
            "account's token (issueServiceToken); people sign in.",
            file=sys.stderr,
        )
        return 2
    if settings.jwt_secret:
        secret = settings.jwt_secret
    elif settings.uses_postgres:
        raise ConfigurationError("NRD_JWT_SECRET must be set when NRD_DATABASE_URL is set")
    else:
        secret = load_or_create_secret(settings.data_dir / "jwt-secret")
    try:
        print(
            Authenticator(secret, settings.jwt_issuer, settings.token_max_hours).issue(
                args.role, args.user, args.org, args.hours
            )
        )
    except TokenError as error:
        print(f"nrd token: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_members_invite(args: argparse.Namespace) -> int:
    """Invites a member from the command line, as a supervisor would: how a deployment gets
    its first supervisor. The event names the operator's tool (``nrd-cli``) as the actor."""
    from uuid import uuid4

    from domain.base import Actor, DomainError, acting_as
    from domain.membership import MemberRole

    try:
        organization = None if args.org is None else UUID(args.org)
    except ValueError:
        print("nrd members invite: --org must be an organization id (a UUID)", file=sys.stderr)
        return 2
    system: Any = _system(args)
    try:
        key = args.key or f"cli-{uuid4()}"
        with acting_as(Actor("nrd-cli", "supervisor", request_id=key)):
            try:
                outcome = system.app.invite_member(
                    key, args.email, MemberRole(args.role), organization, args.administrator
                )
            except DomainError as error:
                print(f"nrd members invite: {error} ({error.code})", file=sys.stderr)
                return 2
        system.read_your_writes(outcome.position, outcome.topics)
        print(outcome.id)
        return 0
    finally:
        system.close()


def cmd_schema(args: argparse.Namespace) -> int:
    from api.schema.build import schema_sdl

    if args.output is None:
        sys.stdout.write(schema_sdl())
    else:
        args.output.write_text(schema_sdl())
    return 0


def _system(args: argparse.Namespace) -> object:
    from api.telemetry import configured_provider
    from api.wiring import build_system

    return build_system(_settings(args), configured_provider())


def cmd_projections_run(args: argparse.Namespace) -> int:
    from api.wiring import settle_process

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    system = _started(args, stop)
    if system is None:
        return 0  # stopped before the store could be reached
    settle_process()
    print("nrd projections: following the event log (Ctrl-C stops)", file=sys.stderr)
    try:
        system.follow_log(stop, interval=args.interval)
    finally:
        system.close()
    return 0


def _started(args: argparse.Namespace, stop: threading.Event) -> Any:
    """The worker's system, once the store can be reached: a worker started while the
    database is down or restarting waits for it (each attempt logged, the pause doubling up
    to five seconds) rather than exit. A configuration or schema that cannot work ends it."""
    from api.config import DatabaseUnreachable
    from api.telemetry import configured_provider
    from api.wiring import build_system
    from projections.runner import describe
    from projections.sql import is_transient

    # One attempt per round here (not NRD_CONNECT_TIMEOUT_SECONDS of them): the worker waits
    # for as long as it takes, where a server gives up and lets its supervisor restart it.
    settings = _settings(args).with_changes(connect_timeout=0)
    pause = 0.5
    while not stop.is_set():
        try:
            return build_system(settings, configured_provider())
        except Exception as error:
            cause = error.__cause__ if isinstance(error, DatabaseUnreachable) else error
            if cause is None or not (is_transient(cause) or isinstance(error, DatabaseUnreachable)):
                raise
            log.error(
                "the store cannot be reached yet: %s; trying again in %.1fs", describe(cause), pause
            )
            stop.wait(pause)
            pause = min(5.0, pause * 2)
    return None


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    from projections.runner import describe

    system: Any = _system(args)
    try:
        started = time.perf_counter()
        try:
            applied = system.projector.rebuild(_progress("rebuild"))
        except Exception as error:
            print(
                f"\nnrd projections rebuild: failed ({describe(error)}); the live read "
                "models are as they were",
                file=sys.stderr,
            )
            return 1
        seconds = time.perf_counter() - started
        print(
            f"\nrebuilt every read model from {applied} events in {seconds:.1f}s", file=sys.stderr
        )
    finally:
        system.close()
    return 0


# `nrd projections status` exit codes: scripts and orchestrators act on them.
CURRENT, BEHIND, UNKNOWN, QUARANTINED = 0, 1, 2, 3


def cmd_projections_status(args: argparse.Namespace) -> int:
    from projections.health import BEHIND as LATE
    from projections.health import QUARANTINED as HELD
    from projections.health import read_health
    from projections.runner import describe

    try:
        system: Any = _system(args)
    except Exception as error:
        print(
            f"nrd projections status: cannot read the read models' state: {describe(error)}",
            file=sys.stderr,
        )
        return UNKNOWN
    try:
        settings = system.settings
        max_lag = settings.ready_max_lag if args.max_lag is None else args.max_lag
        max_stall = settings.ready_max_stall if args.max_stall is None else args.max_stall
        deadline = time.monotonic() + args.wait
        while True:
            try:
                health = read_health(system.projector)
            except Exception as error:
                print(
                    f"nrd projections status: cannot read the read models' state: "
                    f"{describe(error)}",
                    file=sys.stderr,
                )
                return UNKNOWN
            verdict, reasons = health.assess(max_lag, max_stall)
            if verdict == LATE and time.monotonic() < deadline:
                time.sleep(0.25)
                continue
            break
        for model in health.read_models:
            moved = "" if model.idle_seconds is None else f", moved {model.idle_seconds:.0f}s ago"
            held = f", {model.quarantined} quarantined" if model.quarantined else ""
            print(
                f"{model.name}: {model.position}/{health.head} ({model.behind} behind{moved}{held})"
            )
        if verdict == HELD:
            _show_quarantine(system, args.limit)
        print(f"{verdict}" + "".join(f"\n  {reason}" for reason in reasons))
        return {LATE: BEHIND, HELD: QUARANTINED}.get(verdict, CURRENT)
    finally:
        system.close()


def _show_quarantine(system: Any, limit: int) -> None:
    """The quarantined events, oldest first. Their record ids tell which records exist: the
    read is recorded in the access log first, and without it they are not shown."""
    from api.access import Reads

    entries = system.projector.quarantined(limit)
    reads = Reads()
    for entry in entries:
        case = entry.record_id if entry.topic.startswith(CASE_TOPICS) else None
        reads.add("QuarantinedEvent", entry.record_id, {"recordId"}, case)
    try:
        system.access.record(_cli_reader(system), reads)
        shown = True
    except Exception as error:
        print(
            f"(record ids hidden: the access log could not be written: {type(error).__name__})",
            file=sys.stderr,
        )
        shown = False
    print("quarantined (position, read model, record, version, topic, stage: error):")
    for entry in entries:
        record = entry.record_id if shown else "-"
        print(
            f"  {entry.position} {entry.projection} {record} v{entry.version} {entry.topic} "
            f"{entry.stage}: {entry.error}"
        )


CASE_TOPICS = "domain.case:"


def cmd_projections_check(args: argparse.Namespace) -> int:
    from projections.runner import describe

    system: Any = _system(args)
    try:
        rebuilder = system.projector.rebuilder
        try:
            report = rebuilder.check(system.projector, _progress("check"))
        except Exception as error:
            print(
                f"\nnrd projections check: could not compare ({describe(error)})", file=sys.stderr
            )
            return 2
        print(file=sys.stderr)
        at = ", ".join(
            f"{name} at {position}" for name, position in sorted(report.positions.items())
        )
        if not report.differences:
            print(f"same: {report.tables} tables match a rebuild from the log ({at})")
            return 0
        print(f"DIFFERENT from a rebuild from the log ({at}):")
        for difference in report.differences:
            print(f"  {difference.summary()}")
        return 1
    finally:
        system.close()


def cmd_projections_retry(args: argparse.Namespace) -> int:
    system: Any = _system(args)
    try:
        result = system.projector.retry()
        print(
            f"applied {result.applied} quarantined event(s); {result.remaining} remain "
            f"quarantined; {result.gone} no longer in the log"
        )
        return 0 if not result.remaining else 1
    finally:
        system.close()


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from api.wiring import migrate_database

    settings = _settings(args)
    before, after = migrate_database(settings, lambda line: print(line, file=sys.stderr))
    if before == after:
        print(f"the schema is at version {after}: nothing to do")
    else:
        print(f"the schema is at version {after} (it was at {before or 'none'})")
    return 0


def _cli_reader(system: Any) -> Any:
    """Reads at the terminal are logged too, in the name of the operating-system account
    (from the process's user id: $USER and $LOGNAME can be set to anything)."""
    import uuid

    from api.access import Reader

    return Reader(operator_identity(), "operator", None, uuid.uuid4().hex, system.policy.version)


def operator_identity() -> str:
    import os
    import pwd

    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "unknown"
    return f"cli:{name}(uid {uid})"


def _record_read(
    system: Any, record_type: str, record_id: str, fields: set[str], case_id: str | None = None
) -> None:
    from api.access import Reads

    reads = Reads()
    reads.add(record_type, record_id, fields, case_id)
    system.access.record(_cli_reader(system), reads)  # durable before anything is shown


def _uuid_argument(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a record id (a UUID)") from None


def _moment_argument(text: str) -> datetime:
    from projections.audit import parse_moment

    try:
        return parse_moment(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_audit_export(args: argparse.Namespace) -> int:
    from api.audit import AuditFileError, write_export

    if args.resume and args.output is None:
        print(
            "nrd audit export: --resume continues an export to a file: give its --output",
            file=sys.stderr,
        )
        return 2
    system: Any = _system(args)
    try:
        what = str(args.record) if args.record else "all"
        _record_read(
            system, "AuditExport", what, {"events"}, str(args.record) if args.record else None
        )
        show = _progress("export") if args.output else None

        def entries(after: int) -> Any:
            return system.audit.export(
                after,
                args.record,
                args.since,
                args.until,
                None if show is None else (lambda p, h: show("events", p, h)),
            )

        try:
            written, last = write_export(entries, args.output, args.resume, sys.stdout)
        except AuditFileError as error:
            print(f"nrd audit export: {error}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0  # the reader stopped reading (| head): not an error
        except OSError as error:
            print(
                f"nrd audit export: cannot write {args.output}: {error.strerror}", file=sys.stderr
            )
            return 2
        except KeyboardInterrupt:
            advice = (
                "the partial file holds only complete lines: run the same command with "
                "--resume to continue"
                if args.output
                else "run it again"
            )
            print(f"\nnrd audit export: interrupted; {advice}", file=sys.stderr)
            return 130
        if args.output:
            print(
                f"\nexported {written} events (to position {last}) to {args.output}",
                file=sys.stderr,
            )
        return 0
    finally:
        system.close()


def cmd_audit_replay(args: argparse.Namespace) -> int:
    import json

    system: Any = _system(args)
    try:
        state = system.audit.state_as_of(args.record, version=args.version, moment=args.at)
        if state is None:
            print("nrd audit replay: no such record at that moment or version", file=sys.stderr)
            return 1
        case = str(args.record) if state["recordType"] == "Case" else None
        _record_read(system, "RecordAsOf", str(args.record), {"state"}, case)
        print(json.dumps(state, indent=2, sort_keys=True))
        return 0
    finally:
        system.close()


def cmd_audit_head(args: argparse.Namespace) -> int:
    import json

    from api.audit import AuditFileError, signed_head, signing_key

    system: Any = _system(args)
    try:
        key = signing_key(system.settings)
        try:
            head = signed_head(system.store, key)
        except AuditFileError as error:
            print(f"nrd audit head: {error}", file=sys.stderr)
            return 1
        text = json.dumps(head, indent=2, sort_keys=True) + "\n"
        if args.output is None:
            sys.stdout.write(text)
        else:
            temporary = args.output.with_name(args.output.name + ".tmp")
            try:
                temporary.write_text(text)
                temporary.replace(args.output)
            except OSError as error:
                print(
                    f"nrd audit head: cannot write {args.output}: {error.strerror}", file=sys.stderr
                )
                return 2
            print(
                f"head at position {head['position']} written to {args.output}; keep a copy "
                "outside the database",
                file=sys.stderr,
            )
        return 0
    finally:
        system.close()


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from api.audit import AuditFileError, load_heads, signing_key
    from projections.chain import verify

    system: Any = _system(args)
    try:
        try:
            heads = load_heads(args.head, signing_key(system.settings).public_key())
        except AuditFileError as error:
            print(f"nrd audit verify: {error}", file=sys.stderr)
            return 2
        show = _progress("verify")
        result = verify(
            system.app.recorder,
            system.store,
            heads,
            lambda position, head: show("events", position, head),
        )
        print(file=sys.stderr)
        if result.finding is not None:
            print(f"TAMPERED at position {result.finding.position}: {result.finding.problem}")
            return 1
        print(
            f"intact: {result.events} events; the stored chain covers positions up to "
            f"{result.chained_to}; {result.heads_checked} exported head(s) matched"
        )
        return 0
    finally:
        system.close()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="nrd",
        description="National Referral Directory: GraphQL API over an "
        "event-sourced audit trail. Configuration comes from NRD_* environment variables "
        "(see README).",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="start the API server",
        description="Start the GraphQL server (POST /graphql, GET "
        "/healthz). SQLite under the data folder unless "
        "NRD_DATABASE_URL is set.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="load a fictional directory first, enable GraphiQL and print a token for each role",
    )
    serve.add_argument(
        "--graphiql",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve the GraphiQL page on GET /graphql (off by default)",
    )
    serve.set_defaults(run=cmd_serve)

    token = commands.add_parser(
        "token",
        help="issue a development token",
        description="Print a signed bearer token for a role.",
    )
    token.add_argument(
        "--role",
        required=True,
        choices=[r for r in ROLES if r != "public"],
        help="the caller's role",
    )
    token.add_argument("--user", required=True, help="the caller's user id")
    token.add_argument(
        "--org", help="the organization id (required for partner and law_enforcement)"
    )
    token.add_argument(
        "--hours",
        type=float,
        default=None,
        help="validity in hours (default and most: NRD_TOKEN_MAX_HOURS, 12)",
    )
    token.add_argument("--data-dir", help="folder holding the embedded signing key (./data)")
    token.set_defaults(run=cmd_token)

    members = commands.add_parser(
        "members",
        help="manage memberships from the command line (the first supervisor)",
        description="Memberships are granted in GraphQL by supervisors and by each "
        "organization's administrator; this command makes the first one, so a new deployment "
        "can start.",
    )
    member_verbs = members.add_subparsers(dest="verb", required=True, metavar="VERB")
    invite = member_verbs.add_parser(
        "invite",
        help="invite a person to hold a role",
        description="Invite a person, by email address, to hold a role: the first sign-in "
        "with that address, verified by the identity provider, takes up the invitation "
        f"(within {INVITATION_DAYS} days). Prints the member id. Example: "
        "nrd members invite --role supervisor --email first.supervisor@example.org",
    )
    invite.add_argument(
        "--role",
        required=True,
        choices=[r for r in ROLES if r != "public"],
        help="the role to hold",
    )
    invite.add_argument("--email", required=True, help="the person's email address")
    invite.add_argument(
        "--org", help="the organization id (required for partner and law_enforcement)"
    )
    invite.add_argument(
        "--administrator",
        action="store_true",
        help="for partner and law_enforcement: they will manage their organization's people",
    )
    invite.add_argument("--key", help="an idempotency key: the same key again invites no one twice")
    invite.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
    invite.set_defaults(run=cmd_members_invite)

    schema = commands.add_parser(
        "schema",
        help="print the GraphQL schema (SDL)",
        description="Print the whole GraphQL schema in the schema definition language, with "
        "every description. schema.graphql at the repository's root is its "
        "output: nrd schema --output schema.graphql",
    )
    schema.add_argument("--output", type=Path, help="write to this file instead of stdout")
    schema.set_defaults(run=cmd_schema)

    projections = commands.add_parser(
        "projections",
        help="run, rebuild or inspect read models",
        description="Keep the read models following the log.",
    )
    verbs = projections.add_subparsers(dest="verb", required=True, metavar="VERB")
    run = verbs.add_parser(
        "run",
        help="follow the event log (a worker process)",
        description="Follows the log until stopped; rides out a lost connection or a database "
        "restart (at start too), and quarantines an event a read model cannot "
        "apply.",
    )
    run.add_argument("--interval", type=float, default=0.2, help="poll interval in seconds")
    rebuild = verbs.add_parser(
        "rebuild",
        help="rebuild every read model from the event log",
        description="Builds the read models aside from the log and swaps them in whole; "
        "exit 1, with the live ones as they were, if it fails.",
    )
    status = verbs.add_parser(
        "status",
        help="each read model's position, and whether it is current",
        description="Exit 0: every read model current (within --max-lag events of the log's "
        "head, and not behind for longer than --max-stall seconds); 1: behind; "
        "2: the store cannot be reached; 3: events are quarantined (listed; "
        "`nrd projections retry` after a fix).",
    )
    status.add_argument(
        "--max-lag",
        type=int,
        default=None,
        help="events behind the head still counted as current (NRD_READY_MAX_LAG, 1000)",
    )
    status.add_argument(
        "--max-stall",
        type=float,
        default=None,
        help="seconds a read model may be behind without moving (NRD_READY_MAX_STALL, 30)",
    )
    status.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="wait up to this many seconds for the read models to be current",
    )
    status.add_argument(
        "--limit", type=int, default=50, help="quarantined events listed at most (50)"
    )
    check = verbs.add_parser(
        "check",
        help="compare the read models with a rebuild from the log",
        description="Rebuilds aside up to where the live read models stand and compares them "
        "table by table (counts and record ids, never values). Exit 0: the "
        "same; 1: different; 2: could not compare.",
    )
    retry = verbs.add_parser(
        "retry",
        help="apply the quarantined events again (after a fix)",
        description="Exit 0: none remains quarantined; 1: some still fail.",
    )
    for sub, fn in (
        (run, cmd_projections_run),
        (rebuild, cmd_projections_rebuild),
        (status, cmd_projections_status),
        (check, cmd_projections_check),
        (retry, cmd_projections_retry),
    ):
        sub.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
        sub.set_defaults(run=fn)

    db = commands.add_parser(
        "db", help="the database's schema", description="The schema of every table nrd owns."
    )
    db_verbs = db.add_subparsers(dest="verb", required=True, metavar="VERB")
    migrate = db_verbs.add_parser(
        "migrate",
        help="bring the schema to this version's (run before serving)",
        description="Applies the numbered schema steps the database lacks, each in one "
        "transaction; idempotent, one migrator at a time, safe while older "
        "processes run. `nrd serve` and the worker refuse a schema at another "
        "version. The embedded SQLite stores migrate themselves.",
    )
    migrate.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
    migrate.set_defaults(run=cmd_db_migrate)

    audit = commands.add_parser(
        "audit",
        help="export, replay and verify the audit history",
        description="Compliance at the terminal. Caller personal data stays masked; every "
        "read is recorded in the access log.",
    )
    audit_verbs = audit.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = audit_verbs.add_parser(
        "export",
        help="stream the history as NDJSON (all, one record, or a time range)",
        description="One JSON object per event, in log order, with constant memory. To a "
        "file, progress shows on the terminal and an interrupted export resumes.",
    )
    export.add_argument("--record", type=_uuid_argument, help="only this record's events")
    export.add_argument(
        "--since", type=_moment_argument, help="only events at or after this ISO 8601 date or time"
    )
    export.add_argument(
        "--until", type=_moment_argument, help="only events before this ISO 8601 date or time"
    )
    export.add_argument(
        "--output", type=Path, help="write to this file (through FILE.partial) instead of stdout"
    )
    export.add_argument(
        "--resume", action="store_true", help="continue an interrupted export to --output"
    )
    export.set_defaults(run=cmd_audit_export)
    replay = audit_verbs.add_parser(
        "replay",
        help="print a record as it stood at a moment or version",
        description="Rebuilds the record from its events up to the moment or version.",
    )
    replay.add_argument("record", type=_uuid_argument, help="the record's id")
    when = replay.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=_moment_argument, help="an ISO 8601 date or time")
    when.add_argument("--version", type=int, help="a version of the record")
    replay.set_defaults(run=cmd_audit_replay)
    head = audit_verbs.add_parser(
        "head",
        help="export the signed head of the hash chain",
        description="Signs the chain's last link with NRD_AUDIT_SIGNING_KEY; keep the file "
        "outside the database.",
    )
    head.add_argument("--output", type=Path, help="write to this file instead of stdout")
    head.set_defaults(run=cmd_audit_head)
    verify = audit_verbs.add_parser(
        "verify",
        help="recompute the hash chain and compare it with exported heads",
        description="Exit 0: intact; 1: the first position where the log was edited, "
        "deleted, reordered or truncated; 2: a head file cannot be used.",
    )
    verify.add_argument(
        "--head", type=Path, action="append", default=[], help="an exported head file (repeatable)"
    )
    verify.set_defaults(run=cmd_audit_verify)
    for sub in (export, replay, head, verify):
        sub.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("casbin").setLevel(logging.WARNING)  # it logs the whole policy at INFO
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigurationError as error:
        print(f"nrd: configuration error: {error}", file=sys.stderr)
        return 2
    except DatabaseUnreachable as error:
        print(f"nrd: {error}", file=sys.stderr)
        return 3
    except Exception as error:
        from api.infrastructure.aside import RebuildBusy
        from api.infrastructure.migrations import SchemaVersionError

        if isinstance(error, SchemaVersionError | RebuildBusy):  # a message made to be read
            print(f"nrd: {error}", file=sys.stderr)
            return 2
        log.error("nrd %s failed: %s", args.command, type(error).__name__)
        return 1


if __name__ == "__main__":
    sys.exit(main())

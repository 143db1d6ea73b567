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
            print(f"\r{label} {name}: {position}/{head} events", end="", file=sys.stderr,
                  flush=True)
    return show


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.telemetry import configured_provider
    from api.wiring import build_system, settle_process

    settings = _settings(args)
    if args.demo:
        settings = settings.with_changes(graphiql=True)
    if args.graphiql is not None:
        settings = settings.with_changes(graphiql=args.graphiql)
    system = build_system(settings, configured_provider())
    system.auth  # noqa: B018 - a server without a signing key fails now, not at the first request
    if args.demo:
        _load_demo(system)
    app = create_app(system)
    settle_process()
    where = "PostgreSQL" if settings.uses_postgres else f"SQLite under {settings.data_dir}/"
    print(f"nrd serving http://{args.host}:{args.port}/graphql ({where})", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                    access_log=False, server_header=False)
    finally:
        system.close()
    return 0


def _load_demo(system: object) -> None:
    from api.demo import load_demo, load_demo_cases

    app = system.app  # type: ignore[attr-defined]

    def progress(done: int, total: int) -> None:
        print(f"\rdemo: {done}/{total} fictional organizations", end="", file=sys.stderr,
              flush=True)

    # The demo's commands carry fixed idempotency keys: loading it again writes nothing.
    ids = load_demo(app, progress=progress)
    load_demo_cases(app, ids)
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


def cmd_token(args: argparse.Namespace) -> int:
    from api.auth import Authenticator, TokenError, load_or_create_secret

    settings = _settings(args)
    if settings.jwt_secret:
        secret = settings.jwt_secret
    elif settings.uses_postgres:
        raise ConfigurationError("NRD_JWT_SECRET must be set when NRD_DATABASE_URL is set")
    else:
        secret = load_or_create_secret(settings.data_dir / "jwt-secret")
    try:
        print(Authenticator(secret, settings.jwt_issuer, settings.token_max_hours).issue(
            args.role, args.user, args.org, args.hours))
    except TokenError as error:
        print(f"nrd token: {error}", file=sys.stderr)
        return 2
    return 0


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

    system = _system(args)
    settle_process()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("nrd projections: following the event log (Ctrl-C stops)", file=sys.stderr)
    try:
        system.follow_log(stop, interval=args.interval)  # type: ignore[attr-defined]
    finally:
        system.close()  # type: ignore[attr-defined]
    return 0


def cmd_projections_rebuild(args: argparse.Namespace) -> int:
    system = _system(args)
    try:
        started = time.perf_counter()
        applied = system.projector.rebuild(_progress("rebuild"))  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        print(f"\nrebuilt every read model from {applied} events in {seconds:.1f}s",
              file=sys.stderr)
    finally:
        system.close()  # type: ignore[attr-defined]
    return 0


def cmd_projections_status(args: argparse.Namespace) -> int:
    system = _system(args)
    try:
        head = system.projector.head()  # type: ignore[attr-defined]
        for name, position in sorted(system.projector.positions().items()):  # type: ignore[attr-defined]
            print(f"{name}: {position}/{head} ({head - position} behind)")
    finally:
        system.close()  # type: ignore[attr-defined]
    return 0


def _cli_reader(system: Any) -> Any:
    """Reads at the terminal are logged too, in the name of the operating-system account
    (from the process's user id: $USER and $LOGNAME can be set to anything)."""
    import uuid

    from api.access import Reader

    return Reader(operator_identity(), "operator", None, uuid.uuid4().hex,
                  system.policy.version)


def operator_identity() -> str:
    import os
    import pwd

    uid = os.getuid()
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = "unknown"
    return f"cli:{name}(uid {uid})"


def _record_read(system: Any, record_type: str, record_id: str, fields: set[str],
                 case_id: str | None = None) -> None:
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
        print("nrd audit export: --resume continues an export to a file: give its --output",
              file=sys.stderr)
        return 2
    system: Any = _system(args)
    try:
        what = str(args.record) if args.record else "all"
        _record_read(system, "AuditExport", what, {"events"},
                     str(args.record) if args.record else None)
        show = _progress("export") if args.output else None

        def entries(after: int) -> Any:
            return system.audit.export(
                after, args.record, args.since, args.until,
                None if show is None else (lambda p, h: show("events", p, h)))

        try:
            written, last = write_export(entries, args.output, args.resume, sys.stdout)
        except AuditFileError as error:
            print(f"nrd audit export: {error}", file=sys.stderr)
            return 2
        except BrokenPipeError:
            return 0  # the reader stopped reading (| head): not an error
        except OSError as error:
            print(f"nrd audit export: cannot write {args.output}: {error.strerror}",
                  file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            advice = ("the partial file holds only complete lines: run the same command with "
                      "--resume to continue" if args.output else "run it again")
            print(f"\nnrd audit export: interrupted; {advice}", file=sys.stderr)
            return 130
        if args.output:
            print(f"\nexported {written} events (to position {last}) to {args.output}",
                  file=sys.stderr)
        return 0
    finally:
        system.close()


def cmd_audit_replay(args: argparse.Namespace) -> int:
    import json

    system: Any = _system(args)
    try:
        state = system.audit.state_as_of(args.record, version=args.version, moment=args.at)
        if state is None:
            print("nrd audit replay: no such record at that moment or version",
                  file=sys.stderr)
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
                print(f"nrd audit head: cannot write {args.output}: {error.strerror}",
                      file=sys.stderr)
                return 2
            print(f"head at position {head['position']} written to {args.output}; keep a copy "
                  "outside the database", file=sys.stderr)
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
        result = verify(system.app.recorder, system.store, heads,
                        lambda position, head: show("events", position, head))
        print(file=sys.stderr)
        if result.finding is not None:
            print(f"TAMPERED at position {result.finding.position}: {result.finding.problem}")
            return 1
        print(f"intact: {result.events} events; the stored chain covers positions up to "
              f"{result.chained_to}; {result.heads_checked} exported head(s) matched")
        return 0
    finally:
        system.close()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="nrd", description="National Referral Directory: GraphQL API over an "
        "event-sourced audit trail. Configuration comes from NRD_* environment variables "
        "(see README).")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the API server",
                                description="Start the GraphQL server (POST /graphql, GET "
                                "/healthz). SQLite under the data folder unless "
                                "NRD_DATABASE_URL is set.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (8000)")
    serve.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
    serve.add_argument("--demo", action="store_true",
                       help="load a fictional directory first, enable GraphiQL and print a "
                            "token for each role")
    serve.add_argument("--graphiql", action=argparse.BooleanOptionalAction, default=None,
                       help="serve the GraphiQL page on GET /graphql (off by default)")
    serve.set_defaults(run=cmd_serve)

    token = commands.add_parser("token", help="issue a development token",
                                description="Print a signed bearer token for a role.")
    token.add_argument("--role", required=True, choices=[r for r in ROLES if r != "public"],
                       help="the caller's role")
    token.add_argument("--user", required=True, help="the caller's user id")
    token.add_argument("--org", help="the organization id (required for partner and "
                                     "law_enforcement)")
    token.add_argument("--hours", type=float, default=None,
                       help="validity in hours (default and most: NRD_TOKEN_MAX_HOURS, 12)")
    token.add_argument("--data-dir", help="folder holding the embedded signing key (./data)")
    token.set_defaults(run=cmd_token)

    schema = commands.add_parser(
        "schema", help="print the GraphQL schema (SDL)",
        description="Print the whole GraphQL schema in the schema definition language, with "
                    "every description. schema.graphql at the repository's root is its "
                    "output: nrd schema --output schema.graphql")
    schema.add_argument("--output", type=Path, help="write to this file instead of stdout")
    schema.set_defaults(run=cmd_schema)

    projections = commands.add_parser("projections", help="run, rebuild or inspect read models",
                                      description="Keep the read models following the log.")
    verbs = projections.add_subparsers(dest="verb", required=True, metavar="VERB")
    run = verbs.add_parser("run", help="follow the event log (a worker process)")
    run.add_argument("--interval", type=float, default=0.2, help="poll interval in seconds")
    rebuild = verbs.add_parser("rebuild", help="rebuild every read model from the event log")
    status = verbs.add_parser("status", help="show each read model's position; exit 1 if the "
                                             "store cannot be reached")
    for sub, fn in ((run, cmd_projections_run), (rebuild, cmd_projections_rebuild),
                    (status, cmd_projections_status)):
        sub.add_argument("--data-dir", help="folder for the embedded SQLite stores (./data)")
        sub.set_defaults(run=fn)

    audit = commands.add_parser(
        "audit", help="export, replay and verify the audit history",
        description="Compliance at the terminal. Caller personal data stays masked; every "
                    "read is recorded in the access log.")
    audit_verbs = audit.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = audit_verbs.add_parser(
        "export", help="stream the history as NDJSON (all, one record, or a time range)",
        description="One JSON object per event, in log order, with constant memory. To a "
                    "file, progress shows on the terminal and an interrupted export resumes.")
    export.add_argument("--record", type=_uuid_argument, help="only this record's events")
    export.add_argument("--since", type=_moment_argument,
                        help="only events at or after this ISO 8601 date or time")
    export.add_argument("--until", type=_moment_argument,
                        help="only events before this ISO 8601 date or time")
    export.add_argument("--output", type=Path,
                        help="write to this file (through FILE.partial) instead of stdout")
    export.add_argument("--resume", action="store_true",
                        help="continue an interrupted export to --output")
    export.set_defaults(run=cmd_audit_export)
    replay = audit_verbs.add_parser(
        "replay", help="print a record as it stood at a moment or version",
        description="Rebuilds the record from its events up to the moment or version.")
    replay.add_argument("record", type=_uuid_argument, help="the record's id")
    when = replay.add_mutually_exclusive_group(required=True)
    when.add_argument("--at", type=_moment_argument, help="an ISO 8601 date or time")
    when.add_argument("--version", type=int, help="a version of the record")
    replay.set_defaults(run=cmd_audit_replay)
    head = audit_verbs.add_parser(
        "head", help="export the signed head of the hash chain",
        description="Signs the chain's last link with NRD_AUDIT_SIGNING_KEY; keep the file "
                    "outside the database.")
    head.add_argument("--output", type=Path, help="write to this file instead of stdout")
    head.set_defaults(run=cmd_audit_head)
    verify = audit_verbs.add_parser(
        "verify", help="recompute the hash chain and compare it with exported heads",
        description="Exit 0: intact; 1: the first position where the log was edited, "
                    "deleted, reordered or truncated; 2: a head file cannot be used.")
    verify.add_argument("--head", type=Path, action="append", default=[],
                        help="an exported head file (repeatable)")
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
        log.error("nrd %s failed: %s", args.command, type(error).__name__)
        return 1


if __name__ == "__main__":
    sys.exit(main())

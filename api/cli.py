"""The ``nrd`` command: serve, issue development tokens, run and rebuild the read models."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from api.config import ConfigurationError, Settings
from policies import ROLES

log = logging.getLogger("nrd")


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env()
    if getattr(args, "data_dir", None):
        settings = settings.with_changes(data_dir=Path(args.data_dir))
    return settings


def _progress(label: str) -> callable:  # type: ignore[valid-type]
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
    from api.wiring import build_system

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
    where = "PostgreSQL" if settings.uses_postgres else f"SQLite under {settings.data_dir}/"
    print(f"nrd serving http://{args.host}:{args.port}/graphql ({where})", file=sys.stderr)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                    access_log=False)
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
        print(Authenticator(secret, settings.jwt_issuer).issue(args.role, args.user, args.org,
                                                               args.hours))
    except TokenError as error:
        print(f"nrd token: {error}", file=sys.stderr)
        return 2
    return 0


def _system(args: argparse.Namespace) -> object:
    from api.telemetry import configured_provider
    from api.wiring import build_system

    return build_system(_settings(args), configured_provider())


def cmd_projections_run(args: argparse.Namespace) -> int:
    system = _system(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("nrd projections: following the event log (Ctrl-C stops)", file=sys.stderr)
    try:
        system.projector.run_forever(stop, interval=args.interval)  # type: ignore[attr-defined]
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
    token.add_argument("--hours", type=float, default=12.0, help="validity in hours (12)")
    token.add_argument("--data-dir", help="folder holding the embedded signing key (./data)")
    token.set_defaults(run=cmd_token)

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
    return top


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigurationError as error:
        print(f"nrd: configuration error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        log.error("nrd %s failed: %s", args.command, type(error).__name__)
        return 1


if __name__ == "__main__":
    sys.exit(main())

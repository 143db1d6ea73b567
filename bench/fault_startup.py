"""Starting processes and migrating while the read models are busy (issue 14, item 8).

On a private PostgreSQL cluster, writer threads keep case work coming and a worker process
applies it in batches. Meanwhile the script starts systems (what ``nrd serve`` and every other
command build at start) ``--starts`` times, and runs ``nrd db migrate`` ``--migrations`` times;
every start used to run the read models' DDL against the live tables, and about one in sixty
died with DeadlockDetected. It reports, as PASS/FAIL lines: no start failed; every migration
exited 0 and found nothing to do; a schema at an older and at a newer version is refused by a
start with the message naming `nrd db migrate`; the worker never stopped, and the read models
end current and equal to a rebuild.

    .venv/bin/python bench/fault_startup.py                     # about 2-3 min
    .venv/bin/python bench/fault_startup.py --starts 120
"""

from __future__ import annotations

import argparse
import sys
import time

import common

sys.path.insert(0, str(common.REPO))

from fault_common import Report, Writers, stores

from tests.fault_harness import Worker, nrd, nrd_environment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=60, help="system starts (1-500; 60)")
    parser.add_argument(
        "--migrations", type=int, default=10, help="nrd db migrate runs (1-100; 10)"
    )
    args = parser.parse_args(argv)
    if not (1 <= args.starts <= 500 and 1 <= args.migrations <= 100):
        parser.error("a bound is out of range (see --help)")
    common.exit_cleanly_on_sigterm()

    import psycopg

    from api.infrastructure.migrations import MIGRATIONS_TABLE, SCHEMA_VERSION, SchemaVersionError
    from api.wiring import build_system

    report, results = Report(), {}
    with stores("postgres") as (settings, cluster, folder):
        assert cluster is not None
        env, log = nrd_environment(settings), folder / "worker.log"
        writers = Writers(settings, 2)
        worker = Worker(env, log).start()
        try:
            writers.start()
            failures: dict[str, int] = {}
            started = time.perf_counter()
            for n in range(args.starts):
                try:
                    build_system(settings).close()
                except Exception as error:
                    failures[type(error).__name__] = failures.get(type(error).__name__, 0) + 1
                common.say(f"start {n + 1}/{args.starts}: {len(failures)} kinds of failure")
            results["start_seconds_each"] = round((time.perf_counter() - started) / args.starts, 3)
            report.add(
                f"{args.starts} starts under load, none failed",
                not failures,
                str(failures or "no failure"),
            )
            migrations = [nrd(env, "db", "migrate") for _ in range(args.migrations)]
            report.add(
                f"{args.migrations} migrations under load exit 0 with nothing to do",
                all(m.returncode == 0 and "nothing to do" in m.stdout for m in migrations),
                ", ".join(sorted({str(m.returncode) for m in migrations})),
            )

            def start_refused(change: str) -> str:
                """What a start says once the recorded version is changed by ``change``."""
                with psycopg.connect(cluster.url, autocommit=True) as conn:
                    conn.execute(change)
                try:
                    build_system(settings).close()
                    return "started"
                except SchemaVersionError as error:
                    return str(error)

            newer = start_refused(
                f"INSERT INTO {MIGRATIONS_TABLE} VALUES "
                f"({SCHEMA_VERSION + 1}, 'a later release', '2031-01-01')"
            )
            report.add(
                "a start refuses a newer schema, saying so", "newer than" in newer, newer[:120]
            )
            older = start_refused(
                f"DELETE FROM {MIGRATIONS_TABLE} WHERE version >= {SCHEMA_VERSION}"
            )
            report.add(
                "a start refuses an older schema, naming `nrd db migrate`",
                "run `nrd db migrate`" in older,
                older[:120],
            )
            report.add("migrate brings it back", nrd(env, "db", "migrate").returncode == 0)
            writers.stop()
            report.add("the worker never stopped", worker.alive())
            status = nrd(env, "projections", "status", "--wait", "120", "--max-lag", "0")
            report.add(
                "the read models end current", status.returncode == 0, f"exit {status.returncode}"
            )
            worker.stop()
            check = nrd(env, "projections", "check", timeout=600)
            report.add(
                "nrd projections check: the same as a rebuild",
                check.returncode == 0,
                check.stdout.strip()[-200:],
            )
            deadlocks = log.read_text().count("DeadlockDetected")
            report.add("the worker met no deadlock", deadlocks == 0, f"{deadlocks} in its log")
            results.update(
                {
                    "starts": args.starts,
                    "migrations": args.migrations,
                    "acknowledged_cases": len(writers.acknowledged),
                }
            )
        finally:
            worker.stop()
    return report.finish("fault_startup", results)


if __name__ == "__main__":
    sys.exit(main())

"""The projection worker under many faults, while commands keep writing (issue 14, item 6).

On a private PostgreSQL cluster (started here, on a free loopback port, removed at the end;
the shared server is never touched) or on SQLite (``--store sqlite``): writer threads open
cases, record consents and refer them to partners through the real commands, while a worker
process (``nrd projections run``) follows the log. Each round strikes once, at random:

  kill      the worker is SIGKILLed at a named point of a batch (``projections/faults.py``:
            tracking row locked, events processed, a case's folded state stored, position
            moved, after the commit), then started again;
  kill-now  the worker is SIGKILLed from outside at a random moment, then started again;
  cut       (PostgreSQL) the worker's own connection is ended at a named point; it must carry
            on by itself;
  restart   (PostgreSQL) the server restarts (``pg_ctl restart -m immediate``);
  terminate (PostgreSQL) every session of the database is ended (``pg_terminate_backend``).

After the last round the writers stop, and the script reports, as PASS/FAIL lines: the worker
never exited on its own; ``nrd projections status`` says "behind" (exit 1) right after the load
while events are pending (what a check that trusted the old exit code 0 would have read
anyway), then current (exit 0) within ``--catch-up-timeout``; ``nrd projections check`` finds
the read models equal to a rebuild; a rebuild in this process gives the same rows, table by
table; every case whose command was acknowledged is in the case list.

    .venv/bin/python bench/fault_worker.py                      # 30 rounds, about 3-5 min
    .venv/bin/python bench/fault_worker.py --rounds 60 --store sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import time
from typing import Any

import common

sys.path.insert(0, str(common.REPO))

from fault_common import Report, Writers, stores

from tests.fault_harness import Worker, nrd, nrd_environment

KILL_POINTS = ("locked", "processed", "state-stored", "tracked", "committed")
CUT_POINTS = ("locked", "processed", "state-stored", "tracked", "listening")


def pending_cases(system: Any) -> tuple[int, int]:
    """Events the case read models have yet to apply, and cases opened among them: what a
    comparison with a rebuild to the head would find missing now."""
    from eventsourcing.utils import get_topic

    from domain.case import Case

    position = system.projector.positions()["cases"]
    recorder = system.app.recorder
    pending = recorder.select_notifications(
        start=position + 1,
        limit=1_000_000,
        topics=[t for p in system.projector.projections if p.name == "cases" for t in p.topics],
    )
    opened = [n for n in pending if n.topic == get_topic(Case.Opened)]
    return len(pending), len(opened)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--rounds", type=int, default=30, help="faults struck (1-200; 30)")
    parser.add_argument("--writers", type=int, default=2, help="writer threads (1-8; 2)")
    parser.add_argument(
        "--round-seconds", type=float, default=3.0, help="load between faults, seconds (0.5-30; 3)"
    )
    parser.add_argument(
        "--catch-up-timeout",
        type=float,
        default=120.0,
        help="seconds the read models have to become current after the load",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (for a replay)")
    args = parser.parse_args(argv)
    if not (
        1 <= args.rounds <= 200
        and 1 <= args.writers <= 8
        and 0.5 <= args.round_seconds <= 30
        and 1 <= args.catch_up_timeout <= 600
    ):
        parser.error("a bound is out of range (see --help)")
    common.exit_cleanly_on_sigterm()
    seed_value = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed_value)
    common.say(f"fault_worker: {args.rounds} rounds on {args.store}, seed {seed_value}")

    from api.wiring import build_system
    from tests.integration.test_projection_faults import read_model_rows

    results: dict[str, Any] = {"store": args.store, "rounds": args.rounds, "seed": seed_value}
    report = Report()
    with stores(args.store) as (settings, cluster, folder):
        env, log = nrd_environment(settings), folder / "worker.log"
        writers = Writers(settings, args.writers)
        worker = Worker(env, log).start()
        writers.start()
        struck: dict[str, int] = {}
        unexpected_exits = 0
        try:
            faults = ["kill", "kill-now"] + (
                ["cut", "restart", "terminate"] if cluster is not None else []
            )
            for round_number in range(1, args.rounds + 1):
                time.sleep(args.round_seconds * rng.uniform(0.5, 1.5))
                if not worker.alive():
                    unexpected_exits += 1
                    worker = Worker(env, log).start()
                fault = rng.choice(faults)
                struck[fault] = struck.get(fault, 0) + 1
                common.say(f"round {round_number}/{args.rounds}: {fault}")
                if fault in ("kill", "cut"):
                    worker.stop()
                    points = KILL_POINTS if fault == "kill" else CUT_POINTS
                    spec = f"{rng.choice(points)}:{rng.randint(1, 6)}:{fault}"
                    worker = Worker(env, log, spec).start()
                    if fault == "kill":
                        if worker.wait(30) is None:  # the point was not reached in time
                            _kill(worker)
                        worker = Worker(env, log).start()
                elif fault == "kill-now":
                    time.sleep(rng.uniform(0, 1))
                    _kill(worker)
                    worker = Worker(env, log).start()
                elif fault == "restart":
                    assert cluster is not None
                    cluster.restart()
                elif fault == "terminate":
                    assert cluster is not None
                    cluster.end_sessions()
            load_end = time.monotonic()
            writers.stop()
            unexpected_exits += not worker.alive()
            worker.stop()
            # What a check would have read right after the load, before the worker caught up
            # (the earlier finding's check trusted status, which then always exited 0).
            observer = build_system(settings)
            try:
                behind_events, missing_cases = pending_cases(observer)
                worker = Worker(env, log).start()
                early = nrd(env, "projections", "status", "--max-lag", "0")
                current = nrd(
                    env,
                    "projections",
                    "status",
                    "--wait",
                    str(args.catch_up_timeout),
                    "--max-lag",
                    "0",
                )
                caught_up = time.monotonic() - load_end
                report.add(
                    "the worker never exited on its own",
                    unexpected_exits == 0,
                    f"{unexpected_exits} unexpected exits",
                )
                report.add(
                    "status says behind right after the load while events are pending",
                    early.returncode == 1 or behind_events == 0,
                    f"exit {early.returncode}, {behind_events} events pending, "
                    f"{missing_cases} cases not yet in the case list",
                )
                report.add(
                    "status says current once caught up",
                    current.returncode == 0,
                    f"exit {current.returncode}, {caught_up:.1f}s after the load",
                )
                worker.stop()
                check = nrd(env, "projections", "check", timeout=600)
                report.add(
                    "nrd projections check: the same as a rebuild",
                    check.returncode == 0,
                    check.stdout.strip()[-300:],
                )
                followed = read_model_rows(observer)
                observer.projector.rebuild()
                rebuilt = read_model_rows(observer)
                report.add(
                    "a rebuild in this process gives the same rows, table by table",
                    rebuilt == followed,
                    ", ".join(
                        f"{t}: {len(r)}" for t, r in sorted(rebuilt.items()) if t != "positions"
                    ),
                )
                with observer.store.read() as cursor:
                    listed = {row[0] for row in cursor.execute("SELECT id FROM cases").fetchall()}
                acknowledged = {str(case) for case in writers.acknowledged}
                report.add(
                    "every acknowledged case is in the case list",
                    acknowledged <= listed and not writers.lost,
                    f"{len(acknowledged)} acknowledged, {len(acknowledged - listed)} "
                    f"missing, {len(writers.lost)} commands given up, "
                    f"{writers.retries} retried",
                )
            finally:
                observer.close()
            results.update(
                {
                    "struck": struck,
                    "acknowledged_cases": len(writers.acknowledged),
                    "catch_up_seconds": round(caught_up, 2),
                    "pending_after_load": behind_events,
                    "cases_missing_before_catch_up": missing_cases,
                    "worker_log_tail": log.read_text()[-1500:],
                }
            )
        finally:
            worker.stop()
    return report.finish("fault_worker", results)


def _kill(worker: Worker) -> None:
    if worker.proc is not None and worker.proc.poll() is None:
        os.kill(worker.proc.pid, signal.SIGKILL)
    worker.wait(10)


if __name__ == "__main__":
    sys.exit(main())

"""Damaged events in the log while commands keep writing (issue 14, item 7).

On a private PostgreSQL cluster (or SQLite, ``--store sqlite``), writer threads keep case work
coming and a worker process follows the log. Then, as someone with database access could,
the script damages stored events of a few cases, ahead of the worker (stopped a moment, as
after a crash): states that no longer decode, and topics this version does not know. It
reports, as PASS/FAIL lines: every other case goes on being
applied (the read models reach the head of the log); each damaged event is quarantined with
its position, record, topic and error type, and nothing is skipped silently; a command on a
damaged case is refused as RECORD_UNREADABLE; ``nrd projections status`` exits 3 and lists
them; the worker's log names positions and error types, never a value; ``nrd projections
rebuild`` succeeds with them quarantined; once the rows are restored, ``nrd projections
retry`` applies them, status exits 0 and ``nrd projections check`` finds the read models
equal to a rebuild.

    .venv/bin/python bench/fault_quarantine.py                  # about 1-2 min
    .venv/bin/python bench/fault_quarantine.py --damaged 6 --store sqlite
"""

from __future__ import annotations

import argparse
import random
import sys
import time

import common

sys.path.insert(0, str(common.REPO))

from fault_common import Report, Writers, stores

from tests.fault_harness import Worker, nrd, nrd_environment, wait_until

UNKNOWN_TOPIC = "domain.case:Case.SomethingLaterVersionsRecord"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--damaged", type=int, default=4, help="events damaged (2-20; 4)")
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="load before and after the damage, each (2-60; 8)",
    )
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if not (2 <= args.damaged <= 20 and 2 <= args.seconds <= 60):
        parser.error("a bound is out of range (see --help)")
    common.exit_cleanly_on_sigterm()
    seed_value = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed_value)

    from api.wiring import build_system
    from domain.base import Actor, acting_as
    from domain.case import ConsentGiver, ConsentMethod, ConsentScope
    from domain.write_path import RecordUnreadable
    from projections.health import read_health
    from tests.integration.test_chain import Intruder

    report, results = Report(), {"store": args.store, "seed": seed_value}
    with stores(args.store) as (settings, _, folder):
        env, log = nrd_environment(settings), folder / "worker.log"
        writers = Writers(settings, 2)
        worker = Worker(env, log).start()
        try:
            writers.start()
            time.sleep(args.seconds)
            # The worker stops a while (as after a crash); events it has not applied yet are
            # damaged: it meets them when it starts again. (Events it had applied are met by
            # the rebuild below.)
            worker.stop()
            time.sleep(2)
            app = writers.system.app
            with writers.system.store.read() as cursor:
                reached = min(
                    int(row[0])
                    for row in cursor.execute("SELECT position FROM projection_tracking").fetchall()
                )
            second = {
                n.originator_id: n.id
                for n in app.recorder.select_notifications(start=reached + 1, limit=10_000_000)
                if n.originator_version == 2
            }
            victims = rng.sample([c for c in writers.acknowledged if c in second], args.damaged)
            intruder, originals = Intruder(settings), {}
            for n, case_id in enumerate(victims):
                position = second[case_id]
                column, value = (
                    ("state", b"\x00 damaged") if n % 2 == 0 else ("topic", UNKNOWN_TOPIC)
                )
                with intruder.transaction() as run:
                    row = run(
                        f"SELECT topic, state FROM {intruder.table} WHERE {intruder.id} = %s",
                        (position,),
                    ).fetchone()
                    originals[position] = (row[0], bytes(row[1]))
                    run(
                        f"UPDATE {intruder.table} SET {column} = %s WHERE {intruder.id} = %s",
                        (value, position),
                    )
            worker = Worker(env, log).start()
            common.say(f"damaged {len(originals)} events; the load goes on")
            time.sleep(args.seconds)
            writers.stop()

            observer = build_system(settings)
            try:

                def applied_to_the_head() -> bool:
                    health = read_health(observer.projector)
                    return all(m.behind == 0 for m in health.read_models)

                report.add(
                    "every other case goes on being applied",
                    wait_until(applied_to_the_head, 120, every=0.5),
                )
                entries = observer.projector.quarantined(limit=10_000)
                damaged_positions = set(originals)
                first = {q.position for q in entries if q.stage != "held"}
                report.add(
                    "each damaged event is quarantined (none skipped silently)",
                    damaged_positions <= first,
                    f"{len(entries)} quarantined, {len(first)} not held back",
                )
                report.add(
                    "only damaged cases are held back",
                    {q.record_id for q in entries} == {str(v) for v in victims},
                )
                refused = 0
                with acting_as(Actor("fictional-bench-staff", "staff", request_id="bench")):
                    for case_id in victims:
                        try:
                            observer.app.grant_consent(
                                f"bench-damaged-{case_id}",
                                case_id,
                                ConsentScope.FOLLOW_UP_CONTACT,
                                None,
                                ConsentGiver.CALLER,
                                ConsentMethod.VERBAL,
                                None,
                            )
                        except RecordUnreadable:
                            refused += 1
                report.add(
                    "a command on a damaged case is refused as RECORD_UNREADABLE",
                    refused == len(victims),
                    f"{refused} of {len(victims)}",
                )
                status = nrd(env, "projections", "status")
                report.add(
                    "status exits 3 and lists the quarantined events",
                    status.returncode == 3
                    and all(str(p) in status.stdout for p in damaged_positions),
                    f"exit {status.returncode}",
                )
                logged = log.read_text()
                report.add(
                    "the worker's log names positions and error types, never a value",
                    "quarantined the event at position" in logged
                    and "Fictional Bench Caller" not in logged
                    and UNKNOWN_TOPIC not in logged,
                )
                worker.stop()
                rebuild = nrd(env, "projections", "rebuild", timeout=600)
                after = observer.projector.quarantined(limit=10_000)
                report.add(
                    "a rebuild succeeds, the damaged events quarantined again",
                    rebuild.returncode == 0
                    and {q.position for q in after} == {q.position for q in entries},
                    f"exit {rebuild.returncode}",
                )
                with intruder.transaction() as run:  # restored from a backup
                    for position, (topic, state) in originals.items():
                        run(
                            f"UPDATE {intruder.table} SET topic = %s, state = %s "
                            f"WHERE {intruder.id} = %s",
                            (topic, state, position),
                        )
                retry = nrd(env, "projections", "retry")
                status = nrd(env, "projections", "status", "--max-lag", "0")
                report.add(
                    "once restored, retry applies them and status exits 0",
                    retry.returncode == 0 and status.returncode == 0,
                    retry.stdout.strip(),
                )
                check = nrd(env, "projections", "check", timeout=600)
                report.add(
                    "nrd projections check: the same as a rebuild",
                    check.returncode == 0,
                    check.stdout.strip()[-300:],
                )
                results.update(
                    {
                        "damaged": len(originals),
                        "quarantined": len(entries),
                        "acknowledged_cases": len(writers.acknowledged),
                    }
                )
            finally:
                observer.close()
        finally:
            worker.stop()
    return report.finish("fault_quarantine", results)


if __name__ == "__main__":
    sys.exit(main())

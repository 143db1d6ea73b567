"""/healthz and /readyz under faults (issue 14, item 10).

On a private PostgreSQL cluster: an API process (uvicorn, the real app, its read models kept by
a separate worker process, as in docker-compose.yml), writer threads keeping case work coming,
and a prober asking /healthz and /readyz every 0.1 s. Phases, each reported as PASS/FAIL:

  steady      both answer 200;
  terminate   every session of the database is ended (``pg_terminate_backend``) ``--terminates``
              times, a second apart: /healthz never fails while the server is up (it failed
              once, 20 s after such a kill, on a dead pooled connection);
  restart     the server restarts (``-m immediate``): both answer 503 while it is down, and
              200 again within ``--recovery`` seconds;
  worker      the worker is SIGKILLed while commands write: /readyz answers 503 "behind"
              within NRD_READY_MAX_STALL (here 5 s) plus a margin, and 200 again once a
              worker runs;
  quarantine  a stored event is damaged: /readyz answers 503 "quarantined", its body naming
              read models, counts and error types only, never a record or a value.

    .venv/bin/python bench/fault_health.py                      # about 2 min
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import common

sys.path.insert(0, str(common.REPO))

from fault_common import Report, Writers, stores

from tests.fault_harness import Worker, nrd_environment, wait_until

STALL = 5


class Prober:
    """Asks /healthz and /readyz every 0.1 s; keeps (moment, path, status, body)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str, int, dict[str, Any]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def _probe(self) -> None:
        while not self._stop.is_set():
            for path in ("/healthz", "/readyz"):
                self.seen.append((time.monotonic(), path, *self.ask(path)))
            self._stop.wait(0.1)

    def ask(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")
        except (OSError, ValueError):
            return 0, {}  # no answer at all

    def since(self, moment: float, path: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (status, body) for at, p, status, body in list(self.seen) if at >= moment and p == path
        ]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--terminates", type=int, default=20, help="times every session is ended (1-200; 20)"
    )
    parser.add_argument(
        "--recovery",
        type=float,
        default=20.0,
        help="seconds allowed to answer 200 again after a restart (1-120; 20)",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.terminates <= 200 and 1 <= args.recovery <= 120):
        parser.error("a bound is out of range (see --help)")
    common.exit_cleanly_on_sigterm()

    from api.wiring import build_system
    from tests.integration.test_chain import Intruder

    report, results = Report(), {}
    with stores("postgres") as (settings, cluster, folder):
        assert cluster is not None
        env = nrd_environment(
            settings, NRD_INLINE_PROJECTIONS="false", NRD_READY_MAX_STALL=str(STALL)
        )
        server = common.Server("health", "nrd_app:create", env)
        worker = Worker(env, folder / "worker.log").start()
        writers = Writers(settings, 2)
        prober = Prober(server.url)
        try:
            server.start()
            writers.start()
            prober.start()
            time.sleep(3)
            steady = time.monotonic()
            time.sleep(3)
            report.add(
                "steady: /healthz and /readyz answer 200",
                all(
                    s == 200
                    for s, _ in prober.since(steady, "/healthz") + prober.since(steady, "/readyz")
                ),
            )

            began = time.monotonic()
            for _ in range(args.terminates):
                cluster.end_sessions()
                time.sleep(1)
            failed = [s for s, _ in prober.since(began, "/healthz") if s != 200]
            report.add(
                f"terminate: /healthz never failed across {args.terminates} kills of every session",
                not failed,
                f"{len(failed)} of {len(prober.since(began, '/healthz'))} failed",
            )

            cluster.stop()
            down = time.monotonic()
            time.sleep(8)
            during = prober.since(down + 0.5, "/readyz") + prober.since(down + 0.5, "/healthz")
            cluster.start()
            up = time.monotonic()
            back = wait_until(
                lambda: prober.ask("/healthz")[0] == 200 and prober.ask("/readyz")[0] == 200,
                args.recovery,
                every=0.1,
            )
            results["recovery_seconds"] = round(time.monotonic() - up, 2)
            report.add(
                "restart: both answer 503 at once while the server is down",
                bool(during) and all(s == 503 for s, _ in during),
                f"{len(during)} answers: " + ", ".join(sorted({str(s) for s, _ in during})),
            )
            report.add(
                "restart: both answer 200 again within the bound",
                back,
                f"{results['recovery_seconds']}s",
            )

            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGKILL)
            worker.wait(10)
            killed = time.monotonic()
            noticed = wait_until(
                lambda: prober.ask("/readyz")[1].get("status") == "behind", STALL + 15, every=0.2
            )
            results["behind_noticed_seconds"] = round(time.monotonic() - killed, 2)
            report.add(
                "worker killed: /readyz says behind within the stall bound",
                noticed,
                f"{results['behind_noticed_seconds']}s (bound {STALL}s)",
            )
            worker = Worker(env, folder / "worker.log").start()
            report.add(
                "worker back: /readyz answers 200 again",
                wait_until(lambda: prober.ask("/readyz")[0] == 200, 60, every=0.2),
            )

            writers.stop()
            observer = build_system(settings)
            try:
                intruder = Intruder(settings)
                case_id = writers.acknowledged[-1]
                position = next(
                    n.id
                    for n in observer.app.recorder.select_notifications(start=1, limit=10_000_000)
                    if n.originator_id == case_id
                )
                with intruder.transaction() as run:
                    run(
                        f"UPDATE {intruder.table} SET state = %s WHERE {intruder.id} = %s",
                        (b"\x00 damaged", position),
                    )
                observer.projector.rebuild()  # the damaged event is met again, and kept aside
            finally:
                observer.close()
            status, body = prober.ask("/readyz")
            text = json.dumps(body)
            report.add(
                "quarantine: /readyz says quarantined, naming no record or value",
                status == 503
                and body.get("status") == "quarantined"
                and str(case_id) not in text
                and "Fictional" not in text,
                text[:200],
            )
        finally:
            prober.stop()
            writers.stop()
            worker.stop()
            server.stop()
    return report.finish("fault_health", results)


if __name__ == "__main__":
    sys.exit(main())

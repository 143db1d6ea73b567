"""Connections: a pool exhausted answers a retryable error within its timeout, and under load
no process ever holds more PostgreSQL connections than NRD_MAX_CONNECTIONS.

Part 1, exhaustion. One API process with NRD_MAX_CONNECTIONS=3 (its read models' pool has
one connection) and NRD_POOL_TIMEOUT_SECONDS=1. A session of the script's own locks the public
directory's table for longer than the lock timeout, so the first read holds the one connection
while it waits; ``--readers`` others read the directory at once.
PASS: every read answered 503 with Retry-After and a retryable code (STORE_BUSY for those that
found no connection within the pool timeout, STORE_TIMEOUT for the one that waited for the
lock), at least one STORE_BUSY, the slowest within the lock timeout plus a second; once the
lock is released, reads answer 200.

Part 2, the budget. Production layout (two API processes and a projection worker), each with
NRD_MAX_CONNECTIONS=``--max-connections`` and its own application_name; ``--clients`` clients
write and read through both API processes for ``--duration`` seconds while the script samples
pg_stat_activity. PASS: no process was ever seen above its budget; the load was answered
(every answer 200, or 503 with a retryable code).

    python bench/fault_pool.py [--readers 8] [--max-connections 6] [--clients 24] [--duration 10]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import common
import fault_common as fc
import psycopg


def exhaustion(url: str, schema: str, readers: int, checks: fc.Checks) -> None:
    lock_timeout = 4.0
    fc.fresh_schema(url, schema)
    api = fc.Process(
        "pool-api",
        ["serve"],
        fc.env_for(
            url,
            schema,
            NRD_MAX_CONNECTIONS="3",
            NRD_POOL_TIMEOUT_SECONDS="1",
            NRD_LOCK_TIMEOUT_MS=str(int(lock_timeout * 1000)),
            NRD_APPLICATION_NAME="nrd-fault-pool",
        ),
    )
    with fc.processes(api):
        if not checks.check(api.wait_healthy(60) is not None, "the API came up"):
            return
        checks.check(fc.post(api.url, fc.DIRECTORY).status == 200, "a read answered 200")
        with psycopg.connect(url) as holder:
            holder.execute(f"LOCK TABLE {schema}.directory_public IN ACCESS EXCLUSIVE MODE")
            with ThreadPoolExecutor(readers) as pool:
                answers = list(
                    pool.map(lambda _: fc.post(api.url, fc.DIRECTORY, timeout=30), range(readers))
                )
            holder.rollback()
        codes = [c for a in answers for c in a.codes]
        checks.check(
            all(a.status == 503 and a.retryable and a.retry_after for a in answers),
            "every read answered 503, Retry-After and a retryable code",
            f"codes {sorted(set(codes))}",
        )
        checks.check(
            "STORE_BUSY" in codes,
            "reads that found no free connection said so",
            f"{codes.count('STORE_BUSY')} STORE_BUSY, {codes.count('STORE_TIMEOUT')} STORE_TIMEOUT",
        )
        slowest = max(a.seconds for a in answers)
        checks.check(
            slowest <= lock_timeout + 1,
            "the slowest read answered within its bound",
            f"{slowest:.2f} s against {lock_timeout + 1:.2f} s",
        )
        after = fc.post(api.url, fc.DIRECTORY)
        checks.check(after.status == 200, "once the lock was released, a read answered 200")


def budget(
    url: str, schema: str, max_connections: int, clients: int, duration: float, checks: fc.Checks
) -> None:
    fc.fresh_schema(url, schema)
    names = ["nrd-fault-budget-api-1", "nrd-fault-budget-api-2", "nrd-fault-budget-worker"]
    settings = {"NRD_MAX_CONNECTIONS": str(max_connections), "NRD_INLINE_PROJECTIONS": "false"}
    apis = [
        fc.Process(
            f"budget-api-{n}",
            ["serve"],
            fc.env_for(url, schema, NRD_APPLICATION_NAME=names[n - 1], **settings),
        )
        for n in (1, 2)
    ]
    worker = fc.Process(
        "budget-worker",
        ["projections", "run"],
        fc.env_for(url, schema, NRD_APPLICATION_NAME=names[2], **settings),
    )
    token = fc.staff_token()
    seen = {name: 0 for name in names}
    stop = threading.Event()

    def sample() -> None:
        with common._admin(url) as conn:
            while not stop.is_set():
                rows = conn.execute(
                    "SELECT application_name, count(*) FROM pg_stat_activity "
                    "WHERE application_name = ANY(%s) GROUP BY 1",
                    (names,),
                ).fetchall()
                for name, count in rows:
                    seen[name] = max(seen[name], int(count))
                time.sleep(0.005)

    with fc.processes(worker, *apis):
        if not all(checks.check(a.wait_healthy(60) is not None, f"{a.name} came up") for a in apis):
            return
        numbers = itertools.count()
        answers: list[fc.Answer] = []
        deadline = time.monotonic() + duration

        def client(n: int) -> None:
            while time.monotonic() < deadline:
                i = next(numbers)
                url_ = apis[i % 2].url
                if i % 3:
                    answers.append(fc.post(url_, fc.DIRECTORY, token=token))
                else:
                    answers.append(
                        fc.post(url_, fc.APPLY, fc.application(f"budget-{i:06d}", i), token)
                    )

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with ThreadPoolExecutor(clients) as pool:
                list(pool.map(client, range(clients)))
        finally:
            stop.set()
            sampler.join(timeout=10)
    ok = [a for a in answers if a.status == 200 and not a.codes]
    retryable = [a for a in answers if a.status == 503 and a.retryable]
    checks.check(
        len(ok) + len(retryable) == len(answers) and bool(ok),
        "the load was answered",
        f"{len(answers)} requests: {len(ok)} answered 200, "
        f"{len(retryable)} a retryable 503, "
        f"{len(answers) - len(ok) - len(retryable)} otherwise",
    )
    checks.check(
        all(count <= max_connections for count in seen.values()),
        f"no process held more than NRD_MAX_CONNECTIONS={max_connections}",
        ", ".join(f"{name} at most {count}" for name, count in seen.items()),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=common.DEFAULT_URL)
    parser.add_argument("--schema", default="fault_pool")
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--max-connections", type=int, default=6)
    parser.add_argument("--clients", type=int, default=24)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    if not (
        2 <= args.readers <= 64
        and 3 <= args.max_connections <= 50
        and 1 <= args.clients <= 64
        and 1 <= args.duration <= 120
    ):
        parser.error("--readers 2-64, --max-connections 3-50, --clients 1-64, --duration 1-120")
    checks = fc.Checks()
    try:
        exhaustion(args.database_url, args.schema, args.readers, checks)
        budget(
            args.database_url,
            args.schema,
            args.max_connections,
            args.clients,
            args.duration,
            checks,
        )
    finally:
        fc.drop_schema(args.database_url, args.schema)
    return checks.status()


if __name__ == "__main__":
    common.exit_cleanly_on_sigterm()
    sys.exit(main())

"""A lock held on the events table for longer than the write bound: writes answer a retryable
error within the bound, while the lock is still held, and nothing is half-written.

Production layout on the script's own schema: two API processes and a projection worker
(``nrd serve``, ``nrd projections run``). A session of the script's own locks
``<schema>.nrd_events`` (ACCESS EXCLUSIVE by default: reads of the events wait too) for
``--hold`` seconds, three times the lock timeout by default; meanwhile ``--writers`` clients
send one mutation each, spread over both API processes, and one reads the directory.

PASS lines:
- every mutation answered while the lock was still held, with HTTP 503, Retry-After and a
  retryable code (STORE_TIMEOUT: it waited its lock timeout; STORE_BUSY: it waited for a
  command thread past the same bound, behind those that waited for the lock);
- the slowest answered within the bound: the command-thread queue's bound plus the lock
  timeout (both NRD_LOCK_TIMEOUT_MS), plus a second for the rest of the request;
- the directory, read from the read models, answered 200 meanwhile;
- the failed writes left no event behind once the lock was released (nothing half-written,
  nothing committed late);
- once the lock is released, each mutation retried with its key answers 200, and a second
  retry writes nothing more (written once).

    python bench/fault_lock.py [--lock-timeout-ms 1000] [--writers 16] [--mode 'ACCESS EXCLUSIVE']
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import common
import fault_common as fc
import psycopg

MODES = ("ACCESS EXCLUSIVE", "EXCLUSIVE")


def count_events(url: str, schema: str) -> int:
    """Never while the script's own lock is held: this would wait for it."""
    with common._admin(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {schema}.nrd_events").fetchone()
    return int(row[0]) if row else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=common.DEFAULT_URL)
    parser.add_argument("--schema", default="fault_lock")
    parser.add_argument("--lock-timeout-ms", type=int, default=1000)
    parser.add_argument("--hold", type=float, help="seconds the lock is held (3 x the bound)")
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--mode", choices=MODES, default=MODES[0])
    args = parser.parse_args()
    if not 100 <= args.lock_timeout_ms <= 10_000 or not 1 <= args.writers <= 64:
        parser.error("--lock-timeout-ms from 100 to 10000, --writers from 1 to 64")
    bound = 2 * args.lock_timeout_ms / 1000 + 1.0
    hold = min(60.0, args.hold or 3 * bound)
    url, schema = args.database_url, args.schema
    checks = fc.Checks()
    fc.fresh_schema(url, schema)
    settings = {"NRD_LOCK_TIMEOUT_MS": str(args.lock_timeout_ms), "NRD_INLINE_PROJECTIONS": "false"}
    apis = [
        fc.Process(
            f"lock-api-{n}",
            ["serve"],
            fc.env_for(url, schema, NRD_APPLICATION_NAME=f"nrd-fault-api-{n}", **settings),
        )
        for n in (1, 2)
    ]
    worker = fc.Process(
        "lock-worker",
        ["projections", "run"],
        fc.env_for(url, schema, NRD_APPLICATION_NAME="nrd-fault-worker", **settings),
    )
    token = fc.staff_token()
    try:
        with fc.processes(worker, *apis):
            for api in apis:
                if not checks.check(api.wait_healthy(60) is not None, f"{api.name} came up"):
                    return checks.status()
            warm = fc.post(apis[0].url, fc.APPLY, fc.application("fault-lock-warm", 0), token)
            checks.check(warm.status == 200, "a write before the lock answered 200")
            run(args, url, schema, apis, token, bound, hold, checks)
    finally:
        fc.drop_schema(url, schema)
    return checks.status()


def run(
    args: argparse.Namespace,
    url: str,
    schema: str,
    apis: list[fc.Process],
    token: str,
    bound: float,
    hold: float,
    checks: fc.Checks,
) -> None:
    before = count_events(url, schema)
    keys = [f"fault-lock-{n:04d}" for n in range(args.writers)]
    with psycopg.connect(url) as holder:
        holder.execute(f"LOCK TABLE {schema}.nrd_events IN {args.mode} MODE")
        locked_at = time.monotonic()
        common.say(
            f"{args.mode} lock on {schema}.nrd_events held for {hold:.1f} s; {args.writers} writers"
        )
        with ThreadPoolExecutor(args.writers + 1) as pool:
            read = pool.submit(fc.post, apis[0].url, fc.DIRECTORY, None, None, hold)
            writes = list(
                pool.map(
                    lambda n: fc.post(
                        apis[n % 2].url,
                        fc.APPLY,
                        fc.application(keys[n], n + 1),
                        token,
                        timeout=hold,
                    ),
                    range(args.writers),
                )
            )
            reading = read.result()
        answered = max(w.ended for w in writes)
        time.sleep(max(0.0, hold - (time.monotonic() - locked_at)))
        holder.rollback()
        released_at = time.monotonic()
    after = count_events(url, schema)  # a failed write that committed late would show here
    codes = sorted({c for w in writes for c in w.codes})
    checks.check(
        answered < released_at,
        "every write answered while the lock was held",
        f"the last {answered - locked_at:.2f} s after the lock, which was released "
        f"at {released_at - locked_at:.2f} s",
    )
    checks.check(
        all(w.status == 503 and w.retryable and w.retry_after for w in writes)
        and set(codes) <= {"STORE_TIMEOUT", "STORE_BUSY"},
        "every write answered 503, Retry-After and a retryable code",
        f"codes {codes}, statuses {sorted({w.status for w in writes})}",
    )
    slowest = max(w.seconds for w in writes)
    checks.check(
        slowest <= bound,
        "the slowest write answered within the bound",
        f"{slowest:.2f} s against {bound:.2f} s (median "
        f"{sorted(w.seconds for w in writes)[len(writes) // 2]:.2f} s)",
    )
    checks.check(
        reading.status == 200 and not reading.codes,
        "the directory answered from the read models meanwhile",
        f"HTTP {reading.status} in {reading.seconds:.2f} s",
    )
    checks.check(
        after == before,
        "the failed writes left nothing behind",
        f"{before} events before the lock, {after} after its release",
    )
    retried = [
        fc.post(apis[n % 2].url, fc.APPLY, fc.application(keys[n], n + 1), token)
        for n in range(args.writers)
    ]
    written = count_events(url, schema)
    again = [
        fc.post(apis[(n + 1) % 2].url, fc.APPLY, fc.application(keys[n], n + 1), token)
        for n in range(args.writers)
    ]
    checks.check(
        all(r.status == 200 and not r.codes for r in retried),
        "every write retried with its key after the release answered 200",
        f"{sum(r.status == 200 for r in retried)}/{len(retried)}",
    )
    checks.check(
        count_events(url, schema) == written
        and [a.body for a in again] == [r.body for r in retried],
        "a second retry returned the same results and wrote nothing",
        f"{written - before} events for {args.writers} writes",
    )


if __name__ == "__main__":
    common.exit_cleanly_on_sigterm()
    sys.exit(main())

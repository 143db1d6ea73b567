"""Read-model rebuild rate against the raw notification read rate of the same event log.

For each log size (by default the 5,000-organization schema of directory_search.py and a
1,000-organization one, each seeded through the real commands if needed), a fresh child
process measures, in this order:

  1. a warm-up pass over the log (untimed), so every timed pass reads from warm caches;
  2. Projector.rebuild(): replay the whole log into every read model aside, then swap them in
     (timed), sampling the process's resident memory at every batch; peak RSS (ru_maxrss) is
     read right after;
  3. raw read: app.recorder.select_notifications(start, limit=500) over the whole log;
  4. raw read + decode: the same plus app.mapper.to_domain_event() for each notification.

Rates are events of the log per second; the ratios are rebuild / raw read and rebuild / raw
read + decode. Memory that stays flat shows as the same RSS growth at both sizes.

    /work/venv/bin/python bench/rebuild.py
    /work/venv/bin/python bench/rebuild.py --help
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

CHILD_MARK = "REBUILD_CHILD "
PROFILE = common.RESULTS / "profile-rebuild.txt"


def read_log(app: Any, batch: int, decode: bool) -> int:
    count, start = 0, 1
    mapper = app.mapper
    while True:
        notifications = app.recorder.select_notifications(start, limit=batch)
        if not notifications:
            return count
        if decode:
            for n in notifications:
                mapper.to_domain_event(n)
        count += len(notifications)
        start = notifications[-1].id + 1


def child(args: argparse.Namespace) -> dict[str, Any]:
    from api.wiring import build_system

    system = build_system(common.settings_for(args.schema, args.database_url))
    try:
        app = system.app
        head = system.projector.head()
        common.say(f"[{args.schema}] warm-up read of {head} events")
        read_log(app, args.batch, decode=True)

        rss_before = common.rss_kb()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        samples: list[int] = []
        # The projector reads each projection's topics in its own pass, so the progress line
        # restarts once per projection.
        progress = common.Progress(f"[{args.schema}] rebuild (events/position)", head)

        def show(name: str, position: int, _head: int) -> None:
            samples.append(common.rss_kb())
            progress.update(position, f" [{name}] RSS {samples[-1] / 1024:.0f} MiB")

        system.projector.batch_size = args.batch
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        applied = system.projector.rebuild(show)
        rebuild_s = time.perf_counter() - started
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        progress.finish()
        rss_after = common.rss_kb()
        maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        positions = system.projector.positions()

        raw: dict[str, list[float]] = {"read": [], "read+decode": []}
        for n in range(args.repeat):
            for kind, decode in (("read", False), ("read+decode", True)):
                started = time.perf_counter()
                count = read_log(app, args.batch, decode)
                raw[kind].append(time.perf_counter() - started)
                if count != head:
                    raise SystemExit(f"read {count} events, expected {head}")
            common.say(f"[{args.schema}] raw read pass {n + 1}/{args.repeat}: "
                       f"{head / raw['read'][-1]:,.0f} ev/s read, "
                       f"{head / raw['read+decode'][-1]:,.0f} ev/s read+decode")
        with system.store.read() as cursor:
            public_rows = cursor.execute("SELECT COUNT(*) FROM directory_public").fetchone()[0]
        return {
            "schema": args.schema, "events": head, "applied": applied,
            "positions": positions, "public_rows": int(public_rows), "batch": args.batch,
            "rebuild_s": rebuild_s, "rebuild_eps": head / rebuild_s,
            "rebuild_python_cpu_share": cpu_s / rebuild_s,
            "read_s": statistics.median(raw["read"]),
            "read_eps": head / statistics.median(raw["read"]),
            "decode_s": statistics.median(raw["read+decode"]),
            "decode_eps": head / statistics.median(raw["read+decode"]),
            "rss_before_kb": rss_before, "rss_after_kb": rss_after,
            "rss_max_sampled_kb": max(samples, default=rss_after),
            "rss_growth_kb": max(samples, default=rss_after) - rss_before,
            "peak_rss_before_rebuild_kb": maxrss_before, "peak_rss_after_rebuild_kb": maxrss_after,
            "rss_samples_kb": samples[:: max(1, len(samples) // 12)],
        }
    finally:
        system.close()


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the process group (the child closes its store), SIGKILL after 10 s."""
    deadline = time.monotonic() + 10
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        while time.monotonic() < deadline:
            proc.poll()  # reaps the leader, so an empty group reads as gone
            os.killpg(proc.pid, 0)
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the whole group is gone
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_child(command: list[str], timeout: float) -> str:
    """Runs ``command`` in its own process group and returns its stdout. On every way out
    (timeout, Ctrl-C, SIGTERM, errors) the whole group is stopped: with --profile the child is
    py-spy's own child, which killing py-spy alone would leave running."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except BaseException:
        stop_group(proc)
        raise
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, command)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Projection rebuild rate vs the raw notification read rate of the same log, "
                    "with peak memory at two log sizes. Prints a summary table and a JSON line; "
                    "keeps a copy under bench/results/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--organizations", type=int, default=5000,
                   help="organizations in the large log")
    p.add_argument("--schema", default="bench_directory",
                   help="schema of the large log (shared with directory_search.py)")
    p.add_argument("--small-organizations", type=int, default=1000,
                   help="organizations in the small log (0: one size only)")
    p.add_argument("--small-schema", default="bench_rebuild_small", help="schema of the small log")
    p.add_argument("--database-url", default=common.DEFAULT_URL,
                   help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)")
    p.add_argument("--reseed", action="store_true", help="seed again even if already seeded")
    p.add_argument("--seed-threads", type=int, default=2, help="writer threads while seeding")
    p.add_argument("--batch", type=int, default=500,
                   help="notifications per select, for the projector and the raw reads")
    p.add_argument("--repeat", type=int, default=5, choices=range(1, 51), metavar="1..50",
                   help="raw read passes (the median counts)")
    p.add_argument("--profile", action="store_true",
                   help="run the large log's child under py-spy (wall clock, --idle) and list "
                        "where the rebuild's time goes")
    p.add_argument("--profile-top", type=int, default=20, help="functions to list")
    p.add_argument("--child-timeout", type=float, default=600.0,
                   help="seconds allowed for each log size's measuring child process "
                        "(stopped and reported beyond it)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    if args.child:
        print(CHILD_MARK + json.dumps(child(args)), flush=True)
        return 0
    if args.batch < 1 or args.child_timeout <= 0:
        raise SystemExit("--batch and --child-timeout must be above 0")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if args.profile and not Path(spy).exists():
        raise SystemExit("py-spy not found: /work/venv/bin/pip install py-spy, or run without "
                         "--profile")

    idle_check = common.background_busy()
    sizes = [(args.schema, args.organizations)]
    if args.small_organizations:
        sizes.insert(0, (args.small_schema, args.small_organizations))
    runs: list[dict[str, Any]] = []
    for schema, count in sizes:
        seeded = common.ensure_seeded(schema, count, args.database_url, args.reseed,
                                      args.seed_threads)
        command = [sys.executable, __file__, "--child", "--schema", schema, "--database-url",
                   args.database_url, "--batch", str(args.batch), "--repeat", str(args.repeat)]
        if args.profile and schema == args.schema:
            command = [spy, "record", "--idle", "--nonblocking", "--rate", "200", "--format", "raw",
                       "--output", str(PROFILE), "--", *command]
        try:
            out = run_child(command, args.child_timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"[{schema}] the measuring child took more than "
                             f"{args.child_timeout:g}s and was stopped (--child-timeout)") from None
        except subprocess.CalledProcessError as error:
            raise SystemExit(f"[{schema}] the measuring child failed (exit {error.returncode}); "
                             "its error is above") from None
        line = next(x for x in out.splitlines() if x.startswith(CHILD_MARK))
        result = json.loads(line[len(CHILD_MARK):])
        result["organizations"] = count
        result["seed"] = seeded
        runs.append(result)

    print()
    print(f"projection rebuild vs raw notification reads (batch {args.batch}, PostgreSQL, "
          f"{common.machine()['cpus']} cores; rates are events of the log per second; python "
          "CPU = the rebuilding process's own CPU time / rebuild wall time, the rest is waiting "
          "on PostgreSQL)")
    print(common.table(
        ["orgs", "events", "rebuild ev/s", "raw read ev/s", "read+decode ev/s",
         "rebuild/read", "rebuild/read+decode", "rebuild s", "python CPU", "RSS start MiB",
         "RSS growth MiB", "peak RSS MiB"],
        [[r["organizations"], r["events"], f"{r['rebuild_eps']:,.0f}", f"{r['read_eps']:,.0f}",
          f"{r['decode_eps']:,.0f}", f"{r['rebuild_eps'] / r['read_eps']:.3f}",
          f"{r['rebuild_eps'] / r['decode_eps']:.3f}", f"{r['rebuild_s']:.1f}",
          f"{100 * r['rebuild_python_cpu_share']:.0f}%",
          f"{r['rss_before_kb'] / 1024:.0f}", f"{r['rss_growth_kb'] / 1024:.1f}",
          f"{r['peak_rss_after_rebuild_kb'] / 1024:.0f}"] for r in runs]))
    if len(runs) == 2:
        small, large = runs
        print(f"log x{large['events'] / small['events']:.1f}: RSS growth during rebuild "
              f"{small['rss_growth_kb'] / 1024:.1f} -> {large['rss_growth_kb'] / 1024:.1f} MiB, "
              f"peak RSS {small['peak_rss_after_rebuild_kb'] / 1024:.0f} -> "
              f"{large['peak_rss_after_rebuild_kb'] / 1024:.0f} MiB")
    print()
    main_run = runs[-1]
    found = None
    if args.profile and PROFILE.exists():
        found = common.summarize_profile(PROFILE, args.profile_top, within="Projector.rebuild")
        found["raw"] = str(PROFILE.relative_to(common.REPO))
        print(f"rebuild profile ({found['samples']} wall-clock samples inside Projector.rebuild, "
              f"py-spy --idle, so waiting on PostgreSQL shows too; stacks in {found['raw']})")
        print(common.table(["self %", "function"], [[f"{v:.1f}", f] for f, v in found["self"]]))
        print()
        print(common.table(["inclusive %", "function"],
                           [[f"{v:.1f}", f] for f, v in found["inclusive"]]))
        print()

    def rounded(r: dict[str, Any]) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}

    path = common.emit("rebuild", {
        "background_busy_before": round(idle_check, 3),
        "batch": args.batch,
        "events": main_run["events"],
        "rebuild_eps": round(main_run["rebuild_eps"], 1),
        "read_eps": round(main_run["read_eps"], 1),
        "read_decode_eps": round(main_run["decode_eps"], 1),
        "ratio_rebuild_to_read": round(main_run["rebuild_eps"] / main_run["read_eps"], 4),
        "ratio_rebuild_to_read_decode": round(main_run["rebuild_eps"] / main_run["decode_eps"],
                                              4),
        "runs": [rounded(r) for r in runs],
        "profile": found,
    })
    common.say(f"results kept in {path.relative_to(common.REPO)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started was stopped on the way out
        common.say("interrupted")
        sys.exit(130)

"""Read-model rebuild rate against the raw notification read rate of the same event log, and
the rebuild's peak memory at two log sizes, on PostgreSQL and SQLite.

Each log is one of worked cases (bench/case_log.py: cases with consents, disclosures,
referrals, outcomes and reports, written through the real commands; by default 2,800 and
11,200 cases, about 50,000 and 200,000 events), seeded once and reused. For each store and
size a fresh child process measures, in this order:

  1. a warm-up pass over the log (untimed), so every timed pass reads from warm caches;
  2. Projector.rebuild(): replay the whole log into every read model aside, then swap them in
     (timed), sampling the process's resident memory at every batch; peak RSS (ru_maxrss) is
     read right after;
  3. raw read: app.recorder.select_notifications(start, limit=500) over the whole log;
  4. raw read + decode: the same plus app.mapper.to_domain_event() for each notification.

Rates are events of the log per second; the ratios are rebuild / raw read and rebuild / raw
read + decode. Memory is flat when the larger log's peak RSS is within --margin of the
smaller's (the PASS/FAIL line per store); the growth per case is printed beside it.
--tracemalloc also traces the rebuild's allocations (slower) and lists the lines whose memory,
held at the end of the last read model's pass, grew most between the two sizes.

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
import tracemalloc
from pathlib import Path
from typing import Any

import case_log
import common

CHILD_MARK = "REBUILD_CHILD "
TRACE_FRAMES = 1  # allocations grouped by the line that made them


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


def profile_path(store: str) -> Path:
    return common.RESULTS / f"profile-rebuild-{store}.txt"


def trace_path(store: str, cases: int) -> Path:
    return common.RESULTS / f"tracemalloc-rebuild-{store}-{cases}.bin"


def child(args: argparse.Namespace) -> dict[str, Any]:
    from api.wiring import build_system

    log = case_log.Log(args.store, args.cases, args.database_url)
    label = f"{args.store} {args.cases} cases"
    system = build_system(log.settings())
    try:
        app = system.app
        head = system.projector.head()
        common.say(f"[{label}] warm-up read of {head} events")
        read_log(app, args.batch, decode=True)

        rss_before = common.rss_kb()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        samples: list[int] = []
        # The projector reads each projection's topics in its own pass, so the progress line
        # restarts once per projection.
        progress = common.Progress(f"[{label}] rebuild (events/position)", head)
        last = system.projector.rebuilt()[-1].name
        if args.trace:
            tracemalloc.start(TRACE_FRAMES)

        def show(name: str, position: int, _head: int) -> None:
            samples.append(common.rss_kb())
            progress.update(position, f" [{name}] RSS {samples[-1] / 1024:.0f} MiB")
            if args.trace and name == last and position >= head:
                # What the last read model holds at the end of its pass, before the swap.
                tracemalloc.take_snapshot().dump(str(trace_path(args.store, args.cases)))

        system.projector.batch_size = args.batch
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        applied = system.projector.rebuild(show)
        rebuild_s = time.perf_counter() - started
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_s = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        progress.finish()
        traced_peak = tracemalloc.get_traced_memory()[1] if args.trace else None
        tracemalloc.stop()
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
            common.say(
                f"[{label}] raw read pass {n + 1}/{args.repeat}: "
                f"{head / raw['read'][-1]:,.0f} ev/s read, "
                f"{head / raw['read+decode'][-1]:,.0f} ev/s read+decode"
            )
        with system.store.read() as cursor:
            case_rows = cursor.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
        return {
            "store": args.store,
            "cases": args.cases,
            "events": head,
            "applied": applied,
            "positions": positions,
            "case_rows": int(case_rows),
            "batch": args.batch,
            "rebuild_s": rebuild_s,
            "rebuild_eps": head / rebuild_s,
            "rebuild_python_cpu_share": cpu_s / rebuild_s,
            "read_s": statistics.median(raw["read"]),
            "read_eps": head / statistics.median(raw["read"]),
            "decode_s": statistics.median(raw["read+decode"]),
            "decode_eps": head / statistics.median(raw["read+decode"]),
            "rss_before_kb": rss_before,
            "rss_after_kb": rss_after,
            "rss_max_sampled_kb": max(samples, default=rss_after),
            "rss_growth_kb": max(samples, default=rss_after) - rss_before,
            "peak_rss_before_rebuild_kb": maxrss_before,
            "peak_rss_after_rebuild_kb": maxrss_after,
            "traced_peak_kb": None if traced_peak is None else traced_peak // 1024,
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
        "with peak memory at two log sizes of worked cases, on PostgreSQL and "
        "SQLite. Prints a summary table, PASS/FAIL lines and a JSON line; keeps a "
        "copy under bench/results/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--cases",
        type=int,
        nargs=2,
        default=[2800, 11200],
        metavar=("SMALL", "LARGE"),
        help="worked cases in the small and the large log (~18 events each)",
    )
    p.add_argument(
        "--stores",
        nargs="+",
        default=["postgres", "sqlite"],
        choices=["postgres", "sqlite"],
        help="stores to measure",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.10,
        help="the larger log's peak RSS may exceed the smaller's by this share",
    )
    p.add_argument(
        "--database-url",
        default=common.DEFAULT_URL,
        help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)",
    )
    p.add_argument("--reseed", action="store_true", help="seed again even if already seeded")
    p.add_argument("--seed-threads", type=int, default=2, help="writer threads while seeding")
    p.add_argument(
        "--batch",
        type=int,
        default=500,
        help="notifications per select, for the projector and the raw reads",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=5,
        choices=range(1, 51),
        metavar="1..50",
        help="raw read passes (the median counts)",
    )
    p.add_argument(
        "--tracemalloc",
        dest="trace",
        action="store_true",
        help="trace the rebuild's allocations (slower: rates and RSS then include "
        "tracemalloc's own cost) and list the lines that grew most between "
        "the two sizes",
    )
    p.add_argument("--trace-top", type=int, default=12, help="lines to list")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run each store's large log's child under py-spy (wall clock, --idle) "
        "and list where the rebuild's time goes",
    )
    p.add_argument("--profile-top", type=int, default=20, help="functions to list")
    p.add_argument(
        "--child-timeout",
        type=float,
        default=900.0,
        help="seconds allowed for each log's measuring child process "
        "(stopped and reported beyond it)",
    )
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--store", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        args.cases = args.count
    return args


def measure(args: argparse.Namespace, store: str, cases: int, spy: str) -> dict[str, Any]:
    """Seeds (or reuses) one log and measures its rebuild in a fresh child process."""
    seeded = case_log.ensure(
        case_log.Log(store, cases, args.database_url), args.reseed, args.seed_threads
    )
    command = [
        sys.executable,
        __file__,
        "--child",
        "--store",
        store,
        "--count",
        str(cases),
        "--database-url",
        args.database_url,
        "--batch",
        str(args.batch),
        "--repeat",
        str(args.repeat),
    ] + (["--tracemalloc"] if args.trace else [])
    if args.profile and cases == max(args.cases):
        command = [
            spy,
            "record",
            "--idle",
            "--nonblocking",
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(profile_path(store)),
            "--",
            *command,
        ]
    try:
        out = run_child(command, args.child_timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(
            f"[{store} {cases}] the measuring child took more than "
            f"{args.child_timeout:g}s and was stopped (--child-timeout)"
        ) from None
    except subprocess.CalledProcessError as error:
        raise SystemExit(
            f"[{store} {cases}] the measuring child failed (exit "
            f"{error.returncode}); its error is above"
        ) from None
    line = next(x for x in out.splitlines() if x.startswith(CHILD_MARK))
    result: dict[str, Any] = json.loads(line[len(CHILD_MARK) :])
    result["seed"] = seeded
    return result


def flatness(small: dict[str, Any], large: dict[str, Any], margin: float) -> dict[str, Any]:
    """Whether the larger log's peak RSS stays within ``margin`` of the smaller's."""
    peak_s, peak_l = small["peak_rss_after_rebuild_kb"], large["peak_rss_after_rebuild_kb"]
    per_case = (peak_l - peak_s) * 1024 / max(1, large["cases"] - small["cases"])
    return {
        "store": small["store"],
        "peak_small_kb": peak_s,
        "peak_large_kb": peak_l,
        "growth": round(peak_l / peak_s - 1, 4),
        "bytes_per_case": round(per_case),
        "passed": peak_l <= peak_s * (1 + margin),
    }


def grown_lines(store: str, small: int, large: int, top: int) -> list[tuple[str, int, int]]:
    """(line, KiB held at the small size, KiB more at the large), largest growth first."""
    before = tracemalloc.Snapshot.load(str(trace_path(store, small)))
    after = tracemalloc.Snapshot.load(str(trace_path(store, large)))
    rows = []
    for stat in after.compare_to(before, "lineno")[:top]:
        frame = stat.traceback[0]
        where = frame.filename.replace(str(common.REPO) + "/", "")
        where = where.split("site-packages/")[-1].split("lib/python3.11/")[-1]
        rows.append(
            (
                f"{where}:{frame.lineno}",
                (stat.size - stat.size_diff) // 1024,
                stat.size_diff // 1024,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    if args.child:
        print(CHILD_MARK + json.dumps(child(args)), flush=True)
        return 0
    if args.batch < 1 or args.child_timeout <= 0 or args.cases[0] >= args.cases[1]:
        raise SystemExit(
            "--batch and --child-timeout must be above 0, and the small log "
            "smaller than the large one"
        )
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if args.profile and not Path(spy).exists():
        raise SystemExit(
            "py-spy not found: /work/venv/bin/pip install py-spy, or run without --profile"
        )

    idle_check = common.background_busy()
    runs = [measure(args, store, cases, spy) for store in args.stores for cases in args.cases]
    flat = [flatness(runs[i], runs[i + 1], args.margin) for i in range(0, len(runs), 2)]

    print()
    print(
        f"projection rebuild vs raw notification reads, logs of worked cases (batch "
        f"{args.batch}, {common.machine()['cpus']} cores; rates are events of the log per "
        "second; python CPU = the rebuilding process's own CPU time / rebuild wall time, the "
        "rest is waiting on the database)"
    )
    print(
        common.table(
            [
                "store",
                "cases",
                "events",
                "rebuild ev/s",
                "raw read ev/s",
                "read+decode ev/s",
                "rebuild/read",
                "rebuild/read+decode",
                "rebuild s",
                "python CPU",
                "RSS start MiB",
                "RSS growth MiB",
                "peak RSS MiB",
            ],
            [
                [
                    r["store"],
                    r["cases"],
                    r["events"],
                    f"{r['rebuild_eps']:,.0f}",
                    f"{r['read_eps']:,.0f}",
                    f"{r['decode_eps']:,.0f}",
                    f"{r['rebuild_eps'] / r['read_eps']:.3f}",
                    f"{r['rebuild_eps'] / r['decode_eps']:.3f}",
                    f"{r['rebuild_s']:.1f}",
                    f"{100 * r['rebuild_python_cpu_share']:.0f}%",
                    f"{r['rss_before_kb'] / 1024:.0f}",
                    f"{r['rss_growth_kb'] / 1024:.1f}",
                    f"{r['peak_rss_after_rebuild_kb'] / 1024:.0f}",
                ]
                for r in runs
            ],
        )
    )
    print()
    for f in flat:
        print(
            f"{'PASS' if f['passed'] else 'FAIL'} {f['store']}: peak RSS "
            f"{f['peak_small_kb'] / 1024:.0f} -> {f['peak_large_kb'] / 1024:.0f} MiB "
            f"({100 * f['growth']:+.1f} %, limit {100 * args.margin:+.0f} %) from "
            f"{args.cases[0]:,} to {args.cases[1]:,} cases: {f['bytes_per_case']:,} bytes "
            "per case"
        )
    print()
    traced = {}
    if args.trace:
        for store in args.stores:
            traced[store] = grown_lines(store, args.cases[0], args.cases[1], args.trace_top)
            print(
                f"{store}: memory held at the end of the last read model's pass, by line "
                f"(tracemalloc), grown most from {args.cases[0]:,} to {args.cases[1]:,} cases"
            )
            print(common.table(["line", "KiB small", "KiB more at large"], traced[store]))
            print()
    found = {}
    for store in args.stores if args.profile else []:
        if profile_path(store).exists():
            found[store] = common.summarize_profile(
                profile_path(store), args.profile_top, within="Projector.rebuild"
            )
            found[store]["raw"] = str(profile_path(store).relative_to(common.REPO))
            print(
                f"{store} rebuild profile ({found[store]['samples']} wall-clock samples "
                f"inside Projector.rebuild, py-spy --idle; stacks in {found[store]['raw']})"
            )
            print(
                common.table(
                    ["self %", "function"], [[f"{v:.1f}", f] for f, v in found[store]["self"]]
                )
            )
            print()

    common.emit(
        "rebuild",
        {
            "background_busy_before": round(idle_check, 3),
            "batch": args.batch,
            "margin": args.margin,
            "flat": flat,
            "ratios": {
                r["store"] + f"-{r['cases']}": {
                    "rebuild_to_read": round(r["rebuild_eps"] / r["read_eps"], 4),
                    "rebuild_to_read_decode": round(r["rebuild_eps"] / r["decode_eps"], 4),
                }
                for r in runs
            },
            "runs": common.rounded(runs),
            "tracemalloc": traced or None,
            "profile": found or None,
        },
    )
    return 0 if all(f["passed"] for f in flat) else 1


if __name__ == "__main__":
    common.run(main)

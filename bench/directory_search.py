"""Public directory search: the nrd GraphQL API against a plain Starlette endpoint, same SQL,
at two directory sizes, on PostgreSQL and on SQLite.

For each store and each size (default 5,000 and 50,000 organizations) it seeds a directory of
its own (a PostgreSQL schema, or a SQLite data folder under bench/results/, reused on later
runs), starts two uvicorn servers on loopback (one worker each), checks that both answer the
same organizations, then loads each in turn with the same concurrency for the same time and
reports requests/s, p50, p95, p99 and the ratio GraphQL / plain. Then, per store and server,
p50 at the largest size against p50 at the smallest: PASS when within --scale-target (3x).
When the GraphQL/plain ratio is below its target (or with --profile always) it samples the
GraphQL server under load with py-spy and prints the hottest functions.

    .venv/bin/python bench/directory_search.py     # 2 stores x (5,000 and 50,000) x 2 servers
    .venv/bin/python bench/directory_search.py --stores postgres --organizations 5000
    .venv/bin/python bench/directory_search.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import common

GRAPHQL = (
    "query Search($s: String!, $p: [String!]) { directory(search: $s, "
    "filter: {provinces: $p}, first: 20) { edges { node { id nameEn nameFr kind "
    "regions { province municipality } services { nameEn category } languages } } "
    "pageInfo { hasNextPage endCursor } } }"
)


def bodies(search: str, province: str) -> dict[str, bytes]:
    return {
        "graphql": json.dumps(
            {
                "query": GRAPHQL,
                "operationName": "Search",
                "variables": {"s": search, "p": [province]},
            }
        ).encode(),
        "plain": json.dumps({"search": search, "provinces": [province], "first": 20}).encode(),
    }


def post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def check_same_answer(targets: dict[str, str], payloads: dict[str, bytes]) -> dict[str, Any]:
    answers = {name: post(url, payloads[name]) for name, url in targets.items()}
    if answers["graphql"].get("errors"):
        raise SystemExit(f"the GraphQL answer has errors: {answers['graphql']['errors']}")
    pages = {name: a["data"]["directory"] for name, a in answers.items()}
    ids = {name: [e["node"]["id"] for e in p["edges"]] for name, p in pages.items()}
    if not ids["graphql"]:
        raise SystemExit("the search matched nothing: seed first or pick another word")
    if any(found != ids["graphql"] for found in ids.values()):
        raise SystemExit(f"the servers disagree on the ids:\n{ids}")
    same_fields = all(page == pages["graphql"] for page in pages.values())
    if not same_fields:
        raise SystemExit(
            "same ids but different fields:\n"
            f"{json.dumps(pages['graphql']['edges'][0])}\n"
            f"{json.dumps(pages['plain']['edges'][0])}"
        )
    return {
        "rows": len(ids["graphql"]),
        "has_next_page": pages["graphql"]["pageInfo"]["hasNextPage"],
        "identical_json": same_fields,
        "bytes": {n: len(json.dumps(a, separators=(",", ":"))) for n, a in answers.items()},
    }


# -- load --------------------------------------------------------------------------------------

WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,'
    .. '"connect_errors":%%d,"read_errors":%%d,"write_errors":%%d,"status_errors":%%d,'
    .. '"timeout_errors":%%d,"p50_us":%%d,"p90_us":%%d,"p95_us":%%d,"p99_us":%%d,'
    .. '"mean_us":%%.1f,"max_us":%%d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def run_wrk(
    name: str, url: str, body: bytes, connections: int, threads: int, seconds: float
) -> dict[str, Any]:
    script = common.RESULTS / f"wrk-{name}.lua"
    script.write_text(WRK_LUA % body.decode())
    command = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    errors = sum(
        raw[k]
        for k in (
            "connect_errors",
            "read_errors",
            "write_errors",
            "status_errors",
            "timeout_errors",
        )
    )
    return {
        "requests": raw["requests"],
        "seconds": raw["duration_us"] / 1e6,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "errors": errors,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
    }


def run_httpx(
    name: str, url: str, body: bytes, connections: int, threads: int, seconds: float
) -> dict[str, Any]:
    import httpx2 as httpx

    async def main() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:
            start = time.perf_counter()
            deadline = start + seconds

            async def one_client() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    try:
                        r = await client.post(
                            url, content=body, headers={"Content-Type": "application/json"}
                        )
                        if r.status_code != 200:
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - t0)

            await asyncio.gather(*(one_client() for _ in range(connections)))
            return latencies, errors, time.perf_counter() - start

    latencies, errors, elapsed = asyncio.run(main())
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "errors": errors,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(latencies) * 1000,
    }


def load(
    client: str, name: str, server: common.Server, url: str, body: bytes, args: argparse.Namespace
) -> dict[str, Any]:
    runner = run_wrk if client == "wrk" else run_httpx
    common.say(f"{name}: warm-up {args.warmup:g}s with {args.connections} connections")
    runner(name, url, body, args.connections, args.wrk_threads, args.warmup)
    common.say(
        f"{name}: measuring {args.duration:g}s with {args.connections} connections ({client})"
    )
    cpu0, (busy0, total0) = common.cpu_seconds(server.pid), machine_busy()
    result = runner(name, url, body, args.connections, args.wrk_threads, args.duration)
    cpu1, (busy1, total1) = common.cpu_seconds(server.pid), machine_busy()
    result["server_cpu_ms_per_request"] = (cpu1 - cpu0) * 1000 / max(1, result["requests"])
    result["server_cpu_cores"] = (cpu1 - cpu0) / result["seconds"]
    result["machine_busy"] = (busy1 - busy0) / max(1, total1 - total0)
    common.say(
        f"{name}: {result['rps']:,.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, errors {result['errors']}"
    )
    return result


# -- profile -----------------------------------------------------------------------------------

# Where the GraphQL server's CPU goes: (label, a frame the stack must hold, one it must not).
# A needle starting with "leaf:" must be in the innermost frame (self time) instead. Shares
# overlap (a line includes the indented lines under it); a frame renamed in the code shows as
# 0.0 here and can be found in the self/inclusive lists instead.
BREAKDOWN = (
    ("HTTP request handler (graphql_post)", "graphql_post (", None),
    ("  strawberry Schema.execute", "Schema.execute (", None),
    ("    resolver directory(): edges and nodes", "DirectoryQueries.directory (api", None),
    ("      Organization.from_doc (selected fields only)", "Organization.from_doc (", None),
    ("      selection lookups (selected())", ";selected (api/", None),
    (
        "    plain fields completed in one pass (ExecutionContext._complete)",
        "ExecutionContext._complete (api",
        None,
    ),
    ("    graphql-core's own code (self time)", "leaf:(graphql/", None),
    ("    strawberry extensions (gate, span)", "strawberry/extensions", None),
    ("  JSONResponse.render", "JSONResponse.render", None),
    ("DirectoryQueries.search (worker thread)", "DirectoryQueries.search (projections", None),
    ("  json.loads of each doc", "DirectoryQueries.search.<locals>.<listcomp>", None),
    ("  psycopg (execute, fetch, pool)", "psycopg", "DirectoryQueries.directory (api"),
    ("uvicorn h11 (parse, write)", "h11_impl", "graphql_post ("),
    ("asyncio event loop itself", "BaseEventLoop._run_once", "Handle._run"),
    ("projection worker thread (inline projections)", "Projector.run_forever", None),
)


def breakdown(raw: Path) -> list[tuple[str, float]]:
    counts = dict.fromkeys((label for label, _, _ in BREAKDOWN), 0)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        total += int(count)
        leaf = stack.rpartition(";")[2]
        for label, needle, unless in BREAKDOWN:
            found = (needle[5:] in leaf) if needle.startswith("leaf:") else (needle in stack)
            if found and (unless is None or unless not in stack):
                counts[label] += int(count)
    return [(label, 100 * n / max(1, total)) for label, n in counts.items()]


def profile(
    server: common.Server, url: str, body: bytes, args: argparse.Namespace, client: str
) -> dict[str, Any] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        common.say("py-spy not found: pip install py-spy, then run with --profile always")
        return None
    raw = common.RESULTS / "profile-graphql.txt"
    common.say(
        f"profiling the GraphQL server (pid {server.pid}) for {args.profile_seconds:g}s "
        "under the same load"
    )
    base = [
        spy,
        "record",
        "--pid",
        str(server.pid),
        "--duration",
        str(args.profile_seconds),
        "--rate",
        "200",
        "--nonblocking",
    ]
    if args.profile_gil:
        base.append("--gil")
    # Collapsed stacks: summarized below, and readable by speedscope or flamegraph.pl.
    spy_proc = subprocess.Popen(
        [*base, "--format", "raw", "--output", str(raw)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(1.0)
        runner = run_wrk if client == "wrk" else run_httpx
        runner("profile", url, body, args.connections, args.wrk_threads, args.profile_seconds)
        _, err = spy_proc.communicate(timeout=60)
    finally:  # py-spy stops by itself after --duration; never leave it attached
        if spy_proc.poll() is None:
            spy_proc.kill()
            spy_proc.wait(timeout=5)
    if spy_proc.returncode != 0:
        common.say(f"py-spy failed: {err.decode()[-500:]}")
        return None
    summary = common.summarize_profile(raw, args.profile_top)
    summary["breakdown"] = breakdown(raw)
    summary["raw"] = str(raw.relative_to(common.REPO))
    return summary


# -- main --------------------------------------------------------------------------------------


def positive(ceiling: int) -> Any:
    """An argparse type: a whole number from 1 to ``ceiling`` (so durations stay bounded)."""

    def parse(text: str) -> int:
        value = int(text)
        if not 1 <= value <= ceiling:
            raise argparse.ArgumentTypeError(f"must be from 1 to {ceiling:,}")
        return value

    parse.__name__ = "int"  # argparse names the type in its error messages
    return parse


def sizes(text: str) -> list[int]:
    """An argparse type: organization counts, comma-separated (1 to 1,000,000 each)."""
    found = sorted({positive(1_000_000)(part) for part in text.split(",") if part.strip()})
    if not found:
        raise argparse.ArgumentTypeError("name at least one size")
    return found


def stores(text: str) -> list[str]:
    found = [part.strip() for part in text.split(",") if part.strip()]
    if not found or set(found) - {"postgres", "sqlite"}:
        raise argparse.ArgumentTypeError("postgres, sqlite or both, comma-separated")
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Public directory search: the nrd GraphQL API vs a plain Starlette endpoint "
        "running the same SQL, each in its own uvicorn process (one worker) on "
        "loopback, loaded in turn with the same concurrency. Checks both answers "
        "are identical, prints req/s, latency percentiles, server CPU per request "
        "and the ratio GraphQL/plain, for each store and directory size; then p50 "
        "at the largest size against the smallest, PASS/FAIL; a JSON line, and a "
        "copy under bench/results/. Runs about stores x sizes x 2 x rounds x "
        "(warmup + duration) seconds after seeding (reused when already there), "
        "plus profile-seconds when profiling.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--organizations",
        type=sizes,
        default="5000,50000",
        help="directory sizes, comma-separated: each seeded once and reused",
    )
    p.add_argument(
        "--stores", type=stores, default="postgres,sqlite", help="postgres, sqlite or both"
    )
    p.add_argument(
        "--schema",
        default="bench_directory",
        help="prefix of the PostgreSQL schema (and SQLite folder) of each size: "
        "<schema>_<organizations>",
    )
    p.add_argument(
        "--seed-path",
        choices=["bulk", "commands"],
        default="bulk",
        help="bulk: the commands' events, 500 organizations per transaction "
        "(common.seed_bulk); commands: one command per transaction",
    )
    p.add_argument(
        "--database-url",
        default=common.DEFAULT_URL,
        help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)",
    )
    p.add_argument("--reseed", action="store_true", help="seed again even if already seeded")
    p.add_argument(
        "--seed-threads", type=positive(32), default=2, help="writer threads while seeding"
    )
    p.add_argument("--search", default="shelter", help="search text (should match many rows)")
    p.add_argument("--province", default="CA-ON", help="province filter")
    p.add_argument("--connections", type=positive(1024), default=16, help="concurrent clients")
    p.add_argument(
        "--duration",
        type=positive(600),
        default=20,
        help="measured seconds per server and round (whole seconds: wrk's unit)",
    )
    p.add_argument(
        "--warmup", type=positive(120), default=3, help="warm-up seconds per server and round"
    )
    p.add_argument(
        "--rounds",
        type=positive(10),
        default=2,
        help="measure each server this many times, alternating the order; each "
        "server's best round counts (other work on the machine only slows a "
        "round down), every round is kept in the JSON",
    )
    p.add_argument("--wrk-threads", type=positive(64), default=2, help="wrk threads")
    p.add_argument(
        "--client",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="load generator (auto: wrk if installed)",
    )
    p.add_argument("--target", type=float, default=0.5, help="the ratio GraphQL/plain to reach")
    p.add_argument(
        "--scale-target",
        type=float,
        default=3.0,
        help="PASS when p50 at the largest size is within this many times p50 at "
        "the smallest, for each store and server",
    )
    p.add_argument(
        "--profile",
        choices=["auto", "always", "never"],
        default="auto",
        help="py-spy the GraphQL server under load (auto: when below target)",
    )
    p.add_argument("--profile-seconds", type=positive(300), default=15, help="profiling seconds")
    p.add_argument("--profile-top", type=positive(500), default=25, help="functions to list")
    p.add_argument(
        "--profile-gil",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sample only the thread holding the GIL (py-spy --gil): where the "
        "server's CPU goes; --no-profile-gil also counts threads waiting on I/O",
    )
    return p.parse_args(argv)


def measure(store: str, count: int, args: argparse.Namespace, client: str) -> dict[str, Any]:
    """One store at one size: seed (or reuse), both servers, the same answer, the load."""
    schema = f"{args.schema}_{count}"
    seeded = common.ensure_seeded(
        schema,
        count,
        args.database_url,
        args.reseed,
        args.seed_threads,
        bulk=args.seed_path == "bulk",
        store=store,
    )
    env = (
        common.server_env(schema, args.database_url)
        if store == "postgres"
        else common.sqlite_env(common.sqlite_folder(schema))
    )
    graphql = common.Server(f"graphql-{store}", "nrd_app:create", env)
    plain = common.Server(f"plain-{store}", "plain_app:create", env)
    servers = {"plain": plain, "graphql": graphql}
    payloads = bodies(args.search, args.province)
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    with common.running(graphql, plain):
        urls = {"plain": plain.url + "/search", "graphql": graphql.url + "/graphql"}
        check = check_same_answer(urls, payloads)
        common.say(
            f"same answer from both: {check['rows']} organizations, identical JSON "
            f"data ({check['bytes']['graphql']} and {check['bytes']['plain']} bytes), "
            f"hasNextPage={check['has_next_page']}"
        )
        names = list(servers)
        for n in range(args.rounds):
            for name in names if n % 2 == 0 else reversed(names):
                results[name].append(
                    load(
                        client,
                        f"{name} {store} {count}",
                        servers[name],
                        urls[name],
                        payloads[name],
                        args,
                    )
                )
        check_after = check_same_answer(urls, payloads)
        chosen = {name: max(rounds, key=lambda r: r["rps"]) for name, rounds in results.items()}
        ratio = chosen["graphql"]["rps"] / chosen["plain"]["rps"]
        found = None
        if args.profile == "always" or (args.profile == "auto" and ratio < args.target):
            found = profile(graphql, urls["graphql"], payloads["graphql"], args, client)
    return {
        "store": store,
        "organizations": count,
        "events": seeded["events"],
        "seed": seeded,
        "check": check,
        "check_after_load_rows": check_after["rows"],
        **common.rounded(chosen),
        "all_rounds": common.rounded(results),
        "ratio": round(ratio, 3),
        "meets_target": ratio >= args.target,
        "profile": found,
    }


def print_run(run: dict[str, Any], args: argparse.Namespace, client: str) -> None:
    chosen = {name: run[name] for name in ("plain", "graphql")}
    rows = [
        [
            name,
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            f"{r['p99_ms']:.1f}",
            r["errors"],
            f"{r['server_cpu_ms_per_request']:.2f}",
            f"{r['server_cpu_cores']:.2f}",
            f"{100 * r['machine_busy']:.0f}%",
        ]
        for name, r in chosen.items()
    ]
    print()
    print(
        f"directory search on {run['store']}: {run['organizations']:,} organizations "
        f"({run['events']:,} events), search '{args.search}' in {args.province}, first 20; "
        f"{args.connections} clients x {args.duration:g}s after {args.warmup:g}s warm-up, "
        f"{client}, {args.rounds} round(s), best round per server; "
        f"{common.machine()['cpus']} cores"
    )
    print(
        common.table(
            [
                "server",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "errors",
                "server CPU ms/req",
                "server cores",
                "machine busy",
            ],
            rows,
        )
    )
    cpu_ratio = chosen["graphql"]["server_cpu_ms_per_request"] / max(
        1e-9, chosen["plain"]["server_cpu_ms_per_request"]
    )
    verdict = "meets" if run["meets_target"] else "BELOW"
    print(
        f"ratio GraphQL/plain: {run['ratio']:.3f} ({verdict} the target {args.target:g}); "
        f"p50 latency x{chosen['graphql']['p50_ms'] / chosen['plain']['p50_ms']:.2f}, "
        f"server CPU per request x{cpu_ratio:.2f}"
    )
    found = run["profile"]
    if found is not None:
        print(
            f"\nGraphQL server profile: {found['samples']} samples "
            f"(py-spy{' --gil' if args.profile_gil else ''}, {args.profile_seconds}s "
            f"under load); collapsed stacks in {found['raw']}"
        )
        print(
            common.table(
                ["share %", "where the GraphQL server's CPU goes"],
                [[f"{v:.1f}", label] for label, v in found["breakdown"]],
            )
        )
        print()
        print(
            common.table(
                ["self %", "function"],
                [[f"{s:.1f}", f] for f, s in found["self"][: args.profile_top]],
            )
        )
        print()
        print(
            common.table(
                ["inclusive %", "function"],
                [[f"{s:.1f}", f] for f, s in found["inclusive"][: args.profile_top]],
            )
        )


def scaling(runs: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per store and server: p50 (and p99) at the largest size against the smallest."""
    verdicts = []
    for store in args.stores:
        mine = sorted((r for r in runs if r["store"] == store), key=lambda r: r["organizations"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        for server in ("graphql", "plain"):
            ratio = large[server]["p50_ms"] / small[server]["p50_ms"]
            verdicts.append(
                {
                    "store": store,
                    "server": server,
                    "small": small["organizations"],
                    "large": large["organizations"],
                    "p50_small_ms": small[server]["p50_ms"],
                    "p50_large_ms": large[server]["p50_ms"],
                    "p99_small_ms": small[server]["p99_ms"],
                    "p99_large_ms": large[server]["p99_ms"],
                    "p50_ratio": round(ratio, 2),
                    "passed": ratio <= args.scale_target,
                }
            )
    return verdicts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    common.exit_cleanly_on_sigterm()
    client = common.choose_client(args.client)
    idle_check = common.background_busy()
    runs = [
        measure(store, count, args, client) for store in args.stores for count in args.organizations
    ]
    for run in runs:
        print_run(run, args, client)
    verdicts = scaling(runs, args)
    if verdicts:
        print()
        print(
            f"p50 at {verdicts[0]['large']:,} organizations against {verdicts[0]['small']:,} "
            f"(target: within {args.scale_target:g}x)"
        )
        print(
            common.table(
                [
                    "store",
                    "server",
                    "p50 small ms",
                    "p50 large ms",
                    "x",
                    "p99 small ms",
                    "p99 large ms",
                ],
                [
                    [
                        v["store"],
                        v["server"],
                        f"{v['p50_small_ms']:.1f}",
                        f"{v['p50_large_ms']:.1f}",
                        f"{v['p50_ratio']:.2f}",
                        f"{v['p99_small_ms']:.1f}",
                        f"{v['p99_large_ms']:.1f}",
                    ]
                    for v in verdicts
                ],
            )
        )
        for v in verdicts:
            print(
                f"{'PASS' if v['passed'] else 'FAIL'} {v['store']} {v['server']}: p50 "
                f"{v['p50_large_ms']:.1f} ms at {v['large']:,} vs {v['p50_small_ms']:.1f} ms "
                f"at {v['small']:,} = {v['p50_ratio']:.2f}x (target <= "
                f"{args.scale_target:g}x)"
            )
        print(f"{'PASS' if all(v['passed'] for v in verdicts) else 'FAIL'} overall")
    print()
    common.emit(
        "directory_search",
        {
            "background_busy_before": round(idle_check, 3),
            "search": args.search,
            "province": args.province,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "client": client,
            "target": args.target,
            "scale_target": args.scale_target,
            "runs": runs,
            "scaling": verdicts,
        },
    )
    return 0 if all(v["passed"] for v in verdicts) else 1


if __name__ == "__main__":
    common.run(main)

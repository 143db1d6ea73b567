"""Where a case mutation's API time goes, layer by layer, in one process on one thread.

Complements case_commands.py (which measures the whole path under load) by timing its layers
apart, each as CPU time per mutation, alternating rounds:

  graphql (nrd)      nrd's schema executing the benchmark's grantConsent and referCase
                     documents, the command itself stubbed out (policy, limits, masking and
                     argument handling, no store);
  graphql (no-op)    the same documents through bench/ceiling_app.py's schema;
  command            CaseUseCases.grant_consent and .refer called directly on PostgreSQL (the
                     load, the checks, the sealing, the write), no HTTP and no GraphQL.

The two GraphQL rows together say what nrd's GraphQL layer adds; the command row is the rest
of nrd's own work per mutation.

    /work/venv/bin/python bench/command_layers.py            # ~30 s
    /work/venv/bin/python bench/command_layers.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import ceiling_app
import common
from case_commands import GRANT, REFER, REFER_BRIEF, seed

from api.config import Settings
from api.context import Context
from api.wiring import build_system
from domain.base import Actor, acting_as
from domain.case import (
    ConsentGiver,
    ConsentMethod,
    ConsentScope,
    DisclosableField,
    Need,
    ReferralMode,
)
from domain.write_path import Outcome

# The fields and needs REFER names, as the use case takes them.
REFER_FIELDS = [
    DisclosableField.CALLER_NAME,
    DisclosableField.CALLER_PHONE,
    DisclosableField.NEEDS,
    DisclosableField.BRIEF,
]


async def graphql_ms(schema: Any, pairs: int, context: Any, case: str, org: str) -> float:
    """CPU ms per mutation executing the two documents ``pairs`` times."""
    started = time.process_time()
    for i in range(pairs):
        for document, name in ((GRANT, "Grant"), (REFER, "Refer")):
            result = await schema.execute(
                document,
                variable_values={"key": f"bench-{i}", "id": case, "org": org},
                context_value=context(),
                operation_name=name,
            )
            if result.errors:
                raise RuntimeError(f"{name} failed: {result.errors[0].message}")
    return (time.process_time() - started) * 1000 / (2 * pairs)


def command_ms(system: Any, pairs: int, org: str, cases: list[str]) -> float:
    """CPU ms per mutation calling the two use cases directly, ``pairs`` times."""
    app, organization = system.app, UUID(org)
    started = time.process_time()
    with acting_as(Actor("bench-staff-1", "staff", request_id="bench-layers")):
        for i in range(pairs):
            case = UUID(cases[i % len(cases)])
            app.grant_consent(
                f"bench-{uuid4()}",
                case,
                ConsentScope.SHARE_WITH_ORGANIZATION,
                organization,
                ConsentGiver.CALLER,
                ConsentMethod.VERBAL,
                None,
            )
            app.refer(
                f"bench-{uuid4()}",
                case,
                organization,
                ReferralMode.WARM_TRANSFER,
                [Need.SHELTER, Need.LEGAL],
                REFER_FIELDS,
                REFER_BRIEF,
            )
    return (time.process_time() - started) * 1000 / (2 * pairs)


def main() -> int:
    common.exit_cleanly_on_sigterm()
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--schema", default="bench_layers", help="PostgreSQL schema (recreated)")
    p.add_argument(
        "--database-url",
        default=common.DEFAULT_URL,
        help="PostgreSQL URL (or NRD_BENCH_DATABASE_URL)",
    )
    p.add_argument("--cases", type=int, default=200, help="cases the commands work through")
    p.add_argument("--pairs", type=int, default=300, help="consent-and-referral pairs per round")
    p.add_argument(
        "--rounds",
        type=int,
        choices=range(1, 11),
        default=3,
        metavar="1..10",
        help="rounds per layer, alternating; the median counts",
    )
    args = p.parse_args()

    common.say(f"schema {args.schema}: recreating; opening {args.cases} cases")
    common.recreate_schema(args.database_url, args.schema)
    system = build_system(common.settings_for(args.schema, args.database_url, pool_size=4))
    # The GraphQL layers run against a system of their own (SQLite, no rate limit), whose
    # command is stubbed: nothing they do reaches a store.
    scratch_dir = tempfile.TemporaryDirectory(prefix="nrd-layers-")
    scratch = build_system(
        Settings(data_dir=Path(scratch_dir.name), rate_limit_per_minute=1_000_000)
    )
    try:
        org, cases, _ = seed(system, args.cases, 1)
        system.projector.catch_up()
        token = scratch.auth.issue("staff", "bench-staff-1", hours=1)
        principal = scratch.auth.principal("Bearer " + token)
        case = cases[0]

        class StubbedCommand(Context):
            async def command(self, fn: Callable[[], Outcome], *, slow: bool = False) -> Outcome:
                return Outcome(UUID(case), 2, 1, topics=frozenset())

        def nrd_context() -> Context:
            return StubbedCommand(principal=principal, system=scratch, request_id="bench")

        rounds: dict[str, list[float]] = {"graphql (nrd)": [], "graphql (no-op)": [], "command": []}
        for n in range(args.rounds):
            common.say(f"round {n + 1}/{args.rounds}")
            rounds["graphql (nrd)"].append(
                asyncio.run(graphql_ms(scratch.schema, args.pairs, nrd_context, case, org))
            )
            rounds["graphql (no-op)"].append(
                asyncio.run(graphql_ms(ceiling_app.schema, args.pairs, lambda: None, case, org))
            )
            rounds["command"].append(command_ms(system, args.pairs, org, cases))
    finally:
        system.close()
        scratch.close()
        scratch_dir.cleanup()

    medians = {name: statistics.median(values) for name, values in rounds.items()}
    print()
    print(
        common.table(
            ["layer", "median CPU ms/mutation", "rounds"],
            [
                [name, f"{medians[name]:.3f}", " ".join(f"{v:.3f}" for v in values)]
                for name, values in rounds.items()
            ],
        )
    )
    added = medians["graphql (nrd)"] - medians["graphql (no-op)"]
    print(
        f"nrd's GraphQL layer adds {added:+.3f} ms per mutation to the no-op schema's; the "
        f"command itself costs {medians['command']:.3f} ms"
    )
    common.emit(
        "command_layers",
        {
            "schema": args.schema,
            "cases": args.cases,
            "pairs": args.pairs,
            "rounds": rounds,
            "median_ms": medians,
            "graphql_added_ms": added,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

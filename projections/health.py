"""How current the read models are, in one place: ``nrd projections status`` and ``/readyz``
tell the same truth.

A read model is behind when it is further from the head of the log than a bound in events,
or when it is behind at all and has not moved for longer than a bound in seconds (its worker
stopped, or waits on a lock): a worker at the head says so every few seconds
(``HEARTBEAT_SECONDS``), so a read model a day behind is never taken for a current one. Any
quarantined event, and a read model stopped on an error that is not the database's, are
reported too. Reasons name read models, counts and error types: never a value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from projections.runner import Projector

CURRENT, BEHIND, QUARANTINED = "current", "behind", "quarantined"


@dataclass(frozen=True)
class ReadModelHealth:
    name: str
    position: int
    behind: int  # events between its position and the head
    idle_seconds: float | None  # since it last moved or said it was current; None: never
    quarantined: int
    failure: str | None  # the error it stopped on, when not the database's


@dataclass(frozen=True)
class Health:
    head: int
    read_models: list[ReadModelHealth]
    missing: list[str]  # read models without a tracking position

    def assess(self, max_lag: int, max_stall: float) -> tuple[str, list[str]]:
        """(verdict, reasons): ``quarantined`` when any event is, else ``behind`` when any
        read model is past a bound or stopped, else ``current``."""
        held = [
            f"{m.name}: {m.quarantined} event(s) quarantined"
            for m in self.read_models
            if m.quarantined
        ]
        late: list[str] = [
            f"{name}: no tracking position (run `nrd db migrate`)" for name in self.missing
        ]
        for model in self.read_models:
            if model.failure:
                late.append(f"{model.name}: stopped on {model.failure}")
            if model.behind > max_lag:
                late.append(f"{model.name}: {model.behind} events behind (bound {max_lag})")
            elif model.behind and (model.idle_seconds is None or model.idle_seconds > max_stall):
                idle = (
                    "never moved"
                    if model.idle_seconds is None
                    else f"no progress for {model.idle_seconds:.0f}s"
                )
                late.append(
                    f"{model.name}: {model.behind} events behind and {idle} "
                    f"(bound {max_stall:.0f}s)"
                )
        verdict = QUARANTINED if held else BEHIND if late else CURRENT
        return verdict, held + late


def read_health(projector: Projector) -> Health:
    """Every read model's position against the head, read after the head (so that a read
    model is never reported behind a head it had passed)."""
    head = projector.head()
    with projector.store.read() as cursor:
        rows = cursor.execute(
            "SELECT name, position, moved_at, quarantined, failure FROM projection_tracking"
        ).fetchall()
    now = time.time()
    found = {row[0]: row for row in rows}
    models = []
    for projection in projector.projections:
        row = found.get(projection.name)
        if row is None:
            continue
        _, position, moved_at, quarantined, failure = row
        models.append(
            ReadModelHealth(
                projection.name,
                int(position),
                max(0, head - int(position)),
                None if moved_at is None else max(0.0, now - float(moved_at)),
                int(quarantined or 0),
                failure,
            )
        )
    missing = [p.name for p in projector.projections if p.name not in found]
    return Health(head, models, missing)

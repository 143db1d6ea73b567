"""Named points in the projection worker where a fault test can strike: inert in production.

The fault tests (``tests/integration/test_projection_faults.py``, ``bench/fault_*.py``) run a
real worker process and make it fail at an exact point of a batch: killed with SIGKILL, its
database connection cut, or paused while the harness restarts PostgreSQL. They arm one point
through ``NRD_TEST_FAULT`` (``point:nth:action``, e.g. ``before-commit:3:kill``), read once
when this module is imported; without it ``reached`` returns at once.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

ENVIRONMENT = "NRD_TEST_FAULT"
# Where a paused worker says where it stopped, and waits for the file to go.
PAUSE_DIRECTORY = "NRD_TEST_FAULT_DIR"
POINTS = ("locked", "processed", "state-stored", "tracked", "committed", "listening")
ACTIONS = ("kill", "cut", "pause")
PAUSE_LIMIT = 60.0  # a paused worker carries on by itself after this long


def _armed(spec: str | None) -> tuple[str, int, str] | None:
    if not spec:
        return None
    point, nth, action = spec.split(":")
    if point not in POINTS or action not in ACTIONS or not nth.isdigit():
        raise ValueError(
            f"{ENVIRONMENT} must be point:nth:action with a point of {POINTS} "
            f"and an action of {ACTIONS}"
        )
    return point, int(nth), action


_ARMED = _armed(os.environ.get(ENVIRONMENT))
_seen = [0]


def reached(point: str, cursor: Any = None) -> None:
    """The worker is at ``point`` (inside a batch's transaction, ``cursor`` is its cursor)."""
    if _ARMED is None or _ARMED[0] != point:
        return
    _seen[0] += 1
    if _seen[0] != _ARMED[1]:
        return
    action = _ARMED[2]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "cut" and cursor is not None:
        # PostgreSQL ends this session's own backend: the batch's connection is gone.
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    elif action == "pause":
        marker = Path(os.environ.get(PAUSE_DIRECTORY, ".")) / f"paused-at-{point}"
        marker.write_text(str(os.getpid()))
        deadline = time.monotonic() + PAUSE_LIMIT
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

"""The worker's wake-up: a connection LISTENing to the channel the event store's inserts
NOTIFY (``api/infrastructure/recorders.py``)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import psycopg.conninfo
import psycopg.sql

from projections import faults


class LogListener:
    """Wakes a projection worker when any process writes events: the event store NOTIFYs a
    channel in every insert, and this holds a connection LISTENing to it (opened by ``start``,
    before the worker's first pass, so no insert after that pass goes unnoticed). A lost
    connection is opened again on the next wait; meanwhile the worker's interval bounds its
    lag.

    Under a steady load the worker passes again as soon as it has gathered, and has no use
    for notifications; each one still wakes this connection's server process and is sent to
    it. So the worker stops listening (``pause``) and listens again once a pass finds nothing
    (``resume``), then looks once more before it waits."""

    SLICE = 0.05  # how often a wait also looks at the local wake-up

    def __init__(self, params: dict[str, str], channel: str) -> None:
        self._conninfo = psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})
        self._listen = psycopg.sql.SQL("LISTEN {}").format(psycopg.sql.Identifier(channel))
        self._unlisten = psycopg.sql.SQL("UNLISTEN {}").format(psycopg.sql.Identifier(channel))
        self._conn: psycopg.Connection[Any] | None = None
        self.paused = False

    def start(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            self._conn.execute(self._listen)
            self.paused = False

    def pause(self) -> None:
        """Stops listening, until ``resume`` (or until a lost connection is opened again)."""
        if self.paused or self._conn is None or self._conn.closed:
            return
        try:
            self._conn.execute(self._unlisten)
            for _ in self._conn.notifies(timeout=0):  # those already sent
                pass
            self.paused = True
        except psycopg.Error:
            self.close()

    def resume(self) -> bool:
        """Listens again after ``pause``; True if it had paused. An insert made while paused
        sent nothing here: the caller looks for it before waiting."""
        if not self.paused:
            return False
        self.paused = False
        try:
            if self._conn is not None and not self._conn.closed:
                self._conn.execute(self._listen)
        except psycopg.Error:
            self.close()
        return True

    def wait(self, timeout: float, local: threading.Event) -> bool:
        """Waits up to ``timeout`` seconds; True once an insert was notified, or ``local`` (a
        command of this process) was set. Notifications already queued are taken too, so one
        batch answers them all."""
        deadline = time.monotonic() + timeout
        try:
            self.start()
            assert self._conn is not None
            faults.reached("listening", self._conn)
            while not local.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if any(
                    True for _ in self._conn.notifies(timeout=min(left, self.SLICE), stop_after=1)
                ):
                    for _ in self._conn.notifies(timeout=0):
                        pass
                    return True
            return True
        except psycopg.Error:
            self.close()
            return local.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

"""A least-recently-used cache bounded by its entries' approximate size, not only by their count.

A count alone bounds nothing when entries grow: a case aggregate holds every consent and
referral it was given, and a document's parse tree is as large as its caller made it. Each
entry (its key with its value: a key can be large too) is measured once, when it is put
(``deep_size``, or a cheaper ``size_of`` where every entry costs about the same), and the
oldest entries go once the total passes ``max_bytes``.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MIB = 1024 * 1024
# Shared by every instance that points to them: not part of any entry's size.
_SHARED = (type, ModuleType, FunctionType, BuiltinFunctionType, MethodType)


def deep_size(value: object, limit: int = sys.maxsize) -> int:
    """About how many bytes ``value`` holds: ``sys.getsizeof`` of each object it reaches, once
    each, not counting classes, modules and functions. Stops counting past ``limit``."""
    seen: set[int] = set()
    todo = [value]
    total = 0
    while todo and total <= limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, _SHARED):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return total


class BoundedCache(Generic[K, V]):
    """Least recently used first out, once the entries pass ``max_bytes`` (as measured by
    ``size_of(key, value)`` when put) or ``max_entries``. An entry larger than ``max_bytes``
    on its own is not kept. Safe to use from several threads."""

    def __init__(
        self,
        max_bytes: int,
        max_entries: int | None = None,
        size_of: Callable[[K, V], int] | None = None,
    ) -> None:
        self.max_bytes = max(0, max_bytes)
        self.max_entries = max_entries
        self._size_of = size_of or (lambda key, value: deep_size((key, value), self.max_bytes))
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The entry (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        size = self._size_of(key, value)  # outside the lock: it may walk a large object
        with self._lock:
            self._drop(key)
            if size > self.max_bytes or self.max_entries == 0:
                return
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or (
                self.max_entries is not None and len(self._entries) > self.max_entries
            ):
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def pop(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            self._drop(key)
            return None if entry is None else entry[0]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size(self) -> int:
        """The entries' measured bytes, together."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def _drop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]

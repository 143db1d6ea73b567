"""The size-bounded cache every process cache uses (domain/bounded.py)."""

from __future__ import annotations

import threading

from domain.bounded import BoundedCache, deep_size


def sized(cache_bytes: int, max_entries: int | None = None) -> BoundedCache[str, bytes]:
    """A cache whose entries weigh their value's length, so tests can count bytes."""
    return BoundedCache(cache_bytes, max_entries, size_of=lambda _key, value: len(value))


def test_the_least_recently_used_entries_go_once_the_bytes_pass_the_bound() -> None:
    cache = sized(100)
    for key in "abcd":
        cache.put(key, b"x" * 30)
    assert [k for k in "abcd" if k in cache] == ["b", "c", "d"]
    assert cache.size == 90


def test_the_entries_go_once_their_count_passes_the_bound() -> None:
    cache = sized(10_000, max_entries=2)
    for key in "abc":
        cache.put(key, b"x")
    assert len(cache) == 2 and "a" not in cache


def test_a_read_makes_an_entry_the_most_recently_used() -> None:
    cache = sized(60)
    cache.put("a", b"x" * 30)
    cache.put("b", b"x" * 30)
    assert cache.get("a") == b"x" * 30
    cache.put("c", b"x" * 30)
    assert "a" in cache and "b" not in cache


def test_an_entry_larger_than_the_bound_is_not_kept_and_replaces_nothing() -> None:
    cache = sized(100)
    cache.put("a", b"x" * 50)
    cache.put("big", b"x" * 101)
    assert "big" not in cache and cache.get("a") is not None


def test_putting_a_key_again_counts_its_new_size_only() -> None:
    cache = sized(100)
    cache.put("a", b"x" * 80)
    cache.put("a", b"x" * 10)
    assert cache.size == 10
    assert cache.pop("a") == b"x" * 10 and cache.size == 0 and cache.pop("a") is None


def test_the_default_measure_counts_what_an_entry_holds_and_its_key() -> None:
    small, large = deep_size(("k", [1])), deep_size(("k", [bytes([n]) * 1000 for n in range(10)]))
    assert large > small + 10_000
    assert deep_size(("k" * 5000, None)) > 5000
    cache: BoundedCache[str, list[bytes]] = BoundedCache(30_000)
    for n in range(10):
        cache.put(str(n), [bytes([n, m]) * 500 for m in range(10)])
    assert 1 <= len(cache) <= 2 and cache.size <= 30_000


def test_the_measure_does_not_count_shared_classes_and_stops_past_its_limit() -> None:
    class Holder:
        pass

    holder = Holder()
    assert deep_size(holder) < 1000  # its class and the module are everyone's
    assert deep_size([b"x" * 10_000] * 1 + [b"y" * 10_000], limit=100) < 20_000


def test_threads_putting_and_reading_at_once_keep_the_bound() -> None:
    cache = sized(5_000, max_entries=100)

    def work(n: int) -> None:
        for i in range(2_000):
            cache.put(f"{n}-{i % 300}", b"x" * (i % 97))
            cache.get(f"{(n + 1) % 4}-{i % 300}")
            if i % 7 == 0:
                cache.pop(f"{n}-{(i + 3) % 300}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) <= 100 and 0 <= cache.size <= 5_000
    assert cache.size == sum(len(cache.get(k) or b"") for k in list(cache._entries))

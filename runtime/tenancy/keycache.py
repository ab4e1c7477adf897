"""A short-lived, in-process cache of runtime key hash -> tenant, so a request does not ask the
database who its key belongs to.

Only keys that authenticated are kept; an unknown key is looked up every time, so a key made a
moment ago by `terrarium tenants create` in another process works at once. A revocation made by
this process drops the tenant's entries (`forget`) or the one key's (`forget_key`) immediately;
one made elsewhere (another process, another replica) takes effect when the entry expires, at
most `ttl_s` later. `ttl_s` 0 disables the cache.
"""

from __future__ import annotations

import time
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyCache(Generic[T]):
    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, str, T]] = {}
        # Bumped by every forget(): a lookup that began before a revocation must not re-add it.
        self.generation = 0

    def get(self, key_hash: str) -> T | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        expires, _, value = entry
        if time.monotonic() >= expires:
            del self._entries[key_hash]
            return None
        return value

    def put(self, key_hash: str, owner: str, value: T, generation: int) -> None:
        """Keep `value` (belonging to `owner`, a tenant id) for `ttl_s` seconds, unless a
        revocation happened since `generation` was read (the lookup may predate it)."""
        if self.ttl_s <= 0 or generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # a bound, not an eviction policy: entries are cheap to refill
        self._entries[key_hash] = (time.monotonic() + self.ttl_s, owner, value)

    def forget(self, owner: str) -> None:
        """Drop every entry of `owner` (its keys were revoked)."""
        self.generation += 1
        for key_hash in [h for h, (_, o, _) in self._entries.items() if o == owner]:
            del self._entries[key_hash]

    def forget_key(self, key_hash: str) -> None:
        """Drop one key's entry (it was revoked, or will be at a time it did not carry)."""
        self.generation += 1
        self._entries.pop(key_hash, None)

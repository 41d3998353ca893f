"""HTTP basic auth against ``basic_auth_users``' bcrypt hashes, the toolkit's way.

A bcrypt comparison costs tens of milliseconds by design, so it runs in one worker thread
(off the event loop, and one at a time, as the toolkit serialises them with a mutex) and
its verdict is cached. The cache key holds the user, the hash and a digest of the password,
so a changed hash or password is never answered from the cache (CVE-2022-46146 was a cache
keyed without the hash). An unknown user is compared against a hash of the same cost as the
configured ones, so a wrong name takes as long as a wrong password and names cannot be
probed by timing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import bcrypt

CACHE_SIZE = 100
CACHE_TRIM_TO = 90
"""As the toolkit: at 100 entries the oldest are dropped down to 90."""


def parse_basic(header: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header, or ``None``."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class BasicAuth:
    def __init__(self, users: dict[str, bytes]) -> None:
        self.users = users
        self._decoy = _decoy_hash(users)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pitwatch-bcrypt")

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def check(self, user: str, password: str) -> bool:
        known = user in self.users
        hashed = self.users[user] if known else self._decoy
        key = _cache_key(user, hashed, password)
        cached = self._cache.get(key)
        if cached is None:
            loop = asyncio.get_running_loop()
            matches = await loop.run_in_executor(self._worker, _matches, password, hashed)
            cached = known and matches
            self._remember(key, cached)
        return cached and known

    def _remember(self, key: bytes, verdict: bool) -> None:
        self._cache[key] = verdict
        if len(self._cache) >= CACHE_SIZE:
            while len(self._cache) > CACHE_TRIM_TO:
                self._cache.popitem(last=False)


def _matches(password: str, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8", "surrogateescape"), hashed)
    except ValueError:  # a hash bcrypt cannot read: the config check lets none through
        return False


def _cache_key(user: str, hashed: bytes, password: str) -> bytes:
    material = b"\0".join((user.encode("utf-8", "surrogateescape"), hashed))
    return hmac.new(material, password.encode("utf-8", "surrogateescape"), hashlib.sha256).digest()


def _decoy_hash(users: dict[str, bytes]) -> bytes:
    """A hash nobody knows the password of, at the cost most users' hashes have."""
    costs = [int(hashed.split(b"$")[2]) for hashed in users.values()]
    cost = max(set(costs), key=costs.count) if costs else 10
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=cost))

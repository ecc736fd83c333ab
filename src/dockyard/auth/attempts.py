"""Failed authentication attempts per client address, to slow down guessing the key.

Each address has a bucket of ``per_minute`` attempts that refills at ``per_minute`` a
minute: a person who mistypes the key a few times is not slowed down, a script that
guesses gets one try every ``60 / per_minute`` seconds. The buckets live in each worker
process (a server with N workers allows up to N times as many guesses), and only the
``capacity`` addresses that failed last are tracked, so memory stays bounded whatever
the number of addresses. IPv6 clients count by their /64 network, the block one host
usually holds.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import Scope


def client_address(scope: Scope) -> str:
    """The address that failed attempts are counted by (``""`` when unknown)."""
    client = scope.get("client")
    host = str(client[0]) if client else ""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:  # an IPv4 client of a dual-stack socket
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class FailedAttempts:
    def __init__(
        self,
        per_minute: int,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = float(per_minute)
        self._rate = per_minute / 60.0
        self._capacity = capacity
        self._clock = clock
        # address -> (attempts left, when last counted); least recently failed first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def retry_after(self, scope: Scope) -> int:
        """Seconds until this client may try again; 0 when it may now."""
        if not self._buckets:  # the usual case: one check, no address parsing
            return 0
        address = client_address(scope)
        entry = self._buckets.get(address)
        if entry is None:
            return 0
        left = self._left(entry)
        if left >= self.burst:
            del self._buckets[address]  # forgiven: no need to remember it
            return 0
        return 0 if left >= 1 else math.ceil((1 - left) / self._rate)

    def fail(self, scope: Scope) -> None:
        """Count a wrong key or a failed sign-in from this client."""
        address = client_address(scope)
        entry = self._buckets.pop(address, None)
        left = self.burst if entry is None else self._left(entry)
        self._buckets[address] = (left - 1, self._clock())
        while len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)

    def _left(self, entry: tuple[float, float]) -> float:
        left, when = entry
        return min(self.burst, left + (self._clock() - when) * self._rate)

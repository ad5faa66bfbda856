"""Per-model rate limits: concurrency that adapts to 429s, and requests/tokens per minute.

A provider that answers 429 is saying "fewer at once": each 429 halves the model's
concurrency (down to 1) and every run of successes as long as the current limit adds one
back, up to the configured maximum (additive increase, multiplicative decrease, as TCP does).
The Retry-After wait itself is honoured by the call's own retry loop (harness.providers.call).
Requests and tokens per minute are paced with token buckets holding one second's worth, so
a run stays under the provider's per-minute limits instead of bursting into them.
"""

from __future__ import annotations

import asyncio
import collections
import time


class _Bucket:
    """``rate`` units a second, at most ``capacity`` saved up; may run into debt when a call used more."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def take(self, amount: float) -> None:
        amount = min(amount, self.capacity)  # a call bigger than a second's worth waits for a full bucket
        while True:
            self._refill()
            if self.level >= amount:
                self.level -= amount
                return
            await asyncio.sleep((amount - self.level) / self.rate)

    def charge(self, amount: float) -> None:
        self._refill()
        self.level -= amount


class Throttle:
    """One model's limits within a run (or within one worker's share of it).

    ``shared`` is the run's overall limit (-j), taken last and per attempt, so a model waiting
    out its own limits or a Retry-After holds no slot another model could use.
    """

    def __init__(self, concurrency: int, *, rpm: float | None = None, tpm: float | None = None,
                 shared: asyncio.Semaphore | None = None):
        self.maximum = self.limit = max(1, concurrency)
        self.in_flight = 0
        self.successes = 0
        # Bumped at each decrease: 429s to requests sent before it were already answered by it.
        self.epoch = 0
        self._requests = _Bucket(rpm) if rpm else None
        self._tokens = _Bucket(tpm) if tpm else None
        self._shared = shared
        # Callers queued for a slot, first come first served; a slot is handed to one of them directly
        # (waking every waiter to race for it made a queued suite's CPU grow with the square of its size).
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, tokens: int = 0) -> int:
        """Wait for room; returns the epoch to hand back to release()."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
        else:
            slot = asyncio.get_running_loop().create_future()
            self._waiters.append(slot)
            try:
                await slot
            except asyncio.CancelledError:
                if slot.done() and not slot.cancelled():  # handed a slot just as it was cancelled: pass it on
                    self._give_back()
                raise
        try:
            if self._requests:
                await self._requests.take(1)
            if self._tokens and tokens:
                await self._tokens.take(tokens)
            if self._shared is not None:
                await self._shared.acquire()
        except BaseException:  # cancelled while pacing or queued for the run's limit: the slot goes on
            self._give_back()
            raise
        return self.epoch

    async def release(self, estimated_tokens: int = 0, used_tokens: int | None = None, *, epoch: int | None = None,
                      answered: bool = True, rate_limited: bool = False) -> None:
        """After an attempt: whether it was answered (with ``used_tokens``, when reported) or got a 429."""
        if self._shared is not None:
            self._shared.release()
        if self._tokens and used_tokens is not None:
            self._tokens.charge(used_tokens - min(estimated_tokens, self._tokens.capacity))
        if rate_limited:
            self.on_rate_limited(epoch)
        elif answered:
            self.on_success()
        self._give_back()

    def _give_back(self) -> None:
        self.in_flight -= 1
        self._hand_over()

    def _hand_over(self) -> None:
        """Give free slots to the callers waiting longest."""
        while self._waiters and self.in_flight < self.limit:
            slot = self._waiters.popleft()
            if not slot.done():  # a cancelled waiter's future is done: skip it
                self.in_flight += 1
                slot.set_result(None)

    def on_rate_limited(self, epoch: int | None = None) -> None:
        """Halve the limit, once per burst: a 429 to a request sent before the last decrease changes nothing."""
        if epoch is not None and epoch != self.epoch:
            return
        self.epoch += 1
        self.limit = max(1, self.limit // 2)
        self.successes = 0

    def on_success(self) -> None:
        self.successes += 1
        if self.limit < self.maximum and self.successes >= self.limit:
            self.limit += 1
            self.successes = 0


def estimate_tokens(messages: list[dict[str, str]], params: dict) -> int:
    """A request's tokens before it is sent: ~4 characters a token in, plus the answer's cap (or 256)."""
    prompt = sum(len(str(m.get("content", ""))) for m in messages) // 4
    return prompt + int(params.get("max_tokens") or params.get("max_completion_tokens") or 256)


def split(total: int, index: int, count: int) -> int:
    """Worker ``index``'s share of ``total`` (the shares add up to it exactly)."""
    return total // count + (index < total % count)

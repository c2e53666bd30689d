"""Renewing this node's certificate before it expires.

    loop: cert = store.load().cert
          target = renewal_time(cert, rng)          (50%..80% into the validity, random)
          sleep until target (in chunks of at most an hour, re-reading the wall clock and the
                              certificate, so a renew_now() or a suspended host is noticed)
          key = new_node_key(); cert, root = await renew(make_csr(key))
          store.save(NodeCredentials(key, cert, root)); on_renewed(creds)
          failure: retry after a backoff (30 s doubling to 10 min)

The renew callable sends the CSR to a manager over mutual TLS (NodeCA.RenewNodeCertificate);
the CA issues for the role the store gives the node, so `renew_now()` is also how a promoted or
demoted node gets a certificate for its new role.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from cryptography import x509

from manager.ca.certificates import make_csr, new_node_key, renewal_time
from manager.ca.keystore import CredentialStore, NodeCredentials
from manager.raft.clock import Clock

log = logging.getLogger(__name__)

MAX_SLEEP = 3600.0  # seconds: re-check the wall clock and the stored certificate this often
RETRY_INITIAL = 30.0
RETRY_MAX = 600.0

Renew = Callable[[bytes], Awaitable[tuple[bytes, bytes]]]  # CSR PEM -> (cert PEM, root CA PEM)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _nothing(_creds: NodeCredentials) -> None:
    return None


class CertificateRenewer:
    def __init__(
        self,
        *,
        store: CredentialStore,
        renew: Renew,
        clock: Clock,
        rng: random.Random,
        now: Callable[[], datetime] = _utcnow,
        on_renewed: Callable[[NodeCredentials], Awaitable[None]] = _nothing,
    ) -> None:
        """`clock` sleeps; `now` is the wall clock certificates are dated by. `on_renewed` runs
        after each renewal was saved (reload TLS credentials there)."""
        self._store = store
        self._renew = renew
        self._clock = clock
        self._rng = rng
        self._now = now
        self._on_renewed = on_renewed
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = [tg.create_task(self._loop())]
        finally:
            self._tasks = []

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def renew_now(self) -> None:
        """Renew at once (promotion, demotion); raises what the renewal raised."""
        async with self._lock:
            await self._renew_once()

    async def _loop(self) -> None:
        failures = 0
        cert: x509.Certificate | None = None
        target = self._now()
        while True:
            current = self._store.load().cert
            if current != cert:  # first pass, or renewed (by us or renew_now)
                cert = current
                target = renewal_time(cert, self._rng)
                failures = 0
                log.info("certificate renewal scheduled at %s", target.isoformat())
            wait = (target - self._now()) / timedelta(seconds=1)
            if wait > 0:
                await self._clock.sleep(min(wait, MAX_SLEEP))
                continue
            try:
                async with self._lock:
                    if self._store.load().cert != cert:
                        continue  # renew_now() got there first
                    await self._renew_once()
            except Exception as e:  # the manager unreachable, refused, a bad answer
                failures += 1
                delay = min(RETRY_MAX, RETRY_INITIAL * 2.0 ** min(failures - 1, 30))
                log.warning("certificate renewal failed (retrying in %.0f s): %s", delay, e)
                await self._clock.sleep(delay)

    async def _renew_once(self) -> None:
        key = new_node_key()
        cert_pem, root_pem = await self._renew(make_csr(key))
        creds = NodeCredentials(
            key=key,
            cert=x509.load_pem_x509_certificate(cert_pem),
            root_ca=x509.load_pem_x509_certificate(root_pem),
        )
        self._store.save(creds)  # checks that key, certificate and root belong together
        log.info("certificate renewed", extra={"node_id": creds.identity.node_id})
        await self._on_renewed(creds)

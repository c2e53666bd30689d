"""CertificateRenewer: renews at renewal_time with a fake clock and a seeded rng."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from manager.ca import (
    WORKER_ROLE,
    CredentialStore,
    NodeCredentials,
    RootCA,
    create_root_ca,
    renewal_time,
)
from manager.ca.renewal import RETRY_INITIAL, CertificateRenewer
from manager.raft import FakeClock
from tests.unit.ca.pki import NOW, Issuer
from tests.unit.dispatcher.helpers import running, settle

SEED = 7


class CA:
    """Issues renewals at the fake wall time; can be told to fail."""

    def __init__(self, root: RootCA, clock: FakeClock) -> None:
        self.root = root
        self.clock = clock
        self.calls: list[datetime] = []
        self.failures = 0

    def now(self) -> datetime:
        return NOW + timedelta(seconds=self.clock.now())

    async def renew(self, csr: bytes) -> tuple[bytes, bytes]:
        self.calls.append(self.now())
        if self.failures:
            self.failures -= 1
            raise ConnectionError("manager unreachable")
        cert = self.root.issue(
            csr, node_id="n1", role=WORKER_ROLE, cluster_id="c0luster1d", now=self.now()
        )
        return cert.public_bytes(serialization.Encoding.PEM), self.root.cert_pem


def setup(tmp_path: Path) -> tuple[CredentialStore, CA, FakeClock, CertificateRenewer, float]:
    root = create_root_ca(NOW - timedelta(days=1))
    store = CredentialStore(tmp_path / "certificates")
    first: NodeCredentials = Issuer(root).node("n1", WORKER_ROLE, now=NOW)
    store.save(first)
    clock = FakeClock()
    ca = CA(root, clock)
    renewer = CertificateRenewer(
        store=store, renew=ca.renew, clock=clock, rng=random.Random(SEED), now=ca.now
    )
    due = (renewal_time(first.cert, random.Random(SEED)) - NOW).total_seconds()
    return store, ca, clock, renewer, due


async def advance(clock: FakeClock, seconds: float) -> None:
    """Move time in hour steps, as the renewer re-checks at least every hour."""
    while seconds > 0:
        step = min(seconds, 3600.0)
        clock.advance(step)
        seconds -= step
        await settle(5)


async def test_renews_at_the_renewal_time_and_not_before(tmp_path: Path) -> None:
    store, ca, clock, renewer, due = setup(tmp_path)
    old = store.load().cert
    assert 45 * 86400 - 3600 < due < 72 * 86400  # 50%..80% of 90 days (backdated 1 h)
    async with running(renewer):
        await advance(clock, due - 1)
        assert ca.calls == []
        await advance(clock, 1)
        assert ca.calls == [NOW + timedelta(seconds=due)]
        new = store.load().cert
        assert new != old
        assert new.not_valid_before_utc == NOW + timedelta(seconds=due) - timedelta(hours=1)
        await advance(clock, 86400)  # the next renewal is weeks away
        assert len(ca.calls) == 1


async def test_a_failed_renewal_is_retried(tmp_path: Path) -> None:
    store, ca, clock, renewer, due = setup(tmp_path)
    ca.failures = 1
    async with running(renewer):
        await advance(clock, due)
        assert len(ca.calls) == 1
        await advance(clock, RETRY_INITIAL)
        assert len(ca.calls) == 2
    assert store.load().cert.not_valid_before_utc > NOW


async def test_renew_now_renews_at_once_and_reschedules(tmp_path: Path) -> None:
    store, ca, clock, renewer, _ = setup(tmp_path)
    rng = random.Random(SEED)  # replays the renewer's draws: one per certificate
    renewal_time(store.load().cert, rng)
    async with running(renewer):
        await advance(clock, 3600)
        await renewer.renew_now()
        assert len(ca.calls) == 1
        renewed: x509.Certificate = store.load().cert
        due = (renewal_time(renewed, rng) - ca.now()).total_seconds()
        await advance(clock, due - 1)  # past the old certificate's time, whichever it was
        assert len(ca.calls) == 1
        assert store.load().cert == renewed
        await advance(clock, 1)
        assert len(ca.calls) == 2


async def test_stop_ends_run(tmp_path: Path) -> None:
    _, _, _, renewer, _ = setup(tmp_path)
    task = asyncio.create_task(renewer.run())
    await settle()
    await renewer.stop()
    await asyncio.wait_for(task, 5)

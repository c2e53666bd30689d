"""Node credentials on disk: private key 0600, atomic writes, clear errors on load."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from manager.ca import (
    MANAGER_ROLE,
    WORKER_ROLE,
    CredentialsError,
    CredentialsNotFound,
    CredentialStore,
    NodeIdentity,
    RootCA,
    new_node_key,
)
from tests.unit.ca.pki import CLUSTER, NOW, Issuer


def test_save_and_load_round_trip(tmp_path: Path, issuer: Issuer) -> None:
    store = CredentialStore(tmp_path / "certificates")
    assert not store.exists()
    creds = issuer.node("node1", WORKER_ROLE)
    store.save(creds)
    assert store.exists()
    loaded = store.load()
    assert loaded.cert == creds.cert
    assert loaded.root_ca == creds.root_ca
    assert loaded.key_pem == creds.key_pem
    assert loaded.identity == NodeIdentity("node1", WORKER_ROLE, CLUSTER)


def test_modes(tmp_path: Path, issuer: Issuer) -> None:
    store = CredentialStore(tmp_path / "certificates")
    store.save(issuer.node("node1", WORKER_ROLE))
    assert stat.S_IMODE((tmp_path / "certificates").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "certificates" / "node.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "certificates" / "node.crt").stat().st_mode) == 0o644


def test_renewal_replaces_files_and_leaves_no_temporaries(tmp_path: Path, issuer: Issuer) -> None:
    store = CredentialStore(tmp_path)
    store.save(issuer.node("node1", WORKER_ROLE))
    promoted = issuer.node("node1", MANAGER_ROLE, now=NOW + timedelta(days=1))
    store.save(promoted)
    assert store.load().identity.role == MANAGER_ROLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.crt", "node.key", "root-ca.crt"]


def test_missing_directory_means_not_joined(tmp_path: Path) -> None:
    with pytest.raises(CredentialsNotFound, match="has not joined a cluster"):
        CredentialStore(tmp_path / "nothing").load()


def test_partial_credentials(tmp_path: Path, issuer: Issuer) -> None:
    store = CredentialStore(tmp_path)
    store.save(issuer.node("node1", WORKER_ROLE))
    (tmp_path / "node.crt").unlink()
    with pytest.raises(CredentialsError, match=r"node\.crt missing"):
        store.load()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("node.key", "not a readable PEM private key"),
        ("node.crt", "not a readable PEM certificate"),
        ("root-ca.crt", "not a readable PEM certificate"),
    ],
)
def test_damaged_files(tmp_path: Path, issuer: Issuer, name: str, message: str) -> None:
    store = CredentialStore(tmp_path)
    store.save(issuer.node("node1", WORKER_ROLE))
    (tmp_path / name).write_bytes(b"-----BEGIN garbage")
    with pytest.raises(CredentialsError, match=message):
        store.load()


def test_key_that_does_not_match_the_certificate(tmp_path: Path, issuer: Issuer) -> None:
    creds = issuer.node("node1", WORKER_ROLE)
    with pytest.raises(CredentialsError, match="key does not match"):
        CredentialStore(tmp_path).save(replace(creds, key=new_node_key()))
    CredentialStore(tmp_path).save(creds)
    other = issuer.node("node2", WORKER_ROLE)
    (tmp_path / "node.key").write_bytes(other.key_pem)
    with pytest.raises(CredentialsError, match="key does not match"):
        CredentialStore(tmp_path).load()


def test_certificate_from_another_root(tmp_path: Path, issuer: Issuer, other_root: RootCA) -> None:
    creds = issuer.node("node1", WORKER_ROLE)
    with pytest.raises(CredentialsError, match="not issued by the stored root CA"):
        CredentialStore(tmp_path).save(replace(creds, root_ca=other_root.cert))


def test_check_with_time(issuer: Issuer) -> None:
    creds = issuer.node("node1", WORKER_ROLE, validity=timedelta(hours=2))
    creds.check(NOW)
    with pytest.raises(CredentialsError, match="expired"):
        creds.check(NOW + timedelta(hours=3))

"""Root CA and node certificates: the names, roles and validity a Swarm user would find."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from manager.ca import (
    CA_ROLE,
    MANAGER_ROLE,
    WORKER_ROLE,
    CertificateRequestError,
    NodeIdentity,
    PermissionDenied,
    Role,
    RootCA,
    cert_digest,
    load_root_ca,
    make_csr,
    new_node_key,
    renewal_delay,
    renewal_time,
)
from tests.unit.ca.pki import CLUSTER, NOW, Issuer


def _names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


def test_root_ca_is_a_self_signed_p256_ca_valid_for_20_years(root: RootCA) -> None:
    cert = root.cert
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "shoal-ca"
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert cert.not_valid_after_utc - NOW == timedelta(days=20 * 365)
    assert cert.not_valid_before_utc <= NOW
    cert.verify_directly_issued_by(cert)


def test_digest_is_sha256_of_the_der_certificate(root: RootCA) -> None:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(root.cert.public_bytes(serialization.Encoding.DER))
    assert root.digest == cert_digest(root.cert) == digest.finalize()


@pytest.mark.parametrize(
    ("role", "names"),
    [
        (MANAGER_ROLE, [MANAGER_ROLE, "node1", CA_ROLE]),
        (WORKER_ROLE, [WORKER_ROLE, "node1"]),
    ],
)
def test_node_certificate_names_the_node_role_and_cluster(
    issuer: Issuer, root: RootCA, role: Role, names: list[str]
) -> None:
    creds = issuer.node("node1", role)
    cert = creds.cert
    subject = {a.oid: a.value for a in cert.subject}
    assert subject == {
        NameOID.COMMON_NAME: "node1",
        NameOID.ORGANIZATIONAL_UNIT_NAME: role,
        NameOID.ORGANIZATION_NAME: CLUSTER,
    }
    assert _names(cert) == names
    assert cert.issuer == root.cert.subject
    cert.verify_directly_issued_by(root.cert)
    assert cert.public_key() == creds.key.public_key()
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert NodeIdentity.from_certificate(cert) == NodeIdentity("node1", role, CLUSTER)


def test_validity_defaults_to_90_days_backdated_one_hour(issuer: Issuer) -> None:
    cert = issuer.node("node1", WORKER_ROLE).cert
    assert cert.not_valid_after_utc == NOW + timedelta(hours=2160)
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)


def test_validity_follows_cert_expiry(issuer: Issuer) -> None:
    cert = issuer.node("node1", WORKER_ROLE, validity=timedelta(hours=24)).cert
    assert cert.not_valid_after_utc == NOW + timedelta(hours=24)


def _csr_with(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chosen-by-node")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def test_subject_comes_from_the_ca_not_the_csr(root: RootCA) -> None:
    cert = root.issue(
        _csr_with(new_node_key()), node_id="node9", role=WORKER_ROLE, cluster_id=CLUSTER, now=NOW
    )
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node9"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"csr_pem": b"not a csr"}, "not a PEM CSR"),
        ({"csr_pem": _csr_with(ec.generate_private_key(ec.SECP384R1()))}, "P-256"),
        ({"csr_pem": _csr_with(rsa.generate_private_key(65537, 2048))}, "P-256"),
        ({"role": "swarm-admin"}, "unknown role"),
        ({"node_id": "Node_1"}, "not usable in a certificate"),
        ({"node_id": ""}, "not usable in a certificate"),
        ({"cluster_id": ""}, "cluster id"),
        ({"validity": timedelta(minutes=5)}, "too short"),
    ],
)
def test_refused_requests_say_why(root: RootCA, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "csr_pem": make_csr(new_node_key()),
        "node_id": "node1",
        "role": WORKER_ROLE,
        "cluster_id": CLUSTER,
        "now": NOW,
    }
    args.update(kwargs)
    csr = args.pop("csr_pem")
    with pytest.raises(CertificateRequestError, match=message):
        root.issue(csr, **args)


def test_a_root_without_its_key_cannot_sign(root: RootCA) -> None:
    with pytest.raises(CertificateRequestError, match="cannot issue"):
        RootCA(cert=root.cert).issue(
            make_csr(new_node_key()), node_id="n", role=WORKER_ROLE, cluster_id=CLUSTER, now=NOW
        )


def test_load_root_ca_round_trip_and_key_mismatch(root: RootCA, other_root: RootCA) -> None:
    assert root.key is not None and other_root.key is not None
    pem = root.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    loaded = load_root_ca(root.cert_pem, pem)
    assert loaded.digest == root.digest and loaded.can_sign
    assert not load_root_ca(root.cert_pem).can_sign
    with pytest.raises(ValueError, match="does not match"):
        load_root_ca(other_root.cert_pem, pem)


def test_verify_checks_issuer_and_time(issuer: Issuer, root: RootCA, other_root: RootCA) -> None:
    cert = issuer.node("node1", WORKER_ROLE, validity=timedelta(hours=10)).cert
    root.verify(cert, NOW)
    with pytest.raises(PermissionDenied, match="not issued by this cluster's root CA"):
        other_root.verify(cert, NOW)
    with pytest.raises(PermissionDenied, match="expired at 2025-03-01T22:00:00Z"):
        root.verify(cert, NOW + timedelta(hours=10))
    with pytest.raises(PermissionDenied, match="not valid before"):
        root.verify(cert, NOW - timedelta(hours=2))


@pytest.mark.parametrize("seed", range(50))
def test_renewal_falls_50_to_80_percent_into_validity(issuer: Issuer, seed: int) -> None:
    cert = issuer.node("node1", WORKER_ROLE).cert
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    at = renewal_time(cert, random.Random(seed))
    assert start + (end - start) * 0.5 <= at < start + (end - start) * 0.8


def test_renewal_is_spread_and_seeded(issuer: Issuer) -> None:
    cert = issuer.node("node1", WORKER_ROLE).cert
    times = {renewal_time(cert, random.Random(seed)) for seed in range(20)}
    assert len(times) > 10
    assert renewal_time(cert, random.Random(7)) == renewal_time(cert, random.Random(7))


def test_renewal_delay_counts_from_now_and_is_never_negative(issuer: Issuer) -> None:
    cert = issuer.node("node1", WORKER_ROLE).cert
    at = renewal_time(cert, random.Random(1))
    assert renewal_delay(cert, NOW, random.Random(1)) == at - NOW
    assert renewal_delay(cert, cert.not_valid_after_utc, random.Random(1)) == timedelta(0)

"""The cluster's root CA and the node certificates it issues. Pure: no files, no clock.

    create_root_ca(now) ──▶ RootCA(cert, key) ──digest──▶ join tokens
                                 │
    node: new_node_key() ─▶ make_csr(key) ─▶ RootCA.issue(csr, node_id, role, cluster_id, now)
                                                   │
                                                   ▼
                    cert: CN=node id, OU=role, O=cluster id, SAN=[role, node id (, swarm-ca)]

As in Swarm, only the public key is taken from a CSR; the subject and names come from the
caller (the CA server, which knows the node's id and the role its token or the store grants).
Certificates are backdated by an hour so that small clock skews between nodes do not matter.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from manager.ca.errors import CertificateRequestError, PermissionDenied
from manager.ca.roles import CA_ROLE, MANAGER_ROLE, ROLES, WORKER_ROLE, Role

ROOT_CN = "shoal-ca"
ROOT_CA_VALIDITY = timedelta(days=20 * 365)  # Swarm: 20 years
DEFAULT_NODE_CERT_VALIDITY = timedelta(hours=2160)  # Swarm: 90 days
MIN_NODE_CERT_VALIDITY = timedelta(hours=1)  # Swarm's floor for --cert-expiry
CERT_BACKDATE = timedelta(hours=1)
RENEW_LOWER = 0.5  # renew at a random point 50%..80% into validity, like Swarm
RENEW_UPPER = 0.8

# A node id becomes a DNS name in the certificate: one lowercase DNS label.
_NODE_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def new_node_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 key. Every node makes its own; it never leaves the node."""
    return ec.generate_private_key(ec.SECP256R1())


def make_csr(key: ec.EllipticCurvePrivateKey) -> bytes:
    """A PEM certificate signing request carrying only the node's public key."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def cert_digest(cert: x509.Certificate) -> bytes:
    """sha256 of the DER certificate: what a join token carries to identify the root CA."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()


@dataclass(frozen=True)
class NodeIdentity:
    """Who a certificate says its holder is."""

    node_id: str
    role: Role
    cluster_id: str

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> NodeIdentity:
        """Read CN/OU/O; raises PermissionDenied when the certificate is not a node's."""
        cn = _single(cert, NameOID.COMMON_NAME)
        ou = _single(cert, NameOID.ORGANIZATIONAL_UNIT_NAME)
        org = _single(cert, NameOID.ORGANIZATION_NAME)
        if not cn or not ou or not org:
            raise PermissionDenied(
                "the certificate is not a shoal node certificate (it needs CN, OU and O)"
            )
        if ou not in ROLES:
            raise PermissionDenied(f"the certificate names an unknown role {ou!r}")
        role: Role = MANAGER_ROLE if ou == MANAGER_ROLE else WORKER_ROLE
        return cls(node_id=cn, role=role, cluster_id=org)


def _single(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    attrs = cert.subject.get_attributes_for_oid(oid)
    if len(attrs) != 1:
        return ""
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


@dataclass(frozen=True)
class RootCA:
    """The cluster's root certificate, and its key on managers (None where it cannot sign)."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey | None = None

    @property
    def digest(self) -> bytes:
        return cert_digest(self.cert)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def can_sign(self) -> bool:
        return self.key is not None

    def issue(
        self,
        csr_pem: bytes,
        *,
        node_id: str,
        role: Role,
        cluster_id: str,
        now: datetime,
        validity: timedelta = DEFAULT_NODE_CERT_VALIDITY,
    ) -> x509.Certificate:
        """Sign a node certificate for the public key in `csr_pem`."""
        if self.key is None:
            raise CertificateRequestError(
                "this node holds no root CA key and cannot issue certificates; ask a manager"
            )
        if role not in ROLES:
            raise CertificateRequestError(f"unknown role {role!r}: use {' or '.join(ROLES)}")
        if not _NODE_ID.match(node_id):
            raise CertificateRequestError(
                f"node id {node_id!r} is not usable in a certificate "
                "(lowercase letters, digits and '-', at most 63 characters)"
            )
        if not cluster_id:
            raise CertificateRequestError("a certificate needs the cluster id (O); none given")
        if validity < MIN_NODE_CERT_VALIDITY:
            raise CertificateRequestError(
                f"certificate validity {validity} is too short: use at least "
                f"{MIN_NODE_CERT_VALIDITY} (--cert-expiry)"
            )
        public_key = _csr_public_key(csr_pem)
        names = [role, node_id] + ([CA_ROLE] if role == MANAGER_ROLE else [])
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, node_id),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, cluster_id),
            ]
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - CERT_BACKDATE)
            .not_valid_after(now + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(ca=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        return builder.sign(self.key, hashes.SHA256())

    def verify(self, cert: x509.Certificate, now: datetime) -> None:
        """Raise PermissionDenied unless `cert` was signed by this root and is valid at `now`."""
        try:
            cert.verify_directly_issued_by(self.cert)
        except (ValueError, TypeError, InvalidSignature):
            raise PermissionDenied(
                "the certificate was not issued by this cluster's root CA"
            ) from None
        if now < cert.not_valid_before_utc:
            raise PermissionDenied(
                f"the certificate is not valid before {_iso(cert.not_valid_before_utc)} "
                "(check the clocks of both nodes)"
            )
        if now >= cert.not_valid_after_utc:
            raise PermissionDenied(
                f"the certificate expired at {_iso(cert.not_valid_after_utc)}; "
                "the node must rejoin the cluster with a join token"
            )


def create_root_ca(
    now: datetime, *, validity: timedelta = ROOT_CA_VALIDITY, common_name: str = ROOT_CN
) -> RootCA:
    """A new self-signed ECDSA P-256 root CA, as `swarm init` makes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CERT_BACKDATE)
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return RootCA(cert=cert, key=key)


def load_root_ca(cert_pem: bytes, key_pem: bytes | None = None) -> RootCA:
    """A RootCA from PEM (as kept in the cluster object); checks the key matches the cert."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    check_root_certificate(cert)
    if key_pem is None:
        return RootCA(cert=cert)
    key = serialization.load_pem_private_key(key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ValueError("the root CA key does not match the root CA certificate")
    return RootCA(cert=cert, key=key)


def check_root_certificate(cert: x509.Certificate) -> None:
    """Raise ValueError unless `cert` is a self-signed CA certificate."""
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        raise ValueError("the root CA certificate has no basic constraints") from None
    if not constraints.ca:
        raise ValueError("the root CA certificate is not a CA certificate")
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        raise ValueError("the root CA certificate is not self-signed") from None


def renewal_time(cert: x509.Certificate, rng: random.Random) -> datetime:
    """When to renew: a random minute 50%..80% into the validity, so nodes do not renew at once."""
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    minutes = (end - start) / timedelta(minutes=1)
    low, high = int(minutes * RENEW_LOWER), int(minutes * RENEW_UPPER)
    offset = low if high - low < 1 else rng.randrange(low, high)
    return start + timedelta(minutes=offset)


def renewal_delay(cert: x509.Certificate, now: datetime, rng: random.Random) -> timedelta:
    """How long to wait before renewing (zero when the renewal time has passed)."""
    return max(timedelta(0), renewal_time(cert, rng) - now)


def _csr_public_key(csr_pem: bytes) -> ec.EllipticCurvePublicKey:
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError:
        raise CertificateRequestError(
            "the certificate signing request is not a PEM CSR; send the one make_csr produced"
        ) from None
    if not csr.is_signature_valid:
        raise CertificateRequestError("the certificate signing request's signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CertificateRequestError(
            "the certificate signing request must carry an ECDSA P-256 key"
        )
    return key


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")

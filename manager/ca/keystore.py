"""A node's identity on disk: its key, its certificate and the cluster's root CA.

    <data-dir>/certificates/
        node.key      0600, PKCS#8 PEM (never leaves the node)
        node.crt      PEM, issued by the root CA
        root-ca.crt   PEM, the trust anchor for every connection on the cluster port

Each file is written atomically (temp file, fsync, rename, fsync of the directory), the
certificate after the key, so a crash leaves either the old pair or a mismatch that `load`
reports rather than a torn file. This is the only module of manager.ca that touches files.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from manager.ca.certificates import NodeIdentity, RootCA
from manager.ca.errors import CredentialsError, CredentialsNotFound, PermissionDenied

KEY_FILE = "node.key"
CERT_FILE = "node.crt"
ROOT_CA_FILE = "root-ca.crt"


@dataclass(frozen=True)
class NodeCredentials:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    root_ca: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def root_ca_pem(self) -> bytes:
        return self.root_ca.public_bytes(serialization.Encoding.PEM)

    @property
    def identity(self) -> NodeIdentity:
        return NodeIdentity.from_certificate(self.cert)

    def check(self, now: datetime | None = None) -> None:
        """CredentialsError unless key, certificate and root CA belong together (and, given
        `now`, the certificate is valid then)."""
        if self.key.public_key() != self.cert.public_key():
            raise CredentialsError(
                "the node key does not match the node certificate; remove the node's "
                "certificates directory and join the cluster again"
            )
        try:
            self.cert.verify_directly_issued_by(self.root_ca)
        except (ValueError, TypeError, InvalidSignature):
            raise CredentialsError(
                "the node certificate was not issued by the stored root CA; remove the node's "
                "certificates directory and join the cluster again"
            ) from None
        try:
            self.identity  # noqa: B018 - parsing is the check
            if now is not None:
                RootCA(cert=self.root_ca).verify(self.cert, now)
        except PermissionDenied as err:
            raise CredentialsError(f"the node certificate is not usable: {err}") from None


class CredentialStore:
    """NodeCredentials in a directory (created 0700 if missing)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def exists(self) -> bool:
        return all((self.directory / f).exists() for f in (KEY_FILE, CERT_FILE, ROOT_CA_FILE))

    def save(self, creds: NodeCredentials) -> None:
        creds.check()
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self.directory / ROOT_CA_FILE, creds.root_ca_pem, 0o644)
        write_atomic(self.directory / KEY_FILE, creds.key_pem, 0o600)
        write_atomic(self.directory / CERT_FILE, creds.cert_pem, 0o644)

    def load(self) -> NodeCredentials:
        missing = [
            f for f in (KEY_FILE, CERT_FILE, ROOT_CA_FILE) if not (self.directory / f).exists()
        ]
        if len(missing) == 3:
            raise CredentialsNotFound(
                f"no node credentials in {self.directory}; this node has not joined a cluster "
                "(run `shoal swarm init` or `shoal swarm join`)"
            )
        if missing:
            raise CredentialsError(
                f"incomplete node credentials in {self.directory}: {', '.join(missing)} missing; "
                "remove the directory and join the cluster again"
            )
        key = self._load_key()
        cert = self._load_cert(CERT_FILE)
        root = self._load_cert(ROOT_CA_FILE)
        creds = NodeCredentials(key=key, cert=cert, root_ca=root)
        creds.check()
        return creds

    def _read(self, name: str) -> bytes:
        path = self.directory / name
        try:
            return path.read_bytes()
        except OSError as err:
            raise CredentialsError(f"cannot read {path}: {err.strerror}") from None

    def _load_key(self) -> ec.EllipticCurvePrivateKey:
        path = self.directory / KEY_FILE
        try:
            key = serialization.load_pem_private_key(self._read(KEY_FILE), password=None)
        except (ValueError, TypeError):
            raise CredentialsError(
                f"{path} is not a readable PEM private key (damaged?); remove the node's "
                "certificates directory and join the cluster again"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CredentialsError(f"{path} is not an ECDSA key")
        return key

    def _load_cert(self, name: str) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self._read(name))
        except ValueError:
            raise CredentialsError(
                f"{self.directory / name} is not a readable PEM certificate (damaged?); remove "
                "the node's certificates directory and join the cluster again"
            ) from None


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` with `data` so that a crash leaves the old file or the new one, never a
    mix: a temp file with `mode`, fsynced, renamed over `path`, then the directory fsynced."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)  # before any secret byte lands in the file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)

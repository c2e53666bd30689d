"""gRPC credentials for the cluster port, and fetching a manager's root CA before trusting it.

Two listeners, one server. grpc's Python API can either require a client certificate or not
ask for one at all (there is no "verify if given" like Go's tls.VerifyClientCertIfGiven that
Swarm uses on 2377). So a manager serves its gRPC services on

    cluster listener  server_credentials()       mutual TLS: every caller shows a certificate
    join listener     join_server_credentials()  server-authenticated TLS only; the interceptor
                                                 lets anonymous callers reach only the
                                                 unauthenticated methods (issue a first
                                                 certificate, fetch the root CA)

Both present [node certificate, root CA] so a joining node can read the root CA from the
handshake and check it against its token (join.py) before it sends anything.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from manager.ca.errors import CAError
from manager.ca.keystore import NodeCredentials
from manager.ca.roles import CA_ROLE, MANAGER_ROLE

TARGET_NAME_OPTION = "grpc.ssl_target_name_override"


def server_credentials(creds: NodeCredentials) -> Any:
    """Mutual TLS: clients must present a certificate issued by the cluster's root CA."""
    return grpc.ssl_server_credentials(
        [(creds.key_pem, creds.cert_pem + creds.root_ca_pem)],
        root_certificates=creds.root_ca_pem,
        require_client_auth=True,
    )


def join_server_credentials(creds: NodeCredentials) -> Any:
    """Server-authenticated TLS for nodes that have no certificate yet."""
    return grpc.ssl_server_credentials(
        [(creds.key_pem, creds.cert_pem + creds.root_ca_pem)],
        root_certificates=None,
        require_client_auth=False,
    )


def channel_credentials(root_ca_pem: bytes, creds: NodeCredentials | None = None) -> Any:
    """Client credentials trusting only the cluster's root CA; with `creds`, mutual TLS."""
    if creds is None:
        return grpc.ssl_channel_credentials(root_certificates=root_ca_pem)
    return grpc.ssl_channel_credentials(
        root_certificates=root_ca_pem,
        private_key=creds.key_pem,
        certificate_chain=creds.cert_pem,
    )


def channel_options(target_name: str = MANAGER_ROLE) -> list[tuple[str, str]]:
    """Managers are dialled by address but checked by role name: every manager certificate
    carries "swarm-manager" (and "swarm-ca") as a DNS name, whatever its address."""
    return [(TARGET_NAME_OPTION, target_name)]


def join_channel_options() -> list[tuple[str, str]]:
    """For a joining node's certificate request: the server must be a CA-capable manager."""
    return channel_options(CA_ROLE)


async def fetch_presented_root(host: str, port: int, *, connect_timeout: float = 10.0) -> bytes:
    """The DER root CA certificate a manager presents in its TLS handshake, UNVERIFIED.

    Nothing is sent but a TLS ClientHello. The caller must check the result against the join
    token's digest (join.verify_presented_root) before trusting it.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # verified by digest afterwards
    context.set_alpn_protocols(["h2"])
    try:
        async with asyncio.timeout(connect_timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context)
    except (OSError, TimeoutError) as err:
        raise CAError(
            f"cannot reach a manager at {host}:{port} ({err or 'timed out'}); check the address "
            "and that port is open"
        ) from None
    try:
        chain = _unverified_chain(writer.get_extra_info("ssl_object"))
    finally:
        writer.close()
    if not chain:
        raise CAError(f"the server at {host}:{port} presented no certificate; is it a manager?")
    root = chain[-1]
    cert = x509.load_der_x509_certificate(root)
    if cert.issuer != cert.subject:
        raise CAError(
            f"the server at {host}:{port} did not present its root CA; is it a shoal manager?"
        )
    return cert.public_bytes(serialization.Encoding.DER)


def _unverified_chain(ssl_object: Any) -> list[bytes]:
    # Python 3.13 made get_unverified_chain public; 3.11 and 3.12 have it on the C object.
    getter = getattr(ssl_object, "get_unverified_chain", None)
    if getter is None:
        getter = ssl_object._sslobj.get_unverified_chain
    chain = getter() or []
    return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in chain]  # type: ignore[attr-defined]

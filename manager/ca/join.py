"""The joining node's side: trust the manager's root CA only if the token vouches for it.

    joining node                                       manager
    parse_join_token(token)            (bad token: stop here, nothing sent)
    fetch_presented_root(addr)  ──TLS, unverified──▶  presents [node cert, root CA]
    verify_presented_root(token, root) (mismatch: stop here, nothing sent)
    IssueNodeCertificate(csr, token) ──TLS verified against that root──▶

The secret half of the token only ever travels over a connection whose server certificate
chains to the root CA the token's digest names.
"""

from __future__ import annotations

import hmac

from cryptography import x509

from manager.ca.certificates import RootCA, cert_digest, check_root_certificate
from manager.ca.errors import CAMismatch
from manager.ca.tokens import JoinToken, parse_join_token


def verify_presented_root(token: JoinToken | str, presented_der: bytes) -> RootCA:
    """The manager's root CA if its sha256 matches the token's digest; CAMismatch otherwise."""
    parsed = parse_join_token(token) if isinstance(token, str) else token
    try:
        cert = x509.load_der_x509_certificate(presented_der)
    except ValueError:
        raise CAMismatch(
            "the manager did not present a readable root CA certificate; check the address "
            "(is it a shoal manager's cluster port?)"
        ) from None
    actual = cert_digest(cert)
    if not hmac.compare_digest(actual, parsed.ca_digest):
        raise CAMismatch(
            "the manager's CA does not match the token: the token expects a root CA with "
            f"digest {parsed.ca_digest_hex}, the manager presented sha256:{actual.hex()}; "
            "check the token and the address (a different cluster, or a rotated CA?)"
        )
    try:
        check_root_certificate(cert)
    except ValueError as err:
        raise CAMismatch(f"the manager's root CA is not usable: {err}") from None
    return RootCA(cert=cert)

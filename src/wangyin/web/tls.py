"""TLS for `wangyin serve --tls-cert --tls-key` (4.1.2.x, ASVS 12.1): TLS 1.2 and 1.3 only,
forward-secret AEAD suites only, no compression or renegotiation.

TLS 1.3 is preferred simply by being allowed: OpenSSL negotiates the highest version both
sides speak, and all TLS 1.3 suites are forward-secret AEAD. For TLS 1.2 only ECDHE with
AES-GCM or ChaCha20-Poly1305 remains (no RSA key exchange, no CBC, no SHA-1 MACs).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any

# OpenSSL cipher string for TLS 1.2; TLS 1.3 suites are configured separately (defaults).
# ECDHE only (with an ECDSA or an RSA certificate); !kRSA spells out that RSA key exchange
# stays out whatever else the string ever gains.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!kRSA:!aNULL:!eNULL:!MD5:!SHA1:!DSS"


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= (
        ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    )
    return context


def context_factory(_config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory`: its context from the cert and key, hardened.
    Module-level so worker processes can import it."""
    return harden(default())


def uvicorn_options(cert: str | None, key: str | None) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config`: none for plain HTTP."""
    if not cert:
        return {}
    return {
        "ssl_certfile": cert,
        "ssl_keyfile": key,
        "ssl_ciphers": TLS12_CIPHERS,
        "ssl_context_factory": context_factory,
    }

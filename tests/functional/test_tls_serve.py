"""`wangyin serve --tls-cert --tls-key` in its own process: TLS 1.3 and 1.2 handshakes
succeed (1.3 preferred, forward-secret suites), TLS 1.1 and 1.0 are refused, and answers
carry Strict-Transport-Security.

Every test runs against a server with an ECDSA (P-256) certificate and one with an RSA
(2048) certificate: only with an RSA certificate can a TLS 1.2 client even ask for RSA key
exchange (no forward secrecy), so only there does refusing it prove anything. A control
server in the test that does accept TLS 1.0/1.1 and RSA key exchange shows the refusals
are Wangyin's doing, not a client that cannot speak them."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

OLD_VERSIONS = {"TLSv1": "TLSv1", "TLSv1_1": "TLSv1.1"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Suites whose key exchange is RSA itself (no ECDHE/DHE): never forward secret.
RSA_KEY_EXCHANGE = "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES256-SHA256"


def _self_signed(directory: Path, kind: str = "ecdsa") -> tuple[Path, Path]:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture(scope="module", params=["ecdsa", "rsa"])
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[int, Path]]:
    workdir = tmp_path_factory.mktemp(f"tls-server-{request.param}")
    cert, key = _self_signed(workdir, request.param)
    env = {
        **os.environ,
        "WANGYIN_DATABASE_URL": f"sqlite:///{workdir / 'wangyin.db'}",
        "WANGYIN_ENV": "dev",
    }
    cli = [sys.executable, "-m", "wangyin.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    port = _free_port()
    log = (workdir / "server.log").open("w")
    args = ["--host", "127.0.0.1", "--port", str(port), "--tls-cert", str(cert)]
    proc = subprocess.Popen(
        [*cli, "serve", *args, "--tls-key", str(key)], env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"https://127.0.0.1:{port}/healthz", verify=client(cert)).is_success:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("TLS server did not start: " + (workdir / "server.log").read_text())
    yield port, cert
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def client(cert: Path, version: str | None = None) -> ssl.SSLContext:
    """A verifying client context, pinned to one TLS version if asked (old ones included)."""
    context = ssl.create_default_context(cafile=str(cert))
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1/TLSv1_1 are deprecated
            tls = getattr(ssl.TLSVersion, version)
            context.minimum_version = tls
            context.maximum_version = tls
        if version in OLD_VERSIONS:
            # OpenSSL's default security level forbids the old versions on the client side.
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def handshake(port: int, context: ssl.SSLContext) -> tuple[str, str]:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        cipher = tls.cipher()
        assert cipher is not None
        return str(tls.version()), cipher[0]


@contextlib.contextmanager
def permissive_server(cert: Path, key: Path) -> Iterator[int]:
    """A throwaway TLS server that still accepts TLS 1.0 and 1.1 (the control)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = listener.accept()
                with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        listener.close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("version", "name"), [("TLSv1_3", "TLSv1.3"), ("TLSv1_2", "TLSv1.2")])
def test_modern_tls_handshakes_succeed(
    tls_server: tuple[int, Path], version: str, name: str
) -> None:
    port, cert = tls_server
    negotiated, cipher = handshake(port, client(cert, version))
    assert negotiated == name
    if version == "TLSv1_2":
        assert cipher.startswith("ECDHE-"), cipher  # forward secret
        assert "GCM" in cipher or "CHACHA20" in cipher, cipher  # AEAD


def test_tls13_is_preferred(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    assert handshake(port, client(cert))[0] == "TLSv1.3"


def _rsa_key_exchange_client(cert: Path) -> ssl.SSLContext:
    context = client(cert, "TLSv1_2")
    context.set_ciphers(RSA_KEY_EXCHANGE)  # RSA key exchange only
    return context


def test_tls12_without_forward_secrecy_is_refused(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    if _is_rsa(cert):
        # The control: with this RSA certificate the client really negotiates RSA key
        # exchange with a server that allows it.
        with permissive_server(cert, cert.with_name("key.pem")) as control:
            version, cipher = handshake(control, _rsa_key_exchange_client(cert))
        assert version == "TLSv1.2" and cipher in RSA_KEY_EXCHANGE.split(":"), cipher
    with pytest.raises(ssl.SSLError):
        handshake(port, _rsa_key_exchange_client(cert))


def test_every_tls12_suite_offered_is_forward_secret_aead(tls_server: tuple[int, Path]) -> None:
    """Whatever suite a TLS 1.2 client prefers, the server only ever agrees to ECDHE with
    AES-GCM or ChaCha20-Poly1305 (for an RSA certificate: ECDHE-RSA-…)."""
    port, cert = tls_server
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.set_ciphers("ALL:@SECLEVEL=0")
    offered = [c["name"] for c in probe.get_ciphers() if c["protocol"] == "TLSv1.2"]
    accepted = set()
    for name in offered:
        context = client(cert, "TLSv1_2")
        try:
            context.set_ciphers(f"{name}:@SECLEVEL=0")
            accepted.add(handshake(port, context)[1])
        except ssl.SSLError:
            continue
    assert accepted, "no TLS 1.2 suite was accepted at all"
    for cipher in accepted:
        assert cipher.startswith("ECDHE-"), cipher
        assert "GCM" in cipher or "CHACHA20" in cipher, cipher
        assert ("-RSA-" in cipher) == _is_rsa(cert), cipher


def _is_rsa(cert: Path) -> bool:
    loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    return isinstance(loaded.public_key(), rsa.RSAPublicKey)


@pytest.mark.parametrize("version", sorted(OLD_VERSIONS))
def test_old_tls_versions_are_refused(tls_server: tuple[int, Path], version: str) -> None:
    port, cert = tls_server
    with permissive_server(cert, cert.with_name("key.pem")) as control:
        assert handshake(control, client(cert, version))[0] == OLD_VERSIONS[version]
    with pytest.raises(ssl.SSLError):
        handshake(port, client(cert, version))


def test_answers_carry_hsts(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    response = httpx.get(f"https://127.0.0.1:{port}/login", verify=client(cert))
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_plain_http_is_not_served_on_the_tls_port(tls_server: tuple[int, Path]) -> None:
    port, _ = tls_server
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)

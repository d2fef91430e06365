"""Cryptography in one place, international and national (4.1.6-g, 4.3.1.1-f).

- SM3 and SM4 (GCM) come from `cryptography`; SM2 sign/verify/encrypt/key exchange from
  gmalg (gmssl's nonces are not cryptographically random; gmalg uses `secrets`).
- One wire format: SM2 signatures are DER `SEQUENCE {r, s}`, SM2 ciphertexts are
  C1 (uncompressed point) || C3 (SM3) || C2, the default user id is `1234567812345678`.
- Authenticated encryption only (AES-GCM or SM4-GCM); RSA keys under 2048 bits refused.
"""

from __future__ import annotations

import hmac as std_hmac
import os
from typing import Literal

import gmalg
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from gmalg import sm2 as gmalg_sm2

DEFAULT_SM2_UID = b"1234567812345678"
MIN_RSA_BITS = 2048
NONCE_BYTES = 12
TAG_BYTES = 16

Aead = Literal["AES-GCM", "SM4-GCM"]


class CryptoError(Exception):
    """A signature, ciphertext or key that must be refused."""


# --- hashes and MACs -------------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def keyed_hash(key: bytes, data: bytes, *, algorithm: Literal["SHA256", "SM3"] = "SHA256") -> str:
    """HMAC for look-up columns and one-time-code storage: equal inputs, equal output."""
    mac = hmac.HMAC(key, hashes.SM3() if algorithm == "SM3" else hashes.SHA256())
    mac.update(data)
    return mac.finalize().hex()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    left = a.encode() if isinstance(a, str) else a
    right = b.encode() if isinstance(b, str) else b
    return std_hmac.compare_digest(left, right)


# --- authenticated encryption -----------------------------------------------------------


def aead_encrypt(alg: Aead, key: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """nonce (12) || ciphertext || tag (16)."""
    nonce = os.urandom(NONCE_BYTES)
    if alg == "AES-GCM":
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad or None)
    encryptor = Cipher(algorithms.SM4(_sm4_key(key)), modes.GCM(nonce)).encryptor()
    if aad:
        encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce + body + encryptor.tag


def aead_decrypt(alg: Aead, key: bytes, blob: bytes, aad: bytes = b"") -> bytes:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise CryptoError("ciphertext too short")
    nonce, body = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        if alg == "AES-GCM":
            return AESGCM(key).decrypt(nonce, body, aad or None)
        decryptor = Cipher(
            algorithms.SM4(_sm4_key(key)), modes.GCM(nonce, body[-TAG_BYTES:])
        ).decryptor()
        if aad:
            decryptor.authenticate_additional_data(aad)
        return decryptor.update(body[:-TAG_BYTES]) + decryptor.finalize()
    except InvalidTag:
        raise CryptoError("ciphertext failed authentication") from None


def _sm4_key(key: bytes) -> bytes:
    if len(key) != 16:
        raise CryptoError("SM4 keys are 128 bits")
    return key


def hkdf(secret: bytes, *, info: bytes, length: int = 32, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(secret)


# --- SM2 ------------------------------------------------------------------------------


SM2_KEY_BYTES = 32
SM2_POINT_BYTES = 65
# The order n of the SM2 curve's base point (GB/T 32918.5); private keys are 1 … n-2.
SM2_ORDER: int = int(gmalg_sm2._ecdlp.fpn.p)


def _sm2_scalar(private_key: bytes) -> int:
    """The private scalar of a fixed-width (32-byte, big-endian) SM2 private key."""
    if len(private_key) != SM2_KEY_BYTES:
        raise CryptoError("SM2 private keys are 32 bytes")
    scalar = int.from_bytes(private_key, "big")
    if not 1 <= scalar <= SM2_ORDER - 2:
        raise CryptoError("SM2 private key out of range")
    return scalar


def sm2_keypair() -> tuple[bytes, bytes]:
    """(private key, public key): always 32 bytes and 65 bytes (04||x||y).

    gmalg returns the scalar in as few bytes as it needs (31 or fewer for about 1 key in
    256); every key this module hands out or accepts is fixed width instead."""
    sk, pk = gmalg.SM2().generate_keypair()
    private_key = int.from_bytes(sk, "big").to_bytes(SM2_KEY_BYTES, "big")
    public_key = bytes(pk)
    if len(public_key) != SM2_POINT_BYTES:  # pragma: no cover - gmalg writes x, y fixed
        raise CryptoError("gmalg returned a malformed SM2 public key")
    return private_key, public_key


def sm2_public_key(private_key: bytes) -> bytes:
    _sm2_scalar(private_key)
    return bytes(gmalg.SM2().generate_pk(private_key))


def sm2_valid_public_key(public_key: bytes) -> bool:
    try:
        return (
            len(public_key) == SM2_POINT_BYTES
            and public_key[0] == 4
            and bool(gmalg.SM2().verify_pk(public_key))
        )
    except Exception:
        return False


def sm2_ecdh(private_key: bytes, peer_public_key: bytes) -> bytes:
    """Plain elliptic-curve Diffie-Hellman on the SM2 curve: the 32-byte big-endian x
    coordinate of `private_key` times the peer's point (cofactor 1).

    This is not the GB/T 32918.3 key-exchange protocol (which needs both parties'
    identities and a second ephemeral key); it is the same construction as ECDH P-256,
    on the SM2 curve, so one protocol serves both suites. The point is checked first
    (on the curve, not infinity, order n), and the scalar multiplication is gmalg's.
    The private key is 32 bytes exactly (leading zero bytes included).
    """
    if not sm2_valid_public_key(peer_public_key):
        raise CryptoError("invalid SM2 public key")
    scalar = _sm2_scalar(private_key)
    curve = gmalg_sm2._ecdlp
    point = gmalg_sm2.bytes_to_point(peer_public_key)
    shared = curve.ec.mul(scalar, point)
    if shared == curve.ec.INF:
        raise CryptoError("degenerate SM2 shared point")
    x, _ = shared
    return int(x).to_bytes(32, "big")


def sm2_sign(private_key: bytes, message: bytes, *, uid: bytes = DEFAULT_SM2_UID) -> bytes:
    _sm2_scalar(private_key)
    r, s = gmalg.SM2(private_key, uid).sign(message)
    return encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def sm2_verify(
    public_key: bytes, message: bytes, signature_der: bytes, *, uid: bytes = DEFAULT_SM2_UID
) -> bool:
    if not sm2_valid_public_key(public_key):
        return False
    try:
        r, s = decode_dss_signature(signature_der)
    except ValueError:
        return False
    if r.bit_length() > 256 or s.bit_length() > 256:
        return False
    return bool(
        gmalg.SM2(uid=uid, pk=public_key).verify(
            message, r.to_bytes(32, "big"), s.to_bytes(32, "big")
        )
    )


def sm2_encrypt(public_key: bytes, plaintext: bytes) -> bytes:
    """C1 || C3 || C2."""
    if not sm2_valid_public_key(public_key):
        raise CryptoError("invalid SM2 public key")
    return bytes(gmalg.SM2(pk=public_key).encrypt(plaintext))


def sm2_decrypt(private_key: bytes, ciphertext: bytes) -> bytes:
    _sm2_scalar(private_key)
    try:
        return bytes(gmalg.SM2(private_key).decrypt(ciphertext))
    except Exception:
        raise CryptoError("SM2 ciphertext refused") from None


# --- RSA and ECDSA ----------------------------------------------------------------------


def load_rsa_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise CryptoError("not an RSA public key")
    if key.key_size < MIN_RSA_BITS:
        raise CryptoError(f"RSA keys under {MIN_RSA_BITS} bits are refused")
    return key


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature: bytes) -> bool:
    try:
        public_key.verify(
            signature,
            message,
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
            hashes.SHA256(),
        )
    except InvalidSignature:
        return False
    return True


# --- ECDH P-256 (browser WebCrypto) -------------------------------------------------------


def p256_keypair() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A fresh private key and its uncompressed public point (65 bytes, WebCrypto "raw")."""
    private = ec.generate_private_key(ec.SECP256R1())
    raw = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return private, raw


def p256_shared_secret(private: ec.EllipticCurvePrivateKey, peer_raw: bytes) -> bytes:
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), peer_raw)
    except ValueError:
        raise CryptoError("invalid P-256 public key") from None
    return private.exchange(ec.ECDH(), peer)

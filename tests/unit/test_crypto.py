"""National and international cryptography against the published test vectors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wangyin.security import crypto

# GB/T 32918.5-2017 (SM2 with the recommended curve), user id 1234567812345678.
SM2_SK = bytes.fromhex("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
SM2_PK = bytes.fromhex(
    "04"
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
SM2_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
SM2_R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
SM2_S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA
SM2_CIPHER = bytes.fromhex(
    "04"  # C1 as an uncompressed point: x happens to start with 04 too
    "04EBFC718E8D1798620432268E77FEB6415E2EDE0E073C0F4F640ECD2E149A73"
    "E858F9D81E5430A57B36DAAB8F950A3C64E6EE6A63094D99283AFF767E124DF0"
    "59983C18F809E262923C53AEC295D30383B54E39D609D160AFCB1908D0BD8766"
    "21886CA989CA9C7D58087307CA93092D651EFA"
)


def test_sm3_vectors_gb_t_32905() -> None:
    assert crypto.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert crypto.sm3(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def test_sm4_vector_gb_t_32907() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    # ECB on one block is how the standard states its vector; nothing else uses ECB.
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305
    assert (
        encryptor.update(key) + encryptor.finalize()
    ).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm2_public_key_signature_and_ciphertext_match_gb_t_32918() -> None:
    import gmalg

    assert crypto.sm2_public_key(SM2_SK) == SM2_PK
    r, s = gmalg.SM2(SM2_SK, crypto.DEFAULT_SM2_UID, rnd_fn=lambda _bits: SM2_K).sign(
        b"message digest"
    )
    assert (int.from_bytes(r, "big"), int.from_bytes(s, "big")) == (SM2_R, SM2_S)
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    assert crypto.sm2_verify(SM2_PK, b"message digest", encode_dss_signature(SM2_R, SM2_S))
    cipher = gmalg.SM2(pk=SM2_PK, rnd_fn=lambda _bits: SM2_K).encrypt(b"encryption standard")
    assert cipher == SM2_CIPHER  # C1 || C3 || C2
    assert crypto.sm2_decrypt(SM2_SK, SM2_CIPHER) == b"encryption standard"


def test_sm2_round_trip_and_tampering_refused() -> None:
    sk, pk = crypto.sm2_keypair()
    signature = crypto.sm2_sign(sk, b"pay 100.00 CNY to 6217...")
    assert crypto.sm2_verify(pk, b"pay 100.00 CNY to 6217...", signature)
    assert not crypto.sm2_verify(pk, b"pay 900.00 CNY to 6217...", signature)
    assert not crypto.sm2_verify(pk, b"pay 100.00 CNY to 6217...", signature, uid=b"someone else")
    assert not crypto.sm2_verify(pk, b"x", b"not der")
    assert not crypto.sm2_verify(b"\x04" + b"\x01" * 64, b"x", signature)
    blob = crypto.sm2_encrypt(pk, b"secret")
    assert crypto.sm2_decrypt(sk, blob) == b"secret"
    with pytest.raises(crypto.CryptoError):
        crypto.sm2_decrypt(sk, blob[:-1] + bytes([blob[-1] ^ 1]))


@pytest.mark.parametrize("alg", ["AES-GCM", "SM4-GCM"])
def test_aead_round_trip_and_any_change_is_refused(alg: crypto.Aead) -> None:
    key = bytes(range(32 if alg == "AES-GCM" else 16))
    blob = crypto.aead_encrypt(alg, key, b"6226881234567890123", aad=b"field:card")
    assert crypto.aead_decrypt(alg, key, blob, aad=b"field:card") == b"6226881234567890123"
    assert blob != crypto.aead_encrypt(alg, key, b"6226881234567890123", aad=b"field:card")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(alg, key, blob, aad=b"field:phone")
    with pytest.raises(crypto.CryptoError):
        crypto.aead_decrypt(alg, key, blob[:-1] + bytes([blob[-1] ^ 1]), aad=b"field:card")


def test_rsa_under_2048_bits_is_refused() -> None:
    def pem(bits: int) -> bytes:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    with pytest.raises(crypto.CryptoError, match="2048"):
        crypto.load_rsa_public_key(pem(1024))
    assert crypto.load_rsa_public_key(pem(2048)).key_size == 2048


def test_p256_ecdh_agrees_on_both_sides() -> None:
    a, a_raw = crypto.p256_keypair()
    b, b_raw = crypto.p256_keypair()
    assert crypto.p256_shared_secret(a, b_raw) == crypto.p256_shared_secret(b, a_raw)
    with pytest.raises(crypto.CryptoError):
        crypto.p256_shared_secret(a, b"\x04" + b"\x00" * 64)


# --- SM2 keys are fixed width (issue 11: ~1 in 256 keys was 31 bytes) ----------------------

SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


def test_2000_generated_sm2_keys_are_fixed_width_and_all_agree() -> None:
    """Every private key is 32 bytes and every public key a 65-byte uncompressed point,
    whatever the scalar's leading bytes; the keys with a leading zero byte (about 1 in 256,
    which gmalg hands out as 31 bytes) agree with a peer in both directions."""
    peer_sk, peer_pk = crypto.sm2_keypair()
    short_scalars = 0
    for _ in range(2000):
        sk, pk = crypto.sm2_keypair()
        assert len(sk) == 32, sk.hex()
        assert len(pk) == 65 and pk[0] == 4, pk.hex()
        if sk[0] == 0:
            short_scalars += 1
            assert crypto.sm2_ecdh(sk, peer_pk) == crypto.sm2_ecdh(peer_sk, pk)
            assert crypto.sm2_public_key(sk) == pk
    # 2,000 draws make at least one leading zero byte all but certain (P(none) < 0.1 %).
    assert short_scalars >= 1


@pytest.mark.parametrize("scalar", [1, 2, 0xFF, 2**248 - 1, SM2_N - 2])
def test_sm2_small_and_edge_scalars_work_everywhere(scalar: int) -> None:
    """A private key with leading zero bytes (as fixed-width 32 bytes) signs, decrypts and
    agrees like any other; the public key of a scalar is always 65 bytes. SM2 private keys
    are 1 … n-2 (GB/T 32918.1: d = n-1 has no (1+d)^-1 to sign with)."""
    sk = scalar.to_bytes(32, "big")
    pk = crypto.sm2_public_key(sk)
    assert len(pk) == 65
    peer_sk, peer_pk = crypto.sm2_keypair()
    assert crypto.sm2_ecdh(sk, peer_pk) == crypto.sm2_ecdh(peer_sk, pk)
    assert len(crypto.sm2_ecdh(sk, peer_pk)) == 32
    signature = crypto.sm2_sign(sk, b"fixed width")
    assert crypto.sm2_verify(pk, b"fixed width", signature)
    assert crypto.sm2_decrypt(sk, crypto.sm2_encrypt(pk, b"secret")) == b"secret"


@pytest.mark.parametrize("scalar", [0, SM2_N - 1, SM2_N, 2**256 - 1])
def test_sm2_private_keys_out_of_range_are_refused(scalar: int) -> None:
    _, peer_pk = crypto.sm2_keypair()
    with pytest.raises(crypto.CryptoError):
        crypto.sm2_ecdh(scalar.to_bytes(32, "big"), peer_pk)


def test_sm2_private_keys_of_another_width_are_refused() -> None:
    sk, peer_pk = crypto.sm2_keypair()
    for wrong in (sk[1:], b"\x00" + sk, b""):
        with pytest.raises(crypto.CryptoError):
            crypto.sm2_ecdh(wrong, peer_pk)


# --- the keyring: versioned keys per purpose --------------------------------------------------


def test_a_key_file_of_the_first_format_still_loads_with_derived_audit_and_pepper_keys() -> None:
    import base64
    import json

    from wangyin.security import keys

    lookup = bytes(range(32))
    legacy = json.dumps(
        {
            "active": "k1",
            "algorithm": "AES-GCM",
            "lookup_key": base64.b64encode(lookup).decode(),
            "keys": {"k1": base64.b64encode(bytes(32)).decode()},
        }
    )
    ring = keys.parse_keyring(legacy)
    assert ring.lookup.active == "l1" and ring.lookup_key == lookup
    assert (ring.audit.active, ring.pepper.active) == ("a1", "p1")
    # Derived (HKDF, one label per purpose): stable across loads, distinct from each other.
    assert keys.parse_keyring(legacy) == ring
    assert len({lookup, ring.audit.active_key, ring.pepper.active_key}) == 3
    # Written out again, every purpose is explicit and reads back the same.
    assert keys.parse_keyring(ring.to_json()) == ring
    assert json.loads(ring.to_json())["lookup_key"] == base64.b64encode(lookup).decode()


def test_rotation_adds_a_version_of_every_key_and_keeps_the_old_ones() -> None:
    from wangyin.security import keys

    ring = keys.new_keyring("SM4-GCM")
    rotated = ring.rotated()
    assert (rotated.active, rotated.lookup.active, rotated.audit.active) == ("k2", "l2", "a2")
    assert rotated.pepper.active == "p2" and len(rotated.key("k2")) == 16
    for purpose in ("lookup", "audit", "pepper"):
        old, new = getattr(ring, purpose), getattr(rotated, purpose)
        assert old.keys.items() <= new.keys.items()
        assert new.active_key != old.active_key
    assert keys.parse_keyring(rotated.to_json()) == rotated
    with pytest.raises(keys.KeyringError):
        rotated.audit.key("a9")


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw["lookup"]["keys"].update({"l1": "c2hvcnQ="}),  # 5 bytes
        lambda raw: raw["audit"].update({"active": "a7"}),
        lambda raw: raw["pepper"]["keys"].update({"p$1": raw["pepper"]["keys"]["p1"]}),
        lambda raw: raw.update({"audit": "not an object"}),
    ],
)
def test_a_damaged_keyring_is_refused(damage: object) -> None:
    import json

    from wangyin.security import keys

    raw = json.loads(keys.new_keyring().to_json())
    damage(raw)  # type: ignore[operator]
    with pytest.raises(keys.KeyringError):
        keys.parse_keyring(json.dumps(raw))

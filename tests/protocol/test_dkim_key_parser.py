"""DKIM key-record parsing to RFC 6376 §3.2/§3.6.1, RFC 8301 and RFC 8463, vector by vector.

Many vectors follow the cases in mox's `dkim/txt_test.go` (MIT; ideas, not code) and the grammar
of RFC 6376 §3.2. Keys are generated here so that sizes and encodings are exact.
"""

from __future__ import annotations

import base64
from functools import cache

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from auditor.protocol.dkim import parse_dkim_key


@cache
def rsa_key(bits: int, form: serialization.PublicFormat) -> str:
    """Base64 of a fresh RSA public key in SubjectPublicKeyInfo or bare PKCS#1 form."""
    public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return base64.b64encode(public.public_bytes(serialization.Encoding.DER, form)).decode()


@cache
def ed25519_raw() -> str:
    """Base64 of a fresh Ed25519 key as RFC 8463 publishes it: the 32 raw bytes."""
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
PKCS1 = serialization.PublicFormat.PKCS1


def test_rsa_2048_subject_public_key_info() -> None:
    key = parse_dkim_key(f"v=DKIM1; k=rsa; p={rsa_key(2048, SPKI)}")
    assert (key.error, key.key_type, key.bits, key.revoked) == (None, "rsa", 2048, False)


def test_rsa_bare_pkcs1_key_is_accepted_as_dkimpy_does() -> None:
    key = parse_dkim_key(f"p={rsa_key(1024, PKCS1)}")
    assert (key.error, key.key_type, key.bits) == (None, "rsa", 1024)


def test_ed25519_raw_key() -> None:
    key = parse_dkim_key(f"v=DKIM1; k=ed25519; p={ed25519_raw()}")
    assert (key.error, key.key_type, key.bits) == (None, "ed25519", 256)


def test_full_record_with_every_optional_tag_and_folded_base64() -> None:
    encoded = rsa_key(2048, SPKI)
    folded = " ".join(encoded[i : i + 60] for i in range(0, len(encoded), 60))
    text = f"v=DKIM1;h=sha1 : sha256;k=rsa;n=notes=20here;s=email : tlsrpt;t=y:s:x;p={folded}"
    key = parse_dkim_key(text)
    assert key.error is None
    assert key.bits == 2048
    assert key.hash_algorithms == ("sha1", "sha256")
    assert key.service_types == ("email", "tlsrpt")
    assert (key.testing, key.strict) == (True, True)
    assert key.notes == "notes=20here"


def test_absent_optional_tags_mean_any() -> None:
    key = parse_dkim_key(f"p={ed25519_raw()}; k=ed25519")
    assert (key.hash_algorithms, key.service_types, key.testing, key.strict) == ((), (), False, False)


def test_star_service_type_is_for_email() -> None:
    assert parse_dkim_key(f"s=*; p={ed25519_raw()}; k=ed25519").error is None


def test_sha1_only_is_parsed_not_rejected() -> None:
    """`h=sha1` is a policy problem (RFC 8301) for a rule to report, not a syntax error."""
    key = parse_dkim_key(f"h=sha1; p={rsa_key(1024, SPKI)}")
    assert (key.error, key.hash_algorithms) == (None, ("sha1",))


def test_empty_p_is_revoked() -> None:
    key = parse_dkim_key("v=DKIM1; k=rsa; p=")
    assert (key.error, key.revoked) == (None, True)


def test_unknown_uppercase_tags_are_ignored_so_this_is_a_revoked_record() -> None:
    """Tag names are case-sensitive: `V` is not `v`, so `V=DKIM2` is an ignored unknown tag."""
    key = parse_dkim_key("V=DKIM2; p=;")
    assert (key.error, key.revoked) == (None, True)


def test_trailing_semicolon_and_surrounding_whitespace_are_accepted() -> None:
    """RFC 6376 allows one trailing `;`; whitespace around the record is accepted as dkimpy does."""
    assert parse_dkim_key(f"  k=ed25519; p={ed25519_raw()};  ").error is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty record"),
        ("   ", "empty record"),
        ("v=DKIM1", "no p= tag"),
        ("p=; v=DKIM1", "v= must be DKIM1 and the first tag"),
        ("v=dkim1; p=", "v= must be DKIM1"),
        ("v=DKIM1 ; p=; v=DKIM1", "duplicate tag 'v'"),
        ("v=DKIM1; p=; p=", "duplicate tag 'p'"),
        ("v=DKIM1;; p=", "malformed tag"),
        ("v=DKIM1; kp; p=", "malformed tag 'kp'"),
        ("v=DKIM1; 1k=rsa; p=", "malformed tag name '1k'"),
        ("v=DKIM1; n=caf\u00e9; p=", "character not allowed"),
        ("v=DKIM1; k=rsa; s=tlsrpt; p=", "restricts the key to other services than email"),
        ("v=DKIM1; h=sha256:; p=", "empty hash algorithm"),
        ("v=DKIM1; k=RSA; p=MIGf", "unknown key type k=RSA"),
        ("v=DKIM1; k=unknown; p=MIGf", "unknown key type k=unknown"),
        ("v=DKIM1; k=rsa; p=MIGf*MA0G", "not valid base64"),
        ("v=DKIM1; k=rsa; p=MIGfM", "not valid base64"),
        ("v=DKIM1; k=rsa; p=MIGfMA0GCSqG", "does not decode to an RSA public key"),
    ],
)
def test_unusable_records(text: str, reason: str) -> None:
    key = parse_dkim_key(text)
    assert key.error is not None and reason in key.error, key.error


def test_ed25519_key_in_an_rsa_record() -> None:
    spki = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.DER, SPKI)
    key = parse_dkim_key(f"k=rsa; p={base64.b64encode(spki).decode()}")
    assert key.error == "p= holds an Ed25519 key although k=rsa"
    raw = parse_dkim_key(f"k=rsa; p={ed25519_raw()}")
    assert raw.error is not None and "does not decode" in raw.error


def test_ec_key_in_an_rsa_record() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    encoded = base64.b64encode(public.public_bytes(serialization.Encoding.DER, SPKI)).decode()
    assert parse_dkim_key(f"p={encoded}").error == "p= holds a key that is not RSA although k=rsa"


@pytest.mark.parametrize("size", [31, 33, 44])
def test_ed25519_key_must_be_32_raw_bytes(size: int) -> None:
    encoded = base64.b64encode(bytes(range(size))).decode()
    key = parse_dkim_key(f"k=ed25519; p={encoded}")
    assert key.error == f"Ed25519 key must be 32 raw bytes (RFC 8463 §4), found {size}"


def test_tags_stay_available_when_the_record_is_unusable() -> None:
    key = parse_dkim_key("v=DKIM1; t=y; h=sha256; k=foo; p=MIGf")
    assert key.error is not None
    assert (key.testing, key.hash_algorithms, key.key_type) == (True, ("sha256",), "foo")

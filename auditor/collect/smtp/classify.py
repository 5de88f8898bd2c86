"""What an SMTP reply or a credential means, as data: pure classification, no I/O.

The probe records replies; these functions name them (`SmtpOutcome`, `CredentialShape`) so the
rules can explain them. Kept apart from the probe's I/O so they can be tested on their own and
read in one place.
"""

from __future__ import annotations

import re

from cryptography import x509
from cryptography.x509.oid import NameOID

from auditor.collect.smtp.secrets import Secret
from auditor.model.smtp import CredentialShape, SmtpOutcome, SmtpStepName, TlsVerifyFailure

__all__ = ["VERIFY_CODES", "certificate_names", "classify_reply", "credential_shape", "username_domain"]

_SHAPES: tuple[tuple[re.Pattern[str], CredentialShape], ...] = (
    (re.compile(r"^key-[0-9a-f]{32}$"), CredentialShape.MAILGUN_API_KEY_LEGACY),
    (re.compile(r"^[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}$"), CredentialShape.MAILGUN_API_KEY),
    (re.compile(r"^pubkey-"), CredentialShape.MAILGUN_PUBLIC_KEY),
)

#: Replies to AUTH that mean "you cannot log in here (now / like this)", not "wrong password":
#: 530 auth/TLS required, 503 bad sequence, 538 encryption required (RFC 4954), 534 mechanism
#: too weak, 504 mechanism not supported, 502 AUTH not implemented.
_AUTH_UNAVAILABLE_CODES = frozenset({502, 503, 504, 530, 534, 538})

# OpenSSL X509_V_ERR_* codes → what a person should be told.
VERIFY_CODES: dict[int, TlsVerifyFailure] = {
    2: TlsVerifyFailure.UNTRUSTED,  # unable to get issuer certificate
    9: TlsVerifyFailure.NOT_YET_VALID,
    10: TlsVerifyFailure.EXPIRED,
    18: TlsVerifyFailure.SELF_SIGNED,  # depth zero self-signed
    19: TlsVerifyFailure.UNTRUSTED,  # self-signed root not in the trust store
    20: TlsVerifyFailure.UNTRUSTED,  # unable to get local issuer certificate
    21: TlsVerifyFailure.UNTRUSTED,  # unable to verify the first certificate
    62: TlsVerifyFailure.HOSTNAME_MISMATCH,
    64: TlsVerifyFailure.HOSTNAME_MISMATCH,  # IP address mismatch
}


def credential_shape(password: Secret) -> CredentialShape:
    """What the password looks like (API key, public key, plausible password); never the value."""
    value = password.reveal()
    for pattern, shape in _SHAPES:
        if pattern.match(value):
            return shape
    return CredentialShape.PLAUSIBLE_SMTP_PASSWORD


def username_domain(username: str) -> str:
    """The domain of an SMTP login such as `postmaster@mg.example.com` (lower case, or '')."""
    _, at, domain = username.rpartition("@")
    return domain.strip().rstrip(".").lower() if at else ""


def classify_reply(step: SmtpStepName, code: int) -> SmtpOutcome:
    """Map an unexpected reply at `step` to an outcome (pure; the rules explain it later).

    Any 4xx is temporary wherever it comes (421 at the banner, 451 at MAIL, Mailgun's 421 at
    DATA for sandbox/free accounts): "try again", never "broken".
    """
    if 400 <= code < 500:
        return SmtpOutcome.TEMPORARY
    if code < 400:
        # A success or continuation code where another one was expected: not SMTP as we know it.
        return SmtpOutcome.PROTOCOL_ERROR
    if step is SmtpStepName.AUTH:
        if code in _AUTH_UNAVAILABLE_CODES:
            return SmtpOutcome.AUTH_UNAVAILABLE
        return SmtpOutcome.AUTH_FAILED
    if step is SmtpStepName.MAIL_FROM:
        return SmtpOutcome.AUTH_UNAVAILABLE if code == 530 else SmtpOutcome.SENDER_REJECTED
    if step is SmtpStepName.RCPT_TO:
        return SmtpOutcome.RECIPIENT_REJECTED
    if step is SmtpStepName.DATA:
        return SmtpOutcome.DATA_REJECTED
    if step is SmtpStepName.STARTTLS:
        return SmtpOutcome.TLS_FAILED
    return SmtpOutcome.PROTOCOL_ERROR


def certificate_names(der: bytes | None) -> tuple[str | None, tuple[str, ...], str | None]:
    """Subject CN, DNS SANs and expiry from the DER certificate (works without verification)."""
    if not der:
        return None, (), None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, (), None
    cn_attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    subject_cn = str(cn_attrs[0].value) if cn_attrs else None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        san_dns = tuple(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        san_dns = ()
    return subject_cn, san_dns, cert.not_valid_after_utc.isoformat()

"""A self-signed development chain for the wallet cards, so everything works locally and in tests.

Apple signs a pass with the pass-type certificate that Apple issues, chained to Apple's WWDR
intermediate; here a root CA stands in for Apple's root, an intermediate for WWDR, and a
pass-type certificate shaped like Apple's (UID=<pass type id>, CN="Pass Type ID: <id>",
OU=<team id>) is signed by the intermediate. The same directory gets the other development
secrets the settings point at: APNs' token key (`apns-key.p8`, an EC P-256 key in PKCS#8 PEM, like
Apple's .p8) and Google's service-account JSON (an RSA 2048 key). Nothing here talks to Apple or
Google: a device would not trust this chain, `openssl smime -verify -CAfile root.pem` does.

Pure functions: `dev_chain_make()` returns the objects, `dev_secrets_write(directory=…)` writes
the files (keeping those already there unless `force`), so a test makes its own chain in a
temporary directory.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The file names the settings use under WALLET_DEV_DIR (omnichannel/settings.py).
PASS_CERTIFICATE = "pass-certificate.pem"  # noqa: S105 (file names)
PASS_KEY = "pass-key.pem"  # noqa: S105
WWDR_CERTIFICATE = "wwdr.pem"
ROOT_CERTIFICATE = "root.pem"  # for `openssl smime -verify -CAfile root.pem`
APNS_KEY = "apns-key.p8"
GOOGLE_SERVICE_ACCOUNT = "google-service-account.json"
FILES = (
    ROOT_CERTIFICATE,
    WWDR_CERTIFICATE,
    PASS_CERTIFICATE,
    PASS_KEY,
    APNS_KEY,
    GOOGLE_SERVICE_ACCOUNT,
)
VALID_DAYS = 3650
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (an address)


@dataclass(frozen=True)
class DevChain:
    root: x509.Certificate
    wwdr: x509.Certificate
    pass_certificate: x509.Certificate
    pass_key: rsa.RSAPrivateKey


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey,
    signing_key: rsa.RSAPrivateKey,
    ca: bool,
    now: datetime,
    issuer_key: rsa.RSAPublicKey | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key or public_key),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    builder = builder.add_extension(usage, critical=True)
    return builder.sign(signing_key, hashes.SHA256())


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def dev_chain_make(*, pass_type_id: str, team_id: str, now: datetime | None = None) -> DevChain:
    """A root CA, a WWDR stand-in it signs, and a pass-type certificate the WWDR stand-in signs."""
    now = now or datetime.now(UTC)
    root_key, wwdr_key, pass_key = _rsa(), _rsa(), _rsa()
    root_name = _name(
        (NameOID.COMMON_NAME, "Omnichannel Development Root CA"),
        (NameOID.ORGANIZATION_NAME, "Omnichannel (development)"),
        (NameOID.COUNTRY_NAME, "TW"),
    )
    wwdr_name = _name(
        (NameOID.COMMON_NAME, "Omnichannel Development WWDR Certification Authority"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, "G4"),
        (NameOID.ORGANIZATION_NAME, "Omnichannel (development)"),
        (NameOID.COUNTRY_NAME, "TW"),
    )
    pass_name = _name(
        (NameOID.USER_ID, pass_type_id),
        (NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_id}"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
        (NameOID.ORGANIZATION_NAME, "Omnichannel (development)"),
        (NameOID.COUNTRY_NAME, "TW"),
    )
    root = _certificate(
        subject=root_name,
        issuer=root_name,
        public_key=root_key.public_key(),
        signing_key=root_key,
        ca=True,
        now=now,
    )
    wwdr = _certificate(
        subject=wwdr_name,
        issuer=root_name,
        public_key=wwdr_key.public_key(),
        signing_key=root_key,
        issuer_key=root_key.public_key(),
        ca=True,
        now=now,
    )
    pass_certificate = _certificate(
        subject=pass_name,
        issuer=wwdr_name,
        public_key=pass_key.public_key(),
        signing_key=wwdr_key,
        issuer_key=wwdr_key.public_key(),
        ca=False,
        now=now,
    )
    return DevChain(root=root, wwdr=wwdr, pass_certificate=pass_certificate, pass_key=pass_key)


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def apns_key_pem() -> bytes:
    """An EC P-256 private key in PKCS#8 PEM: the shape of Apple's AuthKey_<id>.p8."""
    return _pkcs8(ec.generate_private_key(ec.SECP256R1()))


def google_service_account(*, project_id: str = "omnichannel-dev") -> dict[str, str]:
    """A service-account key file's fields, as Google's console writes them (RSA 2048)."""
    key = _rsa()
    email = f"wallet@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": _pkcs8(key).decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)).zfill(21),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": GOOGLE_TOKEN_URI,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"https://www.googleapis.com/robot/v1/metadata/x509/{email.replace('@', '%40')}"
        ),
    }


def dev_secrets_write(
    *, directory: Path, pass_type_id: str, team_id: str, force: bool = False
) -> dict[str, bool]:
    """Write the development chain and secrets into `directory`: {file name: written}. Files
    already there are kept (False) unless `force`; the chain's four files are written together
    (a new pass certificate needs the WWDR stand-in that signed it)."""
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, bool] = {}
    chain_files = (ROOT_CERTIFICATE, WWDR_CERTIFICATE, PASS_CERTIFICATE, PASS_KEY)
    if force or not all((directory / name).exists() for name in chain_files):
        chain = dev_chain_make(pass_type_id=pass_type_id, team_id=team_id)
        contents = {
            ROOT_CERTIFICATE: _pem(chain.root),
            WWDR_CERTIFICATE: _pem(chain.wwdr),
            PASS_CERTIFICATE: _pem(chain.pass_certificate),
            PASS_KEY: _pkcs8(chain.pass_key),
        }
        for name, data in contents.items():
            _write(directory / name, data)
            written[name] = True
    else:
        written.update(dict.fromkeys(chain_files, False))
    others = {
        APNS_KEY: apns_key_pem,
        GOOGLE_SERVICE_ACCOUNT: lambda: json.dumps(google_service_account(), indent=2).encode(),
    }
    for name, make in others.items():
        path = directory / name
        if force or not path.exists():
            _write(path, make())
            written[name] = True
        else:
            written[name] = False
    return written


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)

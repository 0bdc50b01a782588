"""Google's service-account auth as the local Google servers (FCM, Google Wallet) speak it: a
throwaway service-account key file whose token_uri points at the local server, and the check
of the OAuth2 JWT-bearer grant (the assertion signed with that key, for the API's scope)."""

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth import jwt as google_jwt

# Google checks the assertion's aud against its own token endpoint, whatever URL it was posted
# to (google-auth always signs for this one).
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class ServiceAccount:
    path: Path
    project_id: str
    client_email: str
    public_key_pem: bytes


def service_account_write(
    folder: Path,
    *,
    token_uri: str,
    project_id: str = "omni-test",
    client_name: str = "firebase-adminsdk",
    file_name: str = "service-account.json",
) -> ServiceAccount:
    """A throwaway service account's JSON key file (a new RSA key), as Google's consoles
    download it, with token_uri pointing at the local server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = f"{client_name}@{project_id}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path = Path(folder) / file_name
    path.write_text(json.dumps(info, indent=2))
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return ServiceAccount(path, project_id, email, public_pem)


def token_grant_refusal(
    form: dict[str, str], *, public_key_of: Callable[[str], bytes | None], scope: str
) -> dict | None:
    """Why Google's token endpoint refuses this grant (the 400 body), or None: a JWT-bearer
    assertion from a known service account, signed with its key, for Google's token audience,
    asking for `scope`."""
    if form.get("grant_type") != JWT_GRANT or not form.get("assertion"):
        return {"error": "unsupported_grant_type"}
    try:
        unverified = google_jwt.decode(form["assertion"], verify=False)
        public_key = public_key_of(unverified.get("iss"))
        if public_key is None:
            return {"error": "invalid_grant", "error_description": "Invalid email"}
        claims = google_jwt.decode(
            form["assertion"], certs=public_key, audience=GOOGLE_TOKEN_AUDIENCE
        )
    except (ValueError, auth_exceptions.GoogleAuthError) as exc:
        return {"error": "invalid_grant", "error_description": str(exc)}
    if scope not in str(claims.get("scope", "")).split():
        return {"error": "invalid_scope", "error_description": "scope"}
    return None

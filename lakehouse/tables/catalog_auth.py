"""The catalog's credential: an RSA key pair, and RS256 bearer tokens Nessie verifies.

Nessie (Quarkus OIDC) checks a bearer JWT against one configured public key, with no
identity provider: ``nessie.server.authentication.enabled=true``,
``quarkus.oidc.tenant-enabled=true`` and ``quarkus.oidc.public-key=<base64 DER>``
(:func:`nessie_auth_properties`). A request without a token signed by the matching
private key is answered 401; the management port (health) stays open.

Why one long-lived token per stack, minted when the key pair is made, rather than a
short-lived token minted per client from the private key:

- Several clients take a token once and keep it for their whole life: the Spark
  Connect server's catalog (one driver for every slot, for days), Trino's catalog
  (``iceberg.rest-catalog.oauth2.token``) and Spark's and pyiceberg's REST clients
  all send a static bearer; they can refresh only through an OAuth2 token endpoint,
  which a stack without an identity provider does not have.
- Minting per client would put the private key in every client (Airflow tasks,
  notebooks, the engine): one leak would then forge tokens forever. With a token,
  the private key stays with whoever made the pair (the local stack's secrets dir;
  for compose, it is not kept at all) and a leaked token is revoked by making a new
  pair (the local stack: delete both files and `up` again).

The token expires after ``catalog.token_lifetime_days``; the local stack mints a new
one at `up` once a quarter of that is left. Everything here imports PyJWT and
cryptography when called, never when the core is imported (CLI start-up time).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakehouse.config.settings import Settings

ALGORITHM = "RS256"
ISSUER = "lakehouse"
SUBJECT = "lakehouse"
KEY_BITS = 2048
NESSIE_PUBLIC_KEY_PROPERTY = "quarkus.oidc.public-key"


def generate_signing_key() -> str:
    """A new RSA private key, PEM (PKCS#8, unencrypted: it lives in an owner-only file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_key_b64(private_pem: str) -> str:
    """The public half as Quarkus's ``quarkus.oidc.public-key`` wants it: base64 of the
    DER SubjectPublicKeyInfo, one line, no PEM header lines."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def mint_token(private_pem: str, lifetime: timedelta, *, now: datetime | None = None) -> str:
    """A bearer token Nessie accepts until ``now + lifetime`` (claims sub, iss, iat, exp)."""
    import jwt

    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {"sub": SUBJECT, "iss": ISSUER, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(claims, private_pem, algorithm=ALGORITHM)


def token_expiry(token: str, private_pem: str) -> datetime | None:
    """When ``token`` expires, if it is a token of this key pair; None when it is not
    (another key, malformed, already expired, or without ``exp``)."""
    import jwt
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_private_key(private_pem.encode(), password=None).public_key()
    try:
        claims = jwt.decode(token, public, algorithms=[ALGORITHM], options={"require": ["exp"]})  # type: ignore[arg-type]
    except jwt.PyJWTError:
        return None
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


def needs_new_token(token: str | None, private_pem: str, lifetime: timedelta, *, now: datetime | None = None) -> bool:
    """True when ``token`` is missing, not of this key pair, or has less than a quarter
    of ``lifetime`` left (long-lived clients keep the old one: it stays valid until then)."""
    if not token:
        return True
    expiry = token_expiry(token, private_pem)
    return expiry is None or expiry - (now or datetime.now(UTC)) < lifetime / 4


def nessie_auth_properties(public_key: str) -> dict[str, str]:
    """Nessie's authentication settings (dot notation: Quarkus reads them from a
    properties file or, in compose, from environment variables named so)."""
    return {
        "nessie.server.authentication.enabled": "true",
        "quarkus.oidc.tenant-enabled": "true",
        NESSIE_PUBLIC_KEY_PROPERTY: public_key,
    }


def bearer_headers(settings: Settings) -> dict[str, str]:
    """The header every call to Nessie's own API (``/api/v2``) sends. Never log it."""
    return {"Authorization": f"Bearer {settings.catalog.require_token()}"}


def keygen_env(lifetime: timedelta) -> str:
    """For a deployment's ``.env``: a fresh public key for Nessie and a token for the
    clients. The private key is not returned: nothing needs it once the token exists,
    and a new pair (this again) is how a leaked token is revoked."""
    private = generate_signing_key()
    return (
        f"NESSIE_OIDC_PUBLIC_KEY={public_key_b64(private)}\nLAKEHOUSE_CATALOG__TOKEN={mint_token(private, lifetime)}\n"
    )

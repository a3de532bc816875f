"""The OpenID Connect client (Authlib): discovery, authorisation code with PKCE, state, nonce and
the ID token's signature and times, checked before ``app.services.sso`` sees any claim.

One Authlib registry per app (not a module-level one), so apps with different settings — tests
start many — never share a client or its cached provider metadata.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import Flask, current_app
from joserfc.errors import JoseError

from app.services.sso import SSOSettings

#: Seconds since the epoch as the ID-token check sees them (a test moves it to try an expired token).
clock = time.time

EXTENSION = "handover_oidc"


class Unreachable(Exception):
    """The provider could not be reached (network, DNS, timeout, an answer that is not JSON)."""


class Untrusted(Exception):
    """The provider's answer cannot be trusted or is incomplete: a tampered or replayed state, a
    refusal at the provider, a bad code, a wrong nonce, a bad signature, an expired ID token."""

    def __init__(self, reason: str, denied: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: The person (or the provider) said no at the provider: nothing was tampered with.
        self.denied = denied


class IDToken(CodeIDToken):
    """Authlib's ID-token checks (RFC 7519 times, OIDC Core §3.1.3.7 nonce, audience, issuer),
    against ``clock``."""

    def validate(self, now: Any = None, leeway: int = 0) -> None:
        super().validate(now=int(clock()), leeway=leeway)


def init_app(app: Flask) -> None:
    if not app.config.get("OIDC_ISSUER"):
        return
    oauth = OAuth(app)
    issuer = app.config["OIDC_ISSUER"].rstrip("/")
    oauth.register(
        "provider",
        client_id=app.config["OIDC_CLIENT_ID"],
        client_secret=app.config["OIDC_CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256", "timeout": 10},
    )
    app.extensions[EXTENSION] = oauth


def enabled() -> bool:
    return EXTENSION in current_app.extensions


def client() -> Any:
    return current_app.extensions[EXTENSION].provider


def start(redirect_uri: str) -> Any:
    """The redirect to the provider's authorisation endpoint (state, nonce and PKCE verifier kept
    in the session). Raises Unreachable when the provider's metadata cannot be fetched."""
    try:
        return client().authorize_redirect(redirect_uri)
    except (requests.RequestException, RuntimeError, AuthlibBaseError, JoseError, ValueError) as error:
        raise Unreachable(_describe(error)) from error


def finish() -> dict[str, Any]:
    """The verified ID-token claims for the callback request being served.

    Authlib checks the state against the session (and forgets it: a callback works once), sends
    the PKCE verifier with the code, and checks the ID token's signature, issuer, audience, nonce
    and times against ``clock`` with OIDC_CLOCK_SKEW of leeway. Its claim checks raise joserfc
    errors, not Authlib ones, so both are caught. Raises Unreachable or Untrusted.
    """
    config = current_app.config
    # The token must be for us (aud, OIDC Core §3.1.3.7 step 3) from the issuer we were told to
    # trust (step 2), not merely from whatever issuer the discovery document names.
    claims_options = {
        "iss": {"essential": True, "values": [config["OIDC_ISSUER"].rstrip("/"), config["OIDC_ISSUER"]]},
        "aud": {"essential": True, "values": [config["OIDC_CLIENT_ID"]]},
    }
    try:
        token = client().authorize_access_token(
            claims_cls=IDToken, claims_options=claims_options, leeway=config["OIDC_CLOCK_SKEW"]
        )
    except (requests.RequestException, RuntimeError) as error:  # RuntimeError: discovery lacks an endpoint
        raise Unreachable(_describe(error)) from error
    except (AuthlibBaseError, JoseError, ValueError, KeyError) as error:
        denied = getattr(error, "error", None) in {"access_denied", "login_required", "consent_required"}
        raise Untrusted(_describe(error), denied=denied) from error
    claims = dict(token.get("userinfo") or {})
    if not claims:
        raise Untrusted("the provider sent no ID token")
    return claims


def _describe(error: Exception) -> str:
    """A short reason for the log and the audit trail (never a token or a secret: Authlib's and
    joserfc's messages name the error and the claim, requests' name the URL)."""
    return (str(error) or type(error).__name__)[:200]


def settings() -> SSOSettings:
    config = current_app.config
    return SSOSettings(
        issuer=config["OIDC_ISSUER"].rstrip("/"),
        provider_name=config["OIDC_PROVIDER_NAME"],
        auto_create_role=config["OIDC_AUTO_CREATE_ROLE"],
        role_claim=config["OIDC_ROLE_CLAIM"],
        role_map=tuple(config["OIDC_ROLE_MAP"]),
    )

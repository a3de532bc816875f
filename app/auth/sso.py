"""The OpenID Connect client (Authlib): discovery, authorisation code with PKCE, state, nonce and
the ID token's signature and times, checked before ``app.services.sso`` sees any claim.

One Authlib registry per app (not a module-level one), so apps with different settings — tests
start many — never share a client or its cached provider metadata.
"""

from __future__ import annotations

import time
from typing import Any

from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import Flask, current_app

from app.services.sso import SSOSettings

#: Seconds since the epoch as the ID-token check sees them (a test moves it to try an expired token).
clock = time.time

EXTENSION = "handover_oidc"


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


def settings() -> SSOSettings:
    config = current_app.config
    return SSOSettings(
        issuer=config["OIDC_ISSUER"].rstrip("/"),
        provider_name=config["OIDC_PROVIDER_NAME"],
        auto_create_role=config["OIDC_AUTO_CREATE_ROLE"],
        role_claim=config["OIDC_ROLE_CLAIM"],
        role_map=tuple(config["OIDC_ROLE_MAP"]),
    )

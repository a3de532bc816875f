"""Single sign-on: who an identity provider's verified claims stand for in Handover.

The web door runs the OpenID Connect exchange (Authlib: discovery, authorisation code with PKCE,
state, nonce, ID-token signature and times); this module decides, from the verified claims, which
sign-in that is. Nobody registers themselves: the claims must match an existing, invited sign-in
by subject or by verified email, unless the organisation names a role for newcomers.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db
from app.models.base import utcnow
from app.models.user import Role, User
from app.services import audit, users
from app.services.context import Actor
from app.services.errors import DomainError, ValidationFailed


class SSORefused(DomainError):
    """The identity provider vouched for someone Handover does not let in; the message says why."""

    status = 403


@dataclass(frozen=True)
class SSOSettings:
    issuer: str
    provider_name: str = "single sign-on"
    #: Role for someone without an invitation; "" refuses them.
    auto_create_role: str = ""
    #: Claim listing the person's groups, and group → role pairs (first match wins).
    role_claim: str = ""
    role_map: tuple[tuple[str, str], ...] = ()


def _verified_email(claims: dict) -> str | None:
    email = claims.get("email")
    verified = claims.get("email_verified")
    if isinstance(verified, str):
        verified = verified.strip().lower() == "true"
    if not isinstance(email, str) or "@" not in email or verified is not True:
        return None
    return email.strip().lower()


def _mapped_role(claims: dict, settings: SSOSettings) -> Role | None:
    if not settings.role_claim or not settings.role_map:
        return None
    groups = claims.get(settings.role_claim)
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return None
    names = {str(g) for g in groups}
    for group, role in settings.role_map:
        if group in names:
            return Role(role)
    return None


def match_user(claims: dict, settings: SSOSettings, remote_addr: str = "", request_id: str = "") -> User:
    """The active sign-in these ID-token claims stand for, with its SSO subject recorded, an
    invitation marked accepted and the mapped role applied (each audited).

    Raises SSORefused (with a message for the person) when the email is missing or unverified,
    when nobody was invited under it, when the sign-in is deactivated, or when the sign-in is
    already tied to another identity at the provider. Records the refusal as a failed sign-in.
    """
    subject = f"{claims.get('iss', settings.issuer)} {claims.get('sub', '')}"
    email = _verified_email(claims)
    user = db.session.scalar(sa.select(User).where(User.sso_subject == subject))
    if user is None and email is not None:
        user = db.session.scalar(sa.select(User).where(User.email == email))

    def refuse(message: str, reason: str) -> SSORefused:
        users.record_failed_sign_in(
            email or str(claims.get("email") or ""), f"{settings.provider_name}: {reason}", remote_addr, request_id
        )
        return SSORefused(message)

    if user is None and email is None:
        raise refuse(
            f"{settings.provider_name} did not give Handover a verified email address, so we cannot tell who you are. "
            "Ask IT to release the email (and email_verified) claim to Handover.",
            "no verified email",
        )
    if user is None:
        if not settings.auto_create_role:
            raise refuse(
                f"{email} has no Handover sign-in. Handover lets in only people an admin has invited: "
                "ask a Handover admin to invite you under this email, then sign in again.",
                "not invited",
            )
        user = _create_from_claims(email or "", Role(settings.auto_create_role), settings, remote_addr, request_id)
    if user.sso_subject is not None and user.sso_subject != subject:
        raise refuse(
            f"The Handover sign-in for {user.email} belongs to another {settings.provider_name} account. Ask a Handover admin.",
            "subject mismatch",
        )
    if not user.active:
        raise refuse(
            f"The Handover sign-in for {user.email} is deactivated. If that is a mistake, ask a Handover admin.",
            "deactivated",
        )
    actor = Actor.for_user(user, request_id=request_id, remote_addr=remote_addr)
    if user.sso_subject is None:
        user.sso_subject = subject
        audit.record_event(
            actor, "user.sso_link", "user", user.id, f"{user.email} signed in with {settings.provider_name} for the first time"
        )
    if user.invitation_pending:
        users.use_up_invitation(user)
        audit.record_event(
            actor,
            "user.invite_accept",
            "user",
            user.id,
            f"{user.email} accepted their invitation through {settings.provider_name}",
        )
    if (role := _mapped_role(claims, settings)) is not None and role is not user.role:
        # The last active admin keeps the role: the provider's groups cannot lock everyone out.
        with contextlib.suppress(ValidationFailed):
            users.change_role(Actor.system(f"{settings.provider_name} group mapping", request_id), user, role)
    db.session.flush()
    return user


def _create_from_claims(email: str, role: Role, settings: SSOSettings, remote_addr: str, request_id: str) -> User:
    user = User(email=email, password_hash=None, role=role, accepted_at=utcnow())
    db.session.add(user)
    db.session.flush()
    audit.record_event(
        Actor(user_id=None, name=settings.provider_name, role=None, request_id=request_id, remote_addr=remote_addr),
        "user.create",
        "user",
        user.id,
        f"Created sign-in {email} ({role.label}) at its first {settings.provider_name} sign-in",
        None,
        {"email": email, "role": role.value},
    )
    return user

"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock in a subprocess).

The browser's part is played by two clients: the Flask test client for Handover, and ``requests``
for the provider's consent form (posting ``sub`` issues a code and redirects back to Handover).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.auth import sso as sso_module
from app.extensions import db
from app.models import Role, User
from app.models.audit import AuditEvent
from app.models.user import LinkPurpose
from app.services import two_factor, users
from app.services.context import Actor
from app.services.users import LinkInvalid
from tests.conftest import Client, _truncate_all
from tests.factories import PASSWORD
from tests.net import free_port

#: The ID token lives 10 minutes here, so moving the clock an hour on expires it well past the skew.
TOKEN_MAX_AGE = 600
CLIENT_ID = "handover-test"
PROVIDER_NAME = "Riverside SSO"


class Provider:
    """An oidc-provider-mock server in its own process (never imported here: it warns on import)."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "-p", str(self.port), "--token-max-age", str(TOKEN_MAX_AGE)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.url}/.well-known/openid-configuration", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"the OpenID provider did not start; its log: {log.read_text()[-2000:]}")
            time.sleep(0.1)

    def set_user(self, sub: str, **claims: Any) -> None:
        requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    server = Provider(tmp_path_factory.mktemp("oidc") / "provider.log")
    yield server
    server.stop()


def sso_app(database_url: str, issuer: str) -> Flask:
    return create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_url,
        OIDC_ISSUER=issuer,
        OIDC_CLIENT_ID=CLIENT_ID,
        OIDC_CLIENT_SECRET="not-checked-by-the-mock",  # noqa: S106
        OIDC_PROVIDER_NAME=PROVIDER_NAME,
    )


@pytest.fixture
def app(database_url: str, provider: Provider) -> Iterator[Flask]:
    """Handover with single sign-on through ``provider`` (overrides the conftest app)."""
    app = sso_app(database_url, provider.url)
    ctx = app.app_context()
    ctx.push()
    yield app
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        _truncate_all()
    db.engine.dispose()
    ctx.pop()


# --- The browser's part ---------------------------------------------------------------------


def start(client: FlaskClient, url: str = "/login/sso") -> str:
    """Press "Sign in with Riverside SSO"; the provider's authorisation URL Handover sends us to."""
    response = client.submit(url)  # type: ignore[attr-defined]
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def consent(authorize_url: str, sub: str) -> str:
    """Sign in at the provider as ``sub``; the path and query it sends the browser back to."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["Location"])
    assert back.path == "/login/sso/callback"
    return f"{back.path}?{back.query}"


def sso_sign_in(client: FlaskClient, sub: str) -> Any:
    return callback(client, consent(start(client), sub))


def callback(client: FlaskClient, path: str, **kw: Any) -> Any:
    response = client.get(path, **kw)
    client.csrf = None  # type: ignore[attr-defined]  # a sign-in starts a new session, with a new CSRF token
    return response


def logout(client: FlaskClient) -> None:
    assert client.submit("/logout").status_code == 302  # type: ignore[attr-defined]
    client.csrf = None  # type: ignore[attr-defined]


def new_sub() -> str:
    return f"person-{uuid.uuid4().hex[:10]}"


def invite(email: str, role: Role = Role.STAFF) -> tuple[User, str]:
    user, link = users.invite_user(Actor.system(), email, role, None, "http://localhost")
    db.session.commit()
    return user, link


def events(action: str, user: User | None = None) -> list[AuditEvent]:
    query = sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if user is not None:
        query = query.where(AuditEvent.object_id == user.id)
    return list(db.session.scalars(query))


def reload(user: User) -> User:
    db.session.expire_all()
    fresh = db.session.get(User, user.id)
    assert fresh is not None
    return fresh


def assert_signed_out(client: FlaskClient) -> None:
    home = client.get("/")
    assert home.status_code == 302
    assert urlsplit(home.headers["Location"]).path == "/login"
    with client.session_transaction() as session:
        assert "_user_id" not in session


def assert_signed_in_as(client: FlaskClient, user: User) -> None:
    home = client.get("/")
    assert home.status_code == 200
    with client.session_transaction() as session:
        assert session["_user_id"].split(":")[0] == str(user.id)


# --- Signing in -----------------------------------------------------------------------------


def test_the_authorisation_request_carries_pkce_state_and_nonce(client: Client, provider: Provider) -> None:
    url = urlsplit(start(client))
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{provider.url}/oauth2/authorize"
    assert params["response_type"] == "code"
    assert params["client_id"] == CLIENT_ID
    assert "openid" in params["scope"].split()
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) >= 43
    assert len(params["nonce"]) >= 16
    assert len(params["state"]) >= 16
    with client.session_transaction() as session:
        stored = session[f"_state_provider_{params['state']}"]["data"]
    # The verifier stays with the browser's session; only its hash went to the provider.
    assert stored["code_verifier"] not in url.query
    assert stored["nonce"] == params["nonce"]


def test_an_invited_person_signs_in_with_the_verified_email(client: Client, provider: Provider) -> None:
    user, link = invite("ana.silva@org.example", Role.HR)
    sub = new_sub()
    provider.set_user(sub, email="Ana.Silva@org.example", email_verified=True, name="Ana Silva")

    response = sso_sign_in(client, sub)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/"
    assert_signed_in_as(client, user)
    user = reload(user)
    assert user.accepted_at is not None
    assert not user.invitation_pending
    assert user.sso_subject == f"{provider.url} {sub}"
    sign_ins = events("auth.sign_in", user)
    assert len(sign_ins) == 1
    assert sign_ins[0].after == {"method": PROVIDER_NAME}
    assert len(events("user.invite_accept", user)) == 1
    assert len(events("user.sso_link", user)) == 1
    # The emailed invitation link is used up: nobody else can set a password with it.
    with pytest.raises(LinkInvalid):
        users.open_link(link.rsplit("/", 1)[1], LinkPurpose.INVITE)


def test_a_returning_person_is_matched_by_subject_even_after_an_email_change(client: Client, provider: Provider) -> None:
    user, _ = invite("bo.chen@org.example")
    sub = new_sub()
    provider.set_user(sub, email="bo.chen@org.example", email_verified=True)
    assert sso_sign_in(client, sub).status_code == 302
    logout(client)
    assert_signed_out(client)

    provider.set_user(sub, email="bo.chen@new-domain.example", email_verified=True)
    assert sso_sign_in(client, sub).status_code == 302

    assert_signed_in_as(client, user)
    assert len(events("auth.sign_in", user)) == 2
    assert len(events("user.sso_link", user)) == 1


def test_the_sign_in_returns_to_the_page_asked_for(client: Client, provider: Provider) -> None:
    user, _ = invite("cai.next@org.example")
    sub = new_sub()
    provider.set_user(sub, email="cai.next@org.example", email_verified=True)
    login_page = client.get("/login?next=/account/")
    assert 'action="/login/sso?next=/account/"' in login_page.text

    response = callback(client, consent(start(client, "/login/sso?next=/account/"), sub))

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/account/"
    assert client.get("/account/").status_code == 200
    assert_signed_in_as(client, user)


def test_someone_nobody_invited_is_refused_with_what_to_do(client: Client, provider: Provider) -> None:
    sub = new_sub()
    provider.set_user(sub, email="stranger@org.example", email_verified=True)

    response = sso_sign_in(client, sub)

    assert response.status_code == 403
    assert "stranger@org.example has no Handover sign-in" in response.text
    assert "ask a Handover admin to invite you" in response.text
    assert_signed_out(client)
    assert db.session.scalar(sa.select(User).where(User.email == "stranger@org.example")) is None
    refused = events("auth.sign_in_failed")
    assert [e.summary for e in refused] == [f"Refused a sign-in as stranger@org.example: {PROVIDER_NAME}: not invited"]


def test_an_unverified_email_is_refused(client: Client, provider: Provider) -> None:
    user, _ = invite("cy.unverified@org.example")
    sub = new_sub()
    provider.set_user(sub, email="cy.unverified@org.example", email_verified=False)

    response = sso_sign_in(client, sub)

    assert response.status_code == 403
    assert "did not give Handover a verified email address" in response.text
    assert_signed_out(client)
    user = reload(user)
    assert user.invitation_pending
    assert user.sso_subject is None


def test_a_deactivated_sign_in_is_refused(client: Client, provider: Provider, make_user: Any) -> None:
    make_user(Role.ADMIN)  # so the other one can be deactivated
    user = make_user(Role.STAFF, email="dee.gone@org.example")
    users.deactivate_user(Actor.system(), user, "left")
    db.session.commit()
    sub = new_sub()
    provider.set_user(sub, email="dee.gone@org.example", email_verified=True)

    response = sso_sign_in(client, sub)

    assert response.status_code == 403
    assert "dee.gone@org.example is deactivated" in response.text
    assert_signed_out(client)
    assert events("auth.sign_in", user) == []


def test_a_sign_in_tied_to_another_provider_account_is_refused(client: Client, provider: Provider) -> None:
    user, _ = invite("eve.owner@org.example")
    first, second = new_sub(), new_sub()
    provider.set_user(first, email="eve.owner@org.example", email_verified=True)
    assert sso_sign_in(client, first).status_code == 302
    logout(client)

    # Someone else at the provider now claims the same (verified) address.
    provider.set_user(second, email="eve.owner@org.example", email_verified=True)
    response = sso_sign_in(client, second)

    assert response.status_code == 403
    assert "belongs to another Riverside SSO account" in response.text
    assert_signed_out(client)
    assert reload(user).sso_subject == f"{provider.url} {first}"


# --- Answers that cannot be trusted ---------------------------------------------------------


def test_saying_no_at_the_provider_signs_nobody_in(client: Client, provider: Provider) -> None:
    invite("dan.deny@org.example")
    sub = new_sub()
    provider.set_user(sub, email="dan.deny@org.example", email_verified=True)
    denied = requests.post(start(client), data={"sub": sub, "action": "deny"}, allow_redirects=False, timeout=10)
    assert denied.status_code == 302
    back = urlsplit(denied.headers["Location"])
    assert back.path == "/login/sso/callback"
    assert "error=access_denied" in back.query

    response = callback(client, f"{back.path}?{back.query}")

    assert response.status_code == 400
    assert "You did not finish signing in at Riverside SSO" in response.text
    assert_signed_out(client)


def test_a_tampered_state_is_refused(client: Client, provider: Provider) -> None:
    invite("fay.state@org.example")
    sub = new_sub()
    provider.set_user(sub, email="fay.state@org.example", email_verified=True)
    back = urlsplit(consent(start(client), sub))
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    tampered = params["state"][:-2] + ("AA" if not params["state"].endswith("AA") else "BB")

    response = callback(client, back.path, query_string={"code": params["code"], "state": tampered})

    assert response.status_code == 400
    assert "could not be trusted" in response.text
    assert_signed_out(client)
    [failed] = events("auth.sign_in_failed")
    assert "mismatching_state" in failed.summary


def test_a_callback_cannot_be_replayed(client: Client, provider: Provider) -> None:
    invite("gus.replay@org.example")
    sub = new_sub()
    provider.set_user(sub, email="gus.replay@org.example", email_verified=True)
    back = consent(start(client), sub)
    assert callback(client, back).status_code == 302
    logout(client)

    response = callback(client, back)

    assert response.status_code == 400
    assert_signed_out(client)


def test_a_wrong_nonce_is_refused(client: Client, provider: Provider) -> None:
    user, _ = invite("hal.nonce@org.example")
    sub = new_sub()
    provider.set_user(sub, email="hal.nonce@org.example", email_verified=True)
    authorize_url = start(client)
    state = parse_qs(urlsplit(authorize_url).query)["state"][0]
    with client.session_transaction() as session:
        stored = session[f"_state_provider_{state}"]
        stored["data"]["nonce"] = "a-nonce-from-another-sign-in"
        session[f"_state_provider_{state}"] = stored

    response = callback(client, consent(authorize_url, sub))

    assert response.status_code == 400
    assert "could not be trusted" in response.text
    assert_signed_out(client)
    assert events("auth.sign_in", user) == []
    [failed] = events("auth.sign_in_failed")
    assert "nonce" in failed.summary


def test_an_expired_id_token_is_refused(client: Client, provider: Provider, monkeypatch: pytest.MonkeyPatch) -> None:
    user, _ = invite("ida.late@org.example")
    sub = new_sub()
    provider.set_user(sub, email="ida.late@org.example", email_verified=True)
    back = consent(start(client), sub)

    monkeypatch.setattr(sso_module, "clock", lambda: time.time() + 3600)
    response = callback(client, back)

    assert response.status_code == 400
    assert "could not be trusted" in response.text
    assert_signed_out(client)
    assert events("auth.sign_in", user) == []
    [failed] = events("auth.sign_in_failed")
    assert "expired" in failed.summary


def test_a_token_just_past_its_expiry_is_accepted_within_the_clock_skew(
    client: Client, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, _ = invite("jo.skew@org.example")
    sub = new_sub()
    provider.set_user(sub, email="jo.skew@org.example", email_verified=True)
    back = consent(start(client), sub)

    monkeypatch.setattr(sso_module, "clock", lambda: time.time() + TOKEN_MAX_AGE + 20)  # skew is 60 s
    assert callback(client, back).status_code == 302

    assert_signed_in_as(client, user)


# --- Roles, newcomers, passwords and second factors -----------------------------------------


def test_groups_map_to_roles_but_never_demote_the_last_admin(client: Client, provider: Provider, make_user: Any) -> None:
    app_ = client.application
    app_.config.update(OIDC_ROLE_CLAIM="groups", OIDC_ROLE_MAP=(("handover-it", "it"), ("handover-admins", "admin")))
    staff, _ = invite("lee.it@org.example", Role.STAFF)
    admin = make_user(Role.ADMIN, email="max.admin@org.example")
    staff_sub, admin_sub = new_sub(), new_sub()
    provider.set_user(staff_sub, email="lee.it@org.example", email_verified=True, groups=["everyone", "handover-it"])
    provider.set_user(admin_sub, email="max.admin@org.example", email_verified=True, groups=["handover-it"])

    assert sso_sign_in(client, staff_sub).status_code == 302
    assert reload(staff).role is Role.IT
    [change] = events("user.role_change", staff)
    assert change.after == {"role": "it"}
    assert change.actor_name == f"{PROVIDER_NAME} group mapping"
    logout(client)

    # The only active admin is in the IT group only: they stay admin (and still get in).
    assert sso_sign_in(client, admin_sub).status_code == 302
    assert_signed_in_as(client, admin)
    assert reload(admin).role is Role.ADMIN
    assert events("user.role_change", admin) == []
    logout(client)

    # With another admin around, the same groups do demote them.
    make_user(Role.ADMIN)
    assert sso_sign_in(client, admin_sub).status_code == 302
    assert reload(admin).role is Role.IT


def test_auto_create_role_creates_a_sign_in_for_a_verified_newcomer(client: Client, provider: Provider) -> None:
    client.application.config.update(OIDC_AUTO_CREATE_ROLE="staff")
    sub = new_sub()
    provider.set_user(sub, email="nia.new@org.example", email_verified=True)

    assert sso_sign_in(client, sub).status_code == 302

    user = db.session.scalar(sa.select(User).where(User.email == "nia.new@org.example"))
    assert user is not None
    assert user.role is Role.STAFF
    assert user.password_hash is None
    assert_signed_in_as(client, user)
    [created] = events("user.create", user)
    assert created.after == {"email": "nia.new@org.example", "role": "staff"}


def test_auto_create_still_needs_a_verified_email(client: Client, provider: Provider) -> None:
    client.application.config.update(OIDC_AUTO_CREATE_ROLE="staff")
    sub = new_sub()
    provider.set_user(sub, email="oz.unverified@org.example", email_verified=False)

    assert sso_sign_in(client, sub).status_code == 403

    assert_signed_out(client)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_with_passwords_off_only_the_break_glass_admin_signs_in_with_a_password(
    client: Client, provider: Provider, make_user: Any
) -> None:
    client.application.config.update(PASSWORD_SIGN_IN="off", BREAK_GLASS_ADMINS=("root@org.example",))
    root = make_user(Role.ADMIN, email="root@org.example")
    other = make_user(Role.ADMIN, email="pat.admin@org.example")

    page = client.get("/login")
    assert "Sign in with Riverside SSO" in page.text
    assert "Emergency sign-in for administrators" in page.text

    refused = client.submit("/login", {"email": other.email, "password": PASSWORD})
    assert refused.status_code == 400
    assert "do not match an active sign-in" in refused.text
    assert_signed_out(client)
    assert "password sign-in is turned off" in events("auth.sign_in_failed")[-1].summary

    client.login(root)
    assert_signed_in_as(client, root)
    logout(client)

    # The other admin still gets in the intended way.
    sub = new_sub()
    provider.set_user(sub, email=other.email, email_verified=True)
    assert sso_sign_in(client, sub).status_code == 302
    assert_signed_in_as(client, other)


def test_a_person_with_two_factors_still_gets_the_code_step(client: Client, provider: Provider, make_user: Any) -> None:
    user = make_user(Role.IT, email="quinn.totp@org.example")
    enrolment = two_factor.start_enrolment(user)
    totp = pyotp.TOTP(enrolment.secret)
    two_factor.confirm_enrolment(Actor.for_user(user), user, totp.at(time.time() - 30), enrolment.pending)
    db.session.commit()
    sub = new_sub()
    provider.set_user(sub, email=user.email, email_verified=True)

    response = sso_sign_in(client, sub)

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login/two-factor"
    assert_signed_out(client)
    assert events("auth.sign_in", user) == []

    done = client.submit("/login/two-factor", {"code": totp.now()})
    assert done.status_code == 302
    assert_signed_in_as(client, user)
    [sign_in] = events("auth.sign_in", user)
    assert sign_in.after == {"method": f"{PROVIDER_NAME} and second factor"}


# --- The provider is down -------------------------------------------------------------------


@pytest.fixture
def make_client(app: Flask) -> Iterator[Callable[[Flask], Client]]:
    """Test clients for other Handover apps on the same database (closed before ``app`` cleans it)."""
    apps: list[Flask] = []

    def make(other: Flask) -> Client:
        apps.append(other)
        other.test_client_class = Client
        return other.test_client()  # type: ignore[return-value]

    yield make
    for other in apps:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_provider_that_is_down_gives_a_clear_page(
    app: Flask, database_url: str, make_client: Callable[[Flask], Client]
) -> None:
    client = make_client(sso_app(database_url, f"http://127.0.0.1:{free_port()}"))

    response = client.submit("/login/sso")

    assert response.status_code == 502
    assert "Riverside SSO cannot be reached right now" in response.text
    assert "Traceback" not in response.text
    assert_signed_out(client)


def test_a_provider_that_goes_down_before_the_callback_gives_a_clear_page(
    app: Flask, database_url: str, make_client: Callable[[Flask], Client], tmp_path: Path
) -> None:
    invite("ray.down@org.example")
    flaky = Provider(tmp_path / "flaky.log")
    try:
        client = make_client(sso_app(database_url, flaky.url))
        sub = new_sub()
        flaky.set_user(sub, email="ray.down@org.example", email_verified=True)
        back = consent(start(client), sub)
    finally:
        flaky.stop()

    response = callback(client, back)

    assert response.status_code == 502
    assert "Riverside SSO cannot be reached right now" in response.text
    assert_signed_out(client)

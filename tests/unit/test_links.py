"""The pages' links (``url_for`` in templates, app.templating.Links) are the links Flask builds:
for every route, under any mount point, and Flask's own wherever a link is more than ids."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, render_template_string, url_for
from werkzeug.routing import BuildError

from app import create_app
from app.templating import Links

IDS = (0, 7, 2**31 - 1, 10**12)
MOUNTS = ("", "/handover", "/a b")


@pytest.fixture(scope="module")
def app() -> Iterator[Flask]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        yield app


@pytest.fixture(scope="module")
def links(app: Flask) -> Links:
    links = app.jinja_env.globals["url_for"]
    assert isinstance(links, Links)
    return links


def _mounted(app: Flask, mount: str) -> Any:
    return app.test_request_context("/", base_url=f"http://handover.example{mount}/")


@pytest.mark.parametrize("mount", MOUNTS)
def test_every_route_links_as_flask_builds_it(app: Flask, links: Links, mount: str) -> None:
    checked = 0
    with _mounted(app, mount):
        for rule in app.url_map.iter_rules():
            names = sorted(rule.arguments)
            for first in IDS:
                values = {name: first + i for i, name in enumerate(names)}
                try:
                    expected = url_for(rule.endpoint, **values)
                except (BuildError, ValueError):
                    continue  # a route whose arguments are not numbers (or one of a few words)
                assert links(rule.endpoint, **values) == expected, rule.rule
                # And with the arguments named in the other order.
                assert links(rule.endpoint, **dict(reversed(values.items()))) == expected, rule.rule
                checked += 1
    assert checked > 400
    assert ("accounts.detail", "account_id", mount) in links.shapes  # put together from its shape


def test_the_same_view_under_two_mount_points(app: Flask, links: Links) -> None:
    with _mounted(app, "/handover"):
        assert links("accounts.detail", account_id=5) == "/handover/accounts/5"
        assert links("findings.index") == "/handover/findings/"
    with _mounted(app, ""):
        assert links("accounts.detail", account_id=5) == "/accounts/5"
        assert links("findings.index") == "/findings/"


@pytest.mark.parametrize(
    ("endpoint", "values"),
    [
        ("findings.index", {"rule": "single-admin"}),
        ("findings.index", {"q": "a b&c=d/ü"}),
        ("accounts.detail", {"account_id": 5, "tab": "history"}),
        ("accounts.detail", {"account_id": 5, "_anchor": "admins"}),
        ("accounts.detail", {"account_id": 5, "_external": True}),
        ("accounts.detail", {"account_id": "5"}),
        ("accounts.detail", {"account_id": -5}),
        ("accounts.detail", {"account_id": True}),
        ("findings.index", {"page": 2, "rule": None}),
    ],
)
def test_links_with_more_than_ids_are_flasks(app: Flask, links: Links, endpoint: str, values: dict[str, Any]) -> None:
    with _mounted(app, "/handover"):
        assert links(endpoint, **values) == url_for(endpoint, **values)


def test_a_link_relative_to_the_blueprint(app: Flask, links: Links) -> None:
    with app.test_request_context("/accounts/"):
        assert links(".index") == url_for(".index") == "/accounts/"


def test_an_unknown_view_is_refused_as_flask_refuses_it(app: Flask, links: Links) -> None:
    with _mounted(app, ""), pytest.raises(BuildError):
        links("accounts.nowhere", account_id=5)


def test_outside_a_request_links_are_external_as_flasks() -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://", SERVER_NAME="handover.example")
    links = app.jinja_env.globals["url_for"]
    with app.app_context():
        assert links("accounts.detail", account_id=5) == url_for("accounts.detail", account_id=5)
        assert links("accounts.detail", account_id=5) == "http://handover.example/accounts/5"


def test_url_default_hooks_still_apply() -> None:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI="sqlite://")

    @app.url_defaults
    def add_parity(endpoint: str, values: dict[str, Any]) -> None:
        if "account_id" in values:
            values.setdefault("side", "odd" if values["account_id"] % 2 else "even")

    with app.test_request_context("/"):
        page = render_template_string(
            "{{ url_for('accounts.detail', account_id=4) }} {{ url_for('accounts.detail', account_id=5) }}"
        )
    assert page == "/accounts/4?side=even /accounts/5?side=odd"


def test_pages_build_their_links_with_it(app: Flask) -> None:
    with _mounted(app, "/handover"):
        html = render_template_string("<a href=\"{{ url_for('people.detail', person_id=42) }}\">")
    assert html == '<a href="/handover/people/42">'
    assert isinstance(app.jinja_env.globals["url_for"], Links)

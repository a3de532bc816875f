"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Flask, current_app, request, url_for
from flask.globals import _cv_request
from flask_login import current_user
from werkzeug.routing import IntegerConverter

from app.models.user import Role
from app.security import access_rule
from app.services.lookup import person_token


def fmt_datetime(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else "—"


def fmt_timestamp(value: float | None) -> str:
    """Seconds since the epoch (as kept in the session) in the pages' date style."""
    return fmt_datetime(datetime.fromtimestamp(value, UTC)) if isinstance(value, (int, float)) else "—"


def fmt_date(value: date | datetime | None) -> str:
    return value.strftime("%d %b %Y") if value else "—"


def url_with(**changes: Any) -> str:
    """The current URL with some query arguments changed (for filters, sorting and pages)."""
    args = request.args.to_dict()
    for key, value in changes.items():
        if value is None or value == "":
            args.pop(key, None)
        else:
            args[key] = value
    return f"{request.path}?{urlencode(args)}" if args else request.path


def site_root() -> str:
    """Where links that leave this request point (emails, SSO redirects, SCIM locations):
    HANDOVER_BASE_URL when set (behind a proxy), else the address this request came to."""
    return current_app.config.get("BASE_URL") or request.host_url.rstrip("/")


def can_visit(endpoint: str) -> bool:
    """Whether the signed-in user's role passes the view's access rule (for navigation links)."""
    rule = access_rule(endpoint)
    if rule == "public":
        return True
    if rule is None or not current_user.is_authenticated:
        return False
    return rule == "signed_in" or current_user.role in rule


#: Where a link's ids stand while its shape is found: a number no page links to.
_STAND_IN = 7_104_093_265_118


class Links:
    """``url_for`` for the pages. A link to a view by its ids alone (``accounts.detail``,
    ``account_id=…``), or to a view without any, is put together from its shape, which Flask
    built once (per view, argument names and mount point: as many shapes as the app has routes),
    not through the URL map each time: Flask's ``url_for`` took 4.7 µs a link, and a page has
    60–180 of them; this takes 1.0 (0.4 without ids). Anything else (text or query arguments, an
    anchor, an external link, outside a request, a view with several routes, route defaults or
    URL default hooks) is Flask's ``url_for``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        #: (endpoint, argument names…, mount point) -> (the names in the link's order, the text
        #: around them), or None when the link is left to Flask.
        self.shapes: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]] | None] = {}

    def __call__(self, endpoint: str, **values: Any) -> str:
        for value in values.values():
            if type(value) is not int or value < 0:
                return url_for(endpoint, **values)
        # The request's context itself: through the ``request`` proxy this one read cost more than the link.
        context = _cv_request.get(None)
        if context is None:
            return url_for(endpoint, **values)
        key = (endpoint, *values, context.request.script_root)
        try:
            shape = self.shapes[key]
        except KeyError:
            shape = self.shapes[key] = self._shape(endpoint, tuple(values))
        if shape is None:
            return url_for(endpoint, **values)
        names, texts = shape
        if not names:
            return texts[0]
        parts = [texts[0]]
        for name, text in zip(names, texts[1:], strict=True):
            parts += (str(values[name]), text)
        return "".join(parts)

    def _shape(self, endpoint: str, names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        rules = self.app.url_map._rules_by_endpoint.get(endpoint, [])
        if len(rules) != 1 or rules[0].defaults or any(self.app.url_default_functions.values()):
            return None  # the values may choose the route, or be changed on the way
        rule = rules[0]
        converters = [rule._converters.get(name) for name in names]
        if rule.arguments != set(names) or not all(isinstance(c, IntegerConverter) and not c.fixed_digits for c in converters):
            return None  # text, or query arguments: quoted by Flask
        stand_ins = {name: str(_STAND_IN + i) for i, name in enumerate(names)}
        built = url_for(endpoint, **{name: int(text) for name, text in stand_ins.items()})
        found = sorted((built.find(text), name) for name, text in stand_ins.items())
        if any(at < 0 for at, _ in found):
            return None
        texts, start = [], 0
        for at, name in found:
            texts.append(built[start:at])
            start = at + len(stand_ins[name])
        texts.append(built[start:])
        return tuple(name for _, name in found), tuple(texts)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.filters["date"] = fmt_date
    app.jinja_env.filters["timestamp"] = fmt_timestamp
    app.jinja_env.filters["person_token"] = person_token
    app.jinja_env.globals.update(url_for=Links(app), url_with=url_with, can_visit=can_visit, Role=Role)
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

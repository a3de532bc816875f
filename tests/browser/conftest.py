"""Browser tests: the real app served over HTTP, driven by headless Debian Chromium through Playwright.

Fixtures:

* ``browser`` (session): Playwright's Chromium launched from /usr/bin/chromium (never a downloaded build).
* ``live_server``: a fresh app and SQLite file per test, served by werkzeug in a daemon thread;
  ``live_server.seed(build)`` runs ``build()`` in an app context with tests/factories.py and commits.
* ``context`` / ``page``: a new browser context (1280x900) and page per test.

When Chromium is missing every test here is skipped (or fails, with HANDOVER_TEST_REQUIRE=browser).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from app import create_app
from app.extensions import db
from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}
#: Playwright's default waits are 30 s; a local app answers in milliseconds, so fail fast instead.
TIMEOUT_MS = 10_000

T = TypeVar("T")


def require_chromium() -> None:
    """Skip (or fail, when CI requires the group) a browser test if Chromium is missing."""
    if not CHROMIUM.exists():
        skip_or_fail("browser", "Chromium is not installed", "apt-get install chromium")


@pytest.fixture(scope="session", autouse=True)
def _chromium_installed() -> None:
    """Every test under tests/browser needs Chromium (the skip is cached, so each test reports it)."""
    require_chromium()


@pytest.fixture(scope="session")
def playwright_instance(_chromium_installed: None) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    manager = sync_playwright().start()
    yield manager
    manager.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance: Any) -> Iterator[Any]:
    chromium = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield chromium
    chromium.close()


# --- The app under test -------------------------------------------------------------------


@dataclass
class LiveServer:
    """The app, reachable at ``url`` from the browser."""

    app: Flask
    url: str
    _server: BaseWSGIServer = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    def seed(self, build: Callable[[], T]) -> T:
        """Run ``build()`` inside an app context (use tests/factories.py there) and commit.

        Return plain values (ids, names) from ``build``: ORM objects are detached afterwards.
        """
        with self.app.app_context():
            result = build()
            db.session.commit()
            db.session.remove()
            return result

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        with self.app.app_context():
            db.engine.dispose()


class ClosedResponses:
    """The app, each of its responses closed as soon as it is sent, or abandoned.

    The development server closes a response only after draining the request's socket; when the
    browser has already hung up (Chromium cancels a favicon download as a page moves on), the
    drain raises and that close is skipped, leaving a static file's handle to the garbage
    collector, whose ResourceWarning then fails whichever test is running.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        response = self.app(environ, start_response)

        def sent() -> Iterator[bytes]:
            try:
                yield from response
            finally:  # exhausted, or closed when the server lets go of it
                if hasattr(response, "close"):
                    response.close()

        return sent()


class QuietRequestHandler(WSGIRequestHandler):
    """No line per request on stderr (errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def start_live_server(sqlite_template: Path, folder: Path, **config: Any) -> LiveServer:
    """Copy the schema template into ``folder`` and serve a new app (with ``config`` overrides) on it, on a free port."""
    database = folder / "handover.sqlite3"
    shutil.copy(sqlite_template, database)
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}", **config)
    server = make_server("127.0.0.1", 0, ClosedResponses(app), threaded=True, request_handler=QuietRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    return LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}", _server=server, _thread=thread)


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    """A fresh database (a copy of the schema template) and the app serving it, for one test."""
    live = start_live_server(sqlite_template, tmp_path)
    yield live
    live.stop()


# --- Browser context and page -------------------------------------------------------------


def new_context(browser: Any, live: LiveServer) -> Any:
    """A new context (own cookies, so its own sign-in) aimed at the live server."""
    context = browser.new_context(base_url=live.url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    return context


def age_sign_in(context: Any, live: LiveServer, seconds: int) -> None:
    """Make the context's sign-in ``seconds`` older, as if that long had passed since the password was typed.

    The session is a cookie signed by the app: this re-signs it with its ``auth_at`` moved back, so
    the pages that want a recent sign-in (revealing a secret) ask for the password again.
    """
    app = live.app
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    name = app.config["SESSION_COOKIE_NAME"]
    cookies = [cookie for cookie in context.cookies(live.url) if cookie["name"] == name]
    assert len(cookies) == 1, f"expected one {name} cookie (signed in?), found {cookies!r}"
    session = serializer.loads(cookies[0]["value"])
    session["auth_at"] -= seconds
    context.add_cookies([{**cookies[0], "value": serializer.dumps(session)}])


@pytest.fixture
def context(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    ctx = new_context(browser, live_server)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()

"""Screenshots of the main pages at phone and desktop widths, on the demo organisation.

They land in test-results/screenshots/. With HANDOVER_UPDATE_DOCS=1 the two the README shows
are also written to docs/. Each page is checked to fit a 360 px phone without sideways
scrolling of the page itself (wide pictures and tables scroll inside their own box).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Account, Person
from app.services import demo
from app.services.context import Actor
from tests.browser.conftest import LiveServer, start_live_server
from tests.browser.pages import LoginPage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("screenshots")]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-results" / "screenshots"
#: (file name, width) written to docs/ for the README.
DOCS = {("accounts", 1280): "accounts.png", ("account", 1280): "account-map.png"}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    live = start_live_server(sqlite_template, tmp_path_factory.mktemp("demo"))

    def load() -> dict[str, str]:
        demo.load_demo(Actor.system("demo"))
        db.session.flush()
        page = db.session.scalar(sa.select(Account.id).where(Account.name == "Riverside Public Library"))
        dana = db.session.scalar(sa.select(Person.id).where(Person.name == "Dana Whitfield"))
        return {"home": "/", "accounts": "/accounts/", "account": f"/accounts/{page}", "person": f"/people/{dana}"}

    paths = live.seed(load)
    yield live, paths
    live.stop()


@pytest.mark.parametrize("width", [360, 1280])
def test_main_pages_fit_and_are_captured(browser: Any, demo_server: tuple[LiveServer, dict[str, str]], width: int) -> None:
    live, paths = demo_server
    context = browser.new_context(base_url=live.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    LoginPage(page).sign_in("it@riverside.example", demo.DEMO_PASSWORD)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        page.goto(path)
        assert page.locator("h1").first.is_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {width}px wide"
        target = OUT / f"{name}-{width}.png"
        page.screenshot(path=str(target), full_page=width < 1000)
        assert target.stat().st_size > 5_000
        if os.environ.get("HANDOVER_UPDATE_DOCS") and (name, width) in DOCS:
            if name == "account":
                page.locator(".ownership-figure").screenshot(path=str(ROOT / "docs" / DOCS[(name, width)]))
            else:
                shutil.copy(target, ROOT / "docs" / DOCS[(name, width)])
    context.close()

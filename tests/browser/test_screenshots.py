"""Screenshots of the main pages at phone and desktop widths, on the demo organisation.

The director signs in, so home is the dashboard; Priya Natarajan's offboarding case is started
in the seed so there is a case page. They land in test-results/screenshots/. With
HANDOVER_UPDATE_DOCS=1 the ones the README shows are also written to docs/. Each page is
checked to fit a 360 px phone without sideways scrolling of the page itself (wide pictures and
tables scroll inside their own box).
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
from app.services import demo, offboarding
from app.services.context import Actor
from tests.browser.conftest import LiveServer, start_live_server
from tests.browser.pages import LoginPage

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("screenshots")]

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-results" / "screenshots"
#: (file name, width) written to docs/ for the README.
DOCS = {
    ("dashboard", 1280): "dashboard.png",
    ("accounts", 1280): "accounts.png",
    ("account", 1280): "account-map.png",
}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    live = start_live_server(sqlite_template, tmp_path_factory.mktemp("demo"))

    def load() -> dict[str, str]:
        demo.load_demo(Actor.system("demo"))
        db.session.flush()
        page = db.session.scalar(sa.select(Account.id).where(Account.name == "Riverside Public Library"))
        dana = db.session.scalar(sa.select(Person.id).where(Person.name == "Dana Whitfield"))
        priya = db.session.scalars(sa.select(Person).where(Person.name == "Priya Natarajan")).one()
        case = offboarding.start_case(Actor.system("Alan Brooks (HR)"), priya, priya.last_day, "Moving to another library")
        return {
            "dashboard": "/",
            "accounts": "/accounts/",
            "account": f"/accounts/{page}",
            "person": f"/people/{dana}",
            "case": f"/offboarding/{case.id}",
        }

    paths = live.seed(load)
    yield live, paths
    live.stop()


@pytest.mark.parametrize("width", [360, 1280])
def test_main_pages_fit_and_are_captured(browser: Any, demo_server: tuple[LiveServer, dict[str, str]], width: int) -> None:
    live, paths = demo_server
    context = browser.new_context(base_url=live.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    LoginPage(page).sign_in("director@riverside.example", demo.DEMO_PASSWORD)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        page.goto(path)
        assert page.locator("h1").first.is_visible()
        if name == "dashboard":
            assert page.locator("h1").first.inner_text() == "Dashboard"
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

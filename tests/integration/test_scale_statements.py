"""The key pages issue the same number of SQL statements whatever the registry's size.

Two generated organisations, one six times the other, each page requested on its busiest record
(the most connected person, the account with most admins, the largest open case): a page whose
statement count grows with the data runs a query per row somewhere. Counted, never timed: the
page's own statements, and apart from them each finding rule's (a page evaluates only the rules
its rows have, so which rules run depends on what it shows; tests/statements.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from app.services import crypto, generate
from app.services.context import Actor
from tests.benchmarks.scale import PASSWORD, add_floor_route, pages, prepare_visitor
from tests.statements import Statements, counting, growth

SMALL = (40, 150)
LARGE = (240, 900)
#: Pages whose statement count still depends on the data (a query per row shown somewhere; see
#: tests/benchmarks/README.md). Each is a strict xfail: fixing one fails here until it leaves this
#: list, and any other page that starts to vary fails outright.
GROWING: set[str] = set()


def _statements(tmp_path: Path, people: int, accounts: int) -> dict[str, Statements]:
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/scale-{accounts}.sqlite3", WTF_CSRF_ENABLED=False)
    add_floor_route(app)
    with app.app_context():
        db.create_all()
        generate.generate_organisation(Actor.system("test"), crypto.current_keyring(), people=people, accounts=accounts, seed=5)
        token, targets = prepare_visitor()
        engine = db.engine
        per_page = app.config["PER_PAGE"]
    client = app.test_client()
    assert client.post("/login", data={"email": "bench@org.example", "password": PASSWORD}).status_code == 302
    counts = {}
    try:
        # No app context held: each request pushes its own, so nothing is served from a previous
        # request's identity map.
        for page, path in pages(targets, per_page).items():
            headers = {"Authorization": f"Bearer {token}"} if path.startswith("/api/") else None
            visitor = app.test_client() if headers else client
            visitor.get(path, headers=headers)  # warm caches (templates, first-use queries)
            with counting(engine) as counted:
                response = visitor.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)
            counts[page] = counted
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return counts


@pytest.fixture(scope="module")
def statement_counts(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Statements], dict[str, Statements]]:
    tmp = tmp_path_factory.mktemp("scale")
    return _statements(tmp, *SMALL), _statements(tmp, *LARGE)


PAGES = list(
    pages(
        {
            "person_id": 1,
            "person_same": 1,
            "account_id": 1,
            "case_id": 1,
            "case_same": 1,
            "accounts": 100,
            "search_same": "x",
            "platform_id": 1,
            "department_id": 1,
        },
        25,
    )
)


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="statement count depends on the rows shown"))
        if p in GROWING
        else p
        for p in PAGES
    ],
)
def test_statement_count_does_not_grow_with_the_registry(
    statement_counts: tuple[dict[str, Statements], dict[str, Statements]], page: str
) -> None:
    small, large = statement_counts
    assert not growth(small[page], large[page]), (
        f"{page}: at {SMALL} then {LARGE}, (small, large) statements of the page itself and of each finding rule run at "
        f"both sizes: {growth(small[page], large[page])}"
    )

"""The ownership map says who holds what in words, so it reads without colour."""

from app.extensions import db
from app.models import PersonStatus, ProfileKind, RecoveryKind
from app.services import ownership_map, people
from tests import factories as f


def _scenario():
    platform = f.make_platform("Facebook", role_names=["admin", "editor"])
    dana = f.make_person("Dana Whitfield", status=PersonStatus.DEPARTED)
    sam = f.make_person("Sam Ortiz")
    dana_fb = f.make_profile(platform, ProfileKind.PERSONAL, holder=dana, name="Dana W.")
    persona = f.make_profile(platform, ProfileKind.PERSONA, custodians=[sam], name="Riverside Reads")
    page = f.make_account(platform, name="Riverside Public Library", owner_profile=dana_fb, steward=sam)
    f.make_admin(page, persona, "admin")
    f.make_recovery(page, "dana@mail.example", RecoveryKind.EMAIL, person=dana)
    f.make_connection(page, "Hootsuite", profile=persona)
    db.session.commit()
    return page, dana, sam


def test_account_map_links_people_profiles_account_and_recovery(app):
    page, dana, sam = _scenario()
    graph = ownership_map.for_account(page)
    titles = {n.title: n for n in graph.nodes.values()}
    assert titles["Dana Whitfield"].subtitle == "Person · has left"
    assert titles["Dana Whitfield"].tone == "danger"
    assert titles["Dana W."].subtitle == "Personal profile · Facebook"
    assert titles["Email: dana@mail.example"].subtitle == "Tied to Dana Whitfield (has left)"
    labels = {(graph.nodes[e.source].title, graph.nodes[e.target].title, e.label) for e in graph.edges}
    assert ("Dana Whitfield", "Dana W.", "holds") in labels
    assert ("Dana W.", "Riverside Public Library", "owner") in labels
    assert ("Sam Ortiz", "Riverside Reads", "keeps") in labels
    assert ("Riverside Reads", "Riverside Public Library", "admin") in labels
    assert ("Riverside Reads", "Hootsuite", "authorised") in labels
    assert ("Sam Ortiz", "Riverside Public Library", "steward") in labels
    # Every node has a position inside the drawing, and every edge a path.
    for node in graph.nodes.values():
        assert 0 <= node.x < graph.width and 0 <= node.y < graph.height
    assert all(e.path.startswith("M") for e in graph.edges)


def test_person_map_shows_what_leaves_with_them(app):
    page, dana, sam = _scenario()
    graph = ownership_map.for_person(people.footprint_lines(dana))
    labels = {(graph.nodes[e.source].title, graph.nodes[e.target].title, e.label) for e in graph.edges}
    assert ("Dana Whitfield", "Dana W.", "holds") in labels
    assert ("Dana W.", "Riverside Public Library", "owner") in labels
    assert ("Dana Whitfield", "Riverside Public Library", "recovery email") in labels


def test_long_columns_are_capped_with_a_count(app):
    platform = f.make_platform()
    person = f.make_person()
    profile = f.make_profile(platform, ProfileKind.PERSONAL, holder=person)
    for i in range(40):
        f.make_account(platform, name=f"Account {i}", owner_profile=profile)
    db.session.commit()
    graph = ownership_map.for_person(people.footprint_lines(person))
    accounts = [n for n in graph.nodes.values() if n.column == 2]
    assert len(accounts) == ownership_map.MAX_PER_COLUMN
    assert accounts[-1].title == f"+{40 - ownership_map.MAX_PER_COLUMN + 1} more"

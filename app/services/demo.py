"""The demo organisation (placeholder, filled in by the demo work)."""

import sqlalchemy as sa

from app.extensions import db
from app.models.person import Person
from app.services.context import Actor


def registry_has_data() -> bool:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Person)) > 0


def load_demo(actor: Actor) -> str:
    return "nothing loaded"

"""Naming one person or profile by typing: the server side of every picker.

A <select> listing everybody grows with the organisation (issue "Scale", part 4). Instead a picker
is a text box: the person types a name, an email or a handle, and :func:`find_person` /
:func:`find_profile` resolve it with bounded queries (never more than ``limit + 1`` rows). An id
(what older forms and the tests post) or a value from :func:`person_token` / :func:`profile_token`
names exactly one record; anything else is a search that must match exactly one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models.person import Person, PersonStatus
from app.models.platform import Platform
from app.models.profile import Profile
from app.services.search import contains, person_matches

#: How many candidates a picker offers when what was typed matches several.
LIMIT = 20

_EMAIL_IN_TOKEN = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*$")
_ID_IN_TOKEN = re.compile(r"\[#(\d+)\]\s*$")
_LABEL = re.compile(r"^(.+?) \(([^()]+)\)$")


@dataclass
class Match:
    """What a typed value names: ``found`` when exactly one record, else up to LIMIT ``candidates``."""

    found: Any = None
    candidates: list[Any] = field(default_factory=list)
    #: More than ``candidates`` matched (the list was cut at the limit).
    more: bool = False


def person_token(person: Person) -> str:
    """The text a picker shows for ``person``; typed back, it names them exactly (work emails are unique)."""
    suffix = "" if person.status is PersonStatus.ACTIVE else f" ({person.status.value})"
    return f"{person.name}{suffix} <{person.work_email}>"


def profile_token(profile: Profile) -> str:
    """The text a picker shows for ``profile``; typed back, it names it exactly (by id)."""
    return f"{profile.label} — {profile.kind.label.lower()}, {profile.platform.name} [#{profile.id}]"


def _pick(stmt: Any, limit: int) -> Match:
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    if len(rows) == 1:
        return Match(found=rows[0])
    return Match(candidates=rows[:limit], more=len(rows) > limit)


def find_person(
    text: str, *, include_departed: bool = False, exclude: Sequence[int] = (), where: Sequence[Any] = (), limit: int = LIMIT
) -> Match:
    """The one person ``text`` names among those in scope, or the candidates it could mean.

    In scope: not departed (unless ``include_departed``), not in ``exclude``, and every ``where``
    clause. ``text`` may be an id, a :func:`person_token`, a work email, an exact name, or part of a
    name or email. Runs at most three queries of at most ``limit + 1`` rows each.
    """
    text = text.strip()
    scope = sa.select(Person).where(*where)
    if not include_departed:
        scope = scope.where(Person.status != PersonStatus.DEPARTED)
    if exclude:
        scope = scope.where(Person.id.not_in(list(exclude)))
    if not text:
        return Match()
    token = _EMAIL_IN_TOKEN.search(text)
    if text.isdigit() or token or "@" in text:
        if text.isdigit():
            exact = scope.where(Person.id == int(text))
        else:
            email = (token.group(1) if token else text).lower()
            exact = scope.where(sa.func.lower(Person.work_email) == email)
        found = db.session.scalars(exact).first()
        if found is not None or text.isdigit():
            return Match(found=found)
        if token:
            text = text[: token.start()].strip()
    ordered = scope.order_by(Person.name, Person.id)
    named = _pick(ordered.where(sa.func.lower(Person.name) == text.lower()), limit)
    if named.found is not None or named.candidates:
        return named
    return _pick(ordered.where(person_matches(text)), limit)


def find_profile(text: str, *, where: Sequence[Any] = (), limit: int = LIMIT) -> Match:
    """The one profile ``text`` names among those matching every ``where`` clause, or the candidates.

    ``text`` may be an id, a :func:`profile_token`, an exact name or handle, or part of a name,
    handle, sign-up email or the holder's name.
    """
    text = text.strip()
    scope = (
        sa.select(Profile)
        .join(Profile.platform)
        .outerjoin(Person, Profile.holder_id == Person.id)
        .where(*where)
        .options(selectinload(Profile.platform), selectinload(Profile.holder))
    )
    if not text:
        return Match()
    token = _ID_IN_TOKEN.search(text)
    if text.isdigit() or token:
        profile_id = int(text if text.isdigit() else token.group(1))  # type: ignore[union-attr]
        return Match(found=db.session.scalars(scope.where(Profile.id == profile_id)).first())
    ordered = scope.order_by(Platform.name, Profile.name, Profile.id)
    lowered = text.lower()
    exact = [sa.func.lower(Profile.name) == lowered, sa.func.lower(Profile.handle) == lowered]
    if labelled := _LABEL.match(lowered):  # "Name (handle)", as profiles are shown everywhere
        exact.append(
            sa.and_(sa.func.lower(Profile.name) == labelled.group(1), sa.func.lower(Profile.handle) == labelled.group(2))
        )
    named = _pick(ordered.where(sa.or_(*exact)), limit)
    if named.found is not None or named.candidates:
        return named
    return _pick(
        ordered.where(
            sa.or_(
                contains(Profile.name, text),
                contains(Profile.handle, text),
                contains(Profile.signup_email, text),
                contains(Person.name, text),
            )
        ),
        limit,
    )

"""What production hashes passwords with: the suite itself hashes at a test's cost (conftest's
``cheap_password_hashing``), so the production parameters are checked here."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, extract_parameters, profiles

from app.extensions import db
from app.services import users


def test_production_hashes_with_argon2id_at_rfc_9106s_second_recommended_option() -> None:
    assert users.PASSWORD_HASHING == profiles.RFC_9106_LOW_MEMORY
    stored = PasswordHasher.from_parameters(users.PASSWORD_HASHING).hash("correct horse battery staple")
    parameters = extract_parameters(stored)
    assert parameters.type is Type.ID
    assert parameters.memory_cost == 64 * 1024  # KiB
    assert parameters.time_cost == 3


def test_a_hash_made_with_weaker_parameters_is_replaced_at_the_next_sign_in(app, make_user) -> None:
    user = make_user()
    weaker = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1)
    user.password_hash = weaker.hash("a long enough password")
    db.session.commit()
    assert users.authenticate(user.email, "a long enough password") == user
    assert extract_parameters(user.password_hash) == extract_parameters(users.hash_password("x"))

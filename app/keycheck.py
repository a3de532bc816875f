"""Refuse to serve while the master keys cannot open the stored credentials.

Checked on the first request of each process: a key the data needs is missing, or a key id is
configured with other key bytes (the per-key check value does not open). Until that is fixed,
every page answers 503 with what to set; nothing is decrypted with a wrong key.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, render_template
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app.extensions import db


def init_app(app: Flask) -> None:
    state: dict[str, Any] = {"checked": False, "problems": []}

    def check_master_keys() -> Any:
        if not state["checked"]:
            from app.services import crypto, keys

            keyring = crypto.current_keyring()
            try:
                state["problems"] = [p.message for p in keys.problems(keyring)]
                if not state["problems"]:
                    keys.ensure_checks(keyring)
                db.session.commit()
                state["checked"] = True
            except IntegrityError:
                db.session.rollback()  # another server recorded the same check first
                state["checked"] = True
            except (OperationalError, ProgrammingError):
                db.session.rollback()  # not migrated yet: the page itself will say so
            if state["problems"]:
                current_app.logger.error("refusing to serve: %s", "; ".join(state["problems"]))
        if state["problems"]:
            detail = (
                "Handover cannot open its credential store: "
                + "; ".join(state["problems"])
                + ". Set HANDOVER_MASTER_KEYS (or the key file) to include the keys the data was sealed with, then restart."
            )
            return render_template("errors/error.html", status=503, title="Handover is not ready", detail=detail), 503
        return None

    # First of all hooks: while the keys are wrong nothing else runs (no CSRF or sign-in check
    # answers first, so a form post gets the same 503 and the same explanation as a page).
    app.before_request_funcs.setdefault(None, []).insert(0, check_master_keys)

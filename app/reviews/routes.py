"""Access review campaigns (placeholder until built)."""

from typing import Any

from flask import Blueprint

from app.models.user import Role
from app.security import roles

bp = Blueprint("reviews", __name__, url_prefix="/reviews", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT, Role.STAFF)
def index() -> Any:
    return "reviews"

from typing import Any

from flask import Blueprint

from app.models.user import Role
from app.security import roles

bp = Blueprint("profiles", __name__, url_prefix="/profiles", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    return "profiles"


@bp.route("/<int:profile_id>")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def detail(profile_id: int) -> Any:
    return "profile"

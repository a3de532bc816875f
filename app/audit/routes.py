from typing import Any

from flask import Blueprint

from app.models.user import Role
from app.security import roles

bp = Blueprint("audit", __name__, url_prefix="/audit", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR)
def index() -> Any:
    return "audit"

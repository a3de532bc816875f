from typing import Any

from flask import Blueprint

from app.models.user import Role
from app.security import roles

bp = Blueprint("platforms", __name__, url_prefix="/platforms", template_folder="templates")


@bp.route("/")
@roles(Role.ADMIN, Role.DIRECTOR, Role.HR, Role.IT)
def index() -> Any:
    return "platforms"

"""Who is acting, and from where: built by each door and handed to every service call."""

from __future__ import annotations

from dataclasses import dataclass

from app.models.user import Role


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    name: str
    role: Role | None
    person_id: int | None = None
    request_id: str = ""
    remote_addr: str = ""

    @classmethod
    def system(cls, name: str = "system", request_id: str = "") -> Actor:
        """The CLI or a scheduled job: acts with full rights and is recorded by name."""
        return cls(user_id=None, name=name, role=Role.ADMIN, request_id=request_id)

    @classmethod
    def for_user(cls, user, request_id: str = "", remote_addr: str = "") -> Actor:
        return cls(
            user_id=user.id,
            name=user.display_name,
            role=user.role,
            person_id=user.person_id,
            request_id=request_id,
            remote_addr=remote_addr,
        )

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles

"""Command-line tools, through ``flask``: each command calls services and commits once."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db
from app.models.user import Role
from app.services.context import Actor
from app.services.errors import DomainError, ValidationFailed

users_cli = AppGroup("users", help="Handover sign-ins.")
demo_cli = AppGroup("demo", help="The demo organisation.")
audit_cli = AppGroup("audit", help="The audit trail.")
platforms_cli = AppGroup("platforms", help="The platform catalogue.")


def _fail(error: DomainError) -> None:
    db.session.rollback()
    lines = [error.message]
    for name, messages in getattr(error, "field_errors", {}).items():
        lines += [f"  {name}: {m}" for m in messages]
    raise click.ClickException("\n".join(lines))


@users_cli.command("create-admin")
@click.option("--email", prompt=True, help="The admin's sign-in email.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="At least 12 characters.")
def create_admin(email: str, password: str) -> None:
    """Create the first admin sign-in (a fresh database has none)."""
    from app.services import users

    try:
        user = users.create_user(Actor.system("flask users create-admin"), email, password, Role.ADMIN)
    except ValidationFailed as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"Created admin {user.email}. Sign in at /login.")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing if the registry already has data.")
def demo_load(if_empty: bool) -> None:
    """Load the demo organisation, Riverside Public Library."""
    from app.services import demo

    if demo.registry_has_data():
        if if_empty:
            click.echo("The registry already has data; the demo was not loaded.")
            return
        raise click.ClickException("The registry already has data. Load the demo only into an empty database.")
    try:
        summary = demo.load_demo(Actor.system("flask demo load"))
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(summary)


@audit_cli.command("verify")
def audit_verify() -> None:
    """Recompute the audit hash chain; exits 1 at the first broken event."""
    from app.services.audit import verify_chain

    checked, broken = verify_chain()
    if broken is not None:
        raise click.ClickException(f"The audit chain is broken at event {broken} (after {checked} good events).")
    click.echo(f"The audit chain is intact: {checked} events checked.")


@platforms_cli.command("seed")
def platforms_seed() -> None:
    """Add the catalogue platforms the registry lacks (never changes existing ones)."""
    from app.services.catalogue import ensure_catalogue

    added = ensure_catalogue(Actor.system("flask platforms seed"))
    db.session.commit()
    click.echo(f"Added {added} platforms to the catalogue." if added else "The catalogue is complete; nothing was added.")


def register_cli(app: Flask) -> None:
    for group in (users_cli, demo_cli, audit_cli, platforms_cli):
        app.cli.add_command(group)

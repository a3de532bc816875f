"""Alembic environment for Handover: the same revisions for SQLite and PostgreSQL."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app, has_app_context

if not has_app_context():  # plain `alembic`, not `flask db`
    from app import create_app

    create_app().app_context().push()

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    """Render the app's UTC datetime type as a plain timezone-aware DateTime in revisions."""
    from app.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


#: The search indexes' prefixes (app/models/search_index.py).
SEARCH_INDEXES = ("accounts_search", "people_search", "profiles_search")


def include_name(name, type_, parent_names):
    """Leave out what the models create beside their tables: the search indexes (SQLite full-text
    tables; PostgreSQL trigram indexes, present only where pg_trgm could be created;
    app/models/search_index.py)."""
    return not (type_ in ("table", "index") and name and name.startswith(SEARCH_INDEXES))


def run_migrations_offline() -> None:
    context.configure(
        url=migrate_ext.db.engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    def process_revision_directives(ctx, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")

    conf_args = dict(migrate_ext.configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("compare_type", True)
    conf_args.setdefault("render_as_batch", True)  # SQLite alters tables by copying them
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("include_name", include_name)

    with migrate_ext.db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch mode copies a table and drops the old one; with foreign keys enforced, dropping
            # users would delete (ON DELETE CASCADE) or empty (SET NULL) every row that points at
            # it. The pragma is ignored inside a transaction: set it before one starts.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata, **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        if sqlite:
            connection.commit()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

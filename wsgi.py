"""WSGI entry point: ``gunicorn wsgi:app``."""

from app import create_app, settle_server_process

app = create_app()
settle_server_process()

"""The benchmark's app for gunicorn: the testing configuration over BENCH_WSGI_DATABASE_URL, with
the floor route that only the benchmark's app has (``gunicorn tests.benchmarks.bench_wsgi:app``)."""

from __future__ import annotations

import os

from app import create_app, settle_server_process
from tests.benchmarks.scale import add_floor_route

app = create_app("testing", SQLALCHEMY_DATABASE_URI=os.environ["BENCH_WSGI_DATABASE_URL"], WTF_CSRF_ENABLED=False)
add_floor_route(app)
settle_server_process()  # as wsgi.py does

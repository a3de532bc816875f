"""The server the crash test kills: ``python -m tests.integration.crash_server DATABASE_URL``.

Handover is imported and its app created once, in this launcher; each ``serve`` line on stdin
forks a fresh server process from it (as gunicorn's ``--preload`` does) that serves on a free
port with Werkzeug's threaded server and prints ``serving <pid> <port>``. The test kills that
process with SIGKILL; the launcher reaps it, prints ``ended <pid> <signal>`` and waits for the
next line. Forking instead of starting ``flask run`` each time keeps a run to a fraction of a
second, so many kills fit in the test's time; the process killed is the one serving and writing.
"""

from __future__ import annotations

import logging
import os
import sys


def main(url: str) -> None:
    from werkzeug.serving import make_server

    from app import create_app
    from app.extensions import db

    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        db.engine.dispose()  # no connection may be shared with the forked servers
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "serve":
            break
        pid = os.fork()
        if pid == 0:
            with app.app_context():
                db.engine.dispose(close=False)
            server = make_server("127.0.0.1", 0, app, threaded=True)
            print(f"serving {os.getpid()} {server.port}", flush=True)
            server.serve_forever()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(f"ended {pid} {os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])

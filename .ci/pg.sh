#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for the tests, as the postgres user when root.
#   .ci/pg.sh start DIR PORT   -> prints the database URL
#   .ci/pg.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}; dir=${2:?data dir}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 3; }
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); else RUN=(); fi
case "$cmd" in
  start)
    port=${3:-54329}
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    "${RUN[@]}" "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --no-locale >/dev/null
    # Wait up to two minutes: on a busy two-core machine the default minute has not always been enough.
    if ! "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 120 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null; then
      tail -n 20 "$dir/server.log" >&2 || true
      exit 1
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    "${RUN[@]}" "$PGBIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
esac

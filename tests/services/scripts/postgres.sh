#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster in DIR, run as user postgres, listening on 127.0.0.1 only.
#   postgres.sh start DIR PORT   initdb on first start, then start and wait until it accepts connections
#   postgres.sh stop DIR         fast shutdown, data kept (start again with the same DIR)
#   postgres.sh kill DIR         SIGKILL the postmaster and its backends (a crash; the next start recovers)
#   postgres.sh destroy DIR      stop, then remove DIR
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
cmd=${1:?usage: postgres.sh start|stop|kill|destroy DIR [PORT]}
dir=${2:?DIR}
data=$dir/data
as_pg() { runuser -u postgres -- "$@"; }

# True while any of the pids runs; a zombie (killed, not yet reaped by init) does not count.
any_alive() { ps -o stat= -p "$(echo "$@" | tr ' ' ,)" 2>/dev/null | grep -qv '^Z'; }
postmaster_pid() { [ -f "$data/postmaster.pid" ] && head -1 "$data/postmaster.pid" || true; }

case $cmd in
start)
  port=${3:?PORT}
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    chown -R postgres: "$dir"
    # --no-sync: a crash during initdb only fails this run; the server itself keeps fsync on.
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 --no-sync --no-instructions >"$dir/initdb.log" 2>&1 ||
      { tail -20 "$dir/initdb.log" >&2; exit 1; }
    # Durability as in production (crash tests rely on it); the socket stays in DIR, not /var/run.
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
logging_collector = off
CONF
  fi
  as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null ||
    { echo "postgres did not start; last lines of $dir/postgres.log:" >&2; tail -20 "$dir/postgres.log" >&2; exit 1; }
  ;;
stop)
  pid=$(postmaster_pid)
  # Not running (never started, stopped, or killed): nothing to stop.
  if [ -n "$pid" ] && any_alive "$pid"; then as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null; fi
  ;;
kill)
  pid=$(postmaster_pid)
  if [ -n "$pid" ] && any_alive "$pid"; then
    pids="$pid $(pgrep -P "$pid" | tr '\n' ' ' || true)"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    # The next start refuses while a killed backend still holds shared memory: wait until all are gone.
    for _ in $(seq 100); do any_alive $pids || break; sleep 0.05; done
  fi
  # This machine's init reaps orphans late, and start refuses while a dead postmaster's pid still exists
  # (as a zombie): drop its lock files, as a reboot would. Crash recovery still runs from the control file.
  if [ -n "$pid" ] && ! any_alive "$pid"; then rm -f "$data/postmaster.pid" "$dir"/.s.PGSQL.*.lock; fi
  ;;
destroy)
  # The data goes too: no need for a clean shutdown.
  bash "$0" kill "$dir" || true
  rm -rf "$dir"
  ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac

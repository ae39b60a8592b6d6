#!/usr/bin/env bash
# Throughput harness: pgbench -S straight to PostgreSQL, through PgBouncer, and through pgward
# (every guardrail on: read-only role, statement timeout, row limit, audit to a file), all on
# this machine with the same pool size. Usage:
#   benches/throughput.sh [seconds=10] [clients=8] [modes="simple extended"]
# Needs PostgreSQL server binaries, pgbench, and pgbouncer (apt-get install -y pgbouncer).
set -euo pipefail
SECS=${1:-10}
CLIENTS=${2:-8}
MODES=${3:-"simple extended"}
POOL=${POOL:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$BIN/initdb" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "pgbouncer not installed: apt-get install -y pgbouncer" >&2; exit 1; }

WORK=$(mktemp -d /tmp/pgward-bench.XXXXXX)
chmod 755 "$WORK"
RUNAS=()
if [ "$(id -u)" = 0 ]; then RUNAS=(runuser -u postgres --); chown postgres "$WORK"; fi
cleanup() {
  [ -n "${PGWARD_PID:-}" ] && kill $PGWARD_PID 2>/dev/null || true
  [ -n "${BOUNCER_PID:-}" ] && kill "$BOUNCER_PID" 2>/dev/null || true
  "${RUNAS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { # a port nobody listens on now
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGPORT=$(free_port); BOUNCER_PORT=$(free_port); PGWARD_PORT=$(free_port)

echo "bench" > "$WORK/pw"; [ ${#RUNAS[@]} -gt 0 ] && chown postgres "$WORK/pw"
"${RUNAS[@]}" "$BIN/initdb" -D "$WORK/data" -U postgres --pwfile="$WORK/pw" -A scram-sha-256 >/dev/null
"${RUNAS[@]}" "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w \
  -o "-p $PGPORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" start >/dev/null
export PGPASSWORD=bench
psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "CREATE ROLE bench_ro LOGIN PASSWORD 'bench'" postgres
pgbench -q -i -s 10 -h 127.0.0.1 -p "$PGPORT" -U postgres postgres >/dev/null 2>&1
psql -q -h 127.0.0.1 -p "$PGPORT" -U postgres -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_ro" postgres

cat > "$WORK/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PGPORT user=bench_ro password=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
auth_type = scram-sha-256
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = $POOL
max_client_conn = 1000
unix_socket_dir =
logfile = $WORK/pgbouncer.log
EOF
echo '"bench" "bench"' > "$WORK/userlist.txt"
[ ${#RUNAS[@]} -gt 0 ] && chown postgres "$WORK"/pgbouncer.ini "$WORK"/userlist.txt
"${RUNAS[@]}" pgbouncer -q "$WORK/pgbouncer.ini" >/dev/null 2>&1 & BOUNCER_PID=$!

(cd "$ROOT" && cargo build --release -q -p pgward)
VERIFIER=$(echo -n bench | "$ROOT/target/release/pgward" passwd)
PIDS=()
# start_pgward NAME MODE GUARDED: a pgward on a free port, left in LAST_PORT.
# GUARDED=1: read-only role, statement timeout, idle timeout, row limit, audit to a file.
# GUARDED=0: read-write role without limits and no audit (the policy still judges everything).
start_pgward() {
  local port; port=$(free_port)
  {
    printf '[listen]\naddress = "127.0.0.1:%s"\n' "$port"
    printf '[upstream]\nhost = "127.0.0.1"\nport = %s\ntls = "disable"\n' "$PGPORT"
    printf '[logins.l]\nuser = "%s"\npassword = "bench"\n' "$([ "$3" = 1 ] && echo bench_ro || echo postgres)"
    printf '[pool]\nmode = "%s"\nsize = %s\n' "$2" "$POOL"
    if [ "$3" = 1 ]; then
      printf '[roles.r]\nlogin = "l"\naccess = "read-only"\nstatement_timeout = "30s"\nidle_in_transaction_timeout = "60s"\nmax_result_rows = 10000\n'
      printf '[audit]\nfile = "%s/audit-%s.jsonl"\n' "$WORK" "$1"
    else
      printf '[roles.r]\nlogin = "l"\naccess = "read-write"\nrequire_where = false\n'
    fi
    printf '[users.bench]\npassword = "%s"\nrole = "r"\n' "$VERIFIER"
  } > "$WORK/pgward-$1.toml"
  PGWARD_WORKERS=${PGWARD_WORKERS:-1} PGWARD_LOG=warn "$ROOT/target/release/pgward" run \
    --config "$WORK/pgward-$1.toml" >/dev/null 2>"$WORK/pgward-$1.log" &
  PIDS+=($!)
  LAST_PORT=$port
}
start_pgward guarded-tx transaction 1; GUARDED_TX=$LAST_PORT
start_pgward open-tx transaction 0; OPEN_TX=$LAST_PORT
start_pgward guarded-session session 1; GUARDED_SESSION=$LAST_PORT
PGWARD_PID="${PIDS[*]}"
sleep 1

run() { # label port user mode
  local tps
  tps=$(pgbench -n -S -T "$SECS" -c "$CLIENTS" -j 2 -M "$4" -h 127.0.0.1 -p "$2" -U "$3" postgres 2>&1 \
    | awk '/^tps/ {print $3; exit}')
  printf "%-10s %-9s %10s tps\n" "$1" "$4" "${tps:-FAILED}"
}
echo "pgbench -S, $CLIENTS clients, ${SECS}s, pool size $POOL"
echo "target     mode      result   (pgward-guarded: read-only role + limits + audit; pgward-open: no limits, no audit)"
for m in $MODES; do
  run direct "$PGPORT" bench_ro "$m"
  run pgbouncer "$BOUNCER_PORT" bench "$m"
  run pgward-guarded "$GUARDED_TX" bench "$m"
  run pgward-open "$OPEN_TX" bench "$m"
done
echo "prepared (named statements need session pooling):"
run direct "$PGPORT" bench_ro prepared
run pgward-guarded-session "$GUARDED_SESSION" bench prepared
echo "audit lines written: $(cat "$WORK"/audit-*.jsonl | wc -l)"

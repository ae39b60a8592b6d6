#!/usr/bin/env bash
# One command for the peer-suite matrix: client libraries' own test suites straight
# against PostgreSQL, through PgBouncer and through pgward (session and transaction mode).
#
#   bash benches/peers/run.sh [TARGET...]
#
# TARGETs (default: direct pgbouncer-session pgward-session pgward-tx):
#   direct             PostgreSQL 15, 127.0.0.1:55432 (lab-up.sh)
#   pgbouncer-session  PgBouncer session mode, :56432 (lab-up.sh)
#   pgbouncer-tx       PgBouncer transaction mode, :57432 (lab-up.sh)
#   pgward-session     pgward session mode, :6432 (pgward-up.sh)
#   pgward-tx          pgward transaction mode, pool of POOL_SIZE (5), :6433 (pgward-up.sh)
# Env: SUITES (default "pg-regress node-postgres asyncpg psycopg rust-postgres": fastest
#      first), PEERS_DIR (scratch, default /tmp/pgward-peers), MIRROR_DIR (the fetched
#      repositories, see README.md), PGWARD_BIN (default target/release/pgward),
#      SUITE_TIMEOUT (s per suite and target, default 2700), KEEP_PGWARD=1 (leave
#      running pgward instances alone instead of restarting them with PGWARD_BIN).
# Brings the lab up if it is not running and (re)starts pgward. Prints one line per
# suite and target, then the table; every line with "pgward:" (pgward's own error
# messages) is collected per run into $RESULTS/pgward-errors.txt.
set -uo pipefail
D=$(cd "$(dirname "$0")" && pwd)
export PEERS_DIR=${PEERS_DIR:-/tmp/pgward-peers}
export MIRROR_DIR=${MIRROR_DIR:?set MIRROR_DIR to the folder holding the fetched repositories (README.md)}
mkdir -p "$PEERS_DIR/results"
TARGETS=("$@"); [ ${#TARGETS[@]} -eq 0 ] && TARGETS=(direct pgbouncer-session pgward-session pgward-tx)
SUITES=${SUITES:-pg-regress node-postgres asyncpg psycopg rust-postgres}
U=postgres PW=${LAB_PASSWORD:-peers}
STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$PEERS_DIR/results/matrix-$STAMP.txt

port_of() {
  case $1 in
    direct) echo 55432;; pgbouncer-session) echo 56432;; pgbouncer-tx) echo 57432;;
    pgward-session) echo 6432;; pgward-tx) echo 6433;;
    *) echo "unknown target $1" >&2; return 1;;
  esac
}
db_for() { case $1 in pg-regress) echo regression;; psycopg) echo psycopg_test;; node-postgres) echo pg_test;; *) echo postgres;; esac; }
up() { PGPASSWORD=$PW psql -X -At "host=127.0.0.1 port=$1 user=$U dbname=postgres sslmode=disable" -c 'select 1' >/dev/null 2>&1; }

# leftovers a refused DROP DATABASE (parser_disagreement) left in the lab, cleaned straight
# on the server so that the next run starts as the suites' expected output assumes
preclean() {
  PGPASSWORD=$PW psql -X -q "host=127.0.0.1 port=55432 user=$U dbname=postgres sslmode=disable" \
    -c "DROP DATABASE IF EXISTS regression_utf8 WITH (FORCE)" -c "DROP DATABASE IF EXISTS regression_tbd WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS testdb WITH (FORCE)" -c "DROP DATABASE IF EXISTS asyncpg_intro_test WITH (FORCE)" >/dev/null 2>&1
  # tables and types a test could not drop (its connection was closed under it) would fail
  # the next run's CREATE: the lab's database "postgres" starts each run with an empty public
  PGPASSWORD=$PW psql -X -q "host=127.0.0.1 port=55432 user=$U dbname=postgres sslmode=disable" \
    -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public" -c "GRANT ALL ON SCHEMA public TO PUBLIC" >/dev/null 2>&1
}

for t in "${TARGETS[@]}"; do port_of "$t" >/dev/null || exit 2; done
up 55432 || bash "$D/lab-up.sh" || { echo "lab-up.sh failed" >&2; exit 3; }
# a PgBouncer that died (1.18's session process did, during rust-postgres' cancel tests)
for mode in session transaction; do
  p=56432; [ $mode = transaction ] && p=57432
  ini=$PEERS_DIR/lab/bouncer/pgb-$mode.ini
  if [ -f "$ini" ] && ! up $p; then
    echo "PgBouncer $mode is not answering on :$p; starting it again" >&2
    runuser -u postgres -- pgbouncer -d "$ini" || echo "could not start PgBouncer $mode" >&2
  fi
done
if printf '%s\n' "${TARGETS[@]}" | grep -q '^pgward'; then
  if [ "${KEEP_PGWARD:-}" ] && up 6432 && up 6433; then :; else
    bash "$D/pgward-down.sh"; bash "$D/pgward-up.sh" || exit 3
  fi
fi
ROOT=$(cd "$D/../.." && pwd)
{
  echo "# peers matrix $STAMP, pgward $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(${PGWARD_BIN:-$ROOT/target/release/pgward} --version 2>/dev/null)), $(psql --version | head -1)"
  echo "# target | suite | result | wall"
} | tee "$OUT"

for s in $SUITES; do
  for t in "${TARGETS[@]}"; do
    port=$(port_of "$t") db=$(db_for "$s")
    # the suites' databases (pg-regress re-creates its own)
    PGPASSWORD=$PW psql -X -q "host=127.0.0.1 port=$port user=$U dbname=postgres sslmode=disable" \
      -c "CREATE DATABASE psycopg_test TEMPLATE template0" -c "CREATE DATABASE pg_test TEMPLATE template0" >/dev/null 2>&1
    preclean
    extra=()
    # PgBouncer refuses pg_regress's "options" startup parameter; pgward accepts it
    [ "$s" = pg-regress ] && [ "${t%%-*}" = pgbouncer ] && extra=(NO_PGOPTIONS=1)
    # tests to leave out in transaction mode (none since the lab's DBA role has
    # allow_set_role: privileges.sql passes; before, its "must fail" statements ran as the
    # superuser and broke the regression database's catalog)
    [ "$s" = pg-regress ] && [ "$t" = pgward-tx ] && extra=(EXCLUDE_TESTS="${REGRESS_EXCLUDE_TX-}")
    R=$PEERS_DIR/results/$s-$t-$STAMP
    mkdir -p "$R"
    audit=""; case $t in pgward-session) audit=$PEERS_DIR/pgward/audit-session.jsonl;; pgward-tx) audit=$PEERS_DIR/pgward/audit-tx.jsonl;; esac
    a0=0; [ -n "$audit" ] && [ -f "$audit" ] && a0=$(wc -l < "$audit")
    t0=$(date +%s)
    env "${extra[@]}" RESULTS="$R" timeout "${SUITE_TIMEOUT:-2700}" bash "$D/$s.sh" 127.0.0.1 "$port" "$U" "$PW" "$db" >"$R/suite.out" 2>&1
    line=$(tail -1 "$R/suite.out")
    # an instance that died during the run is reported (and restarted for the next run)
    died=""
    case $t in pgward-session) pidf=$PEERS_DIR/pgward/session.pid;; pgward-tx) pidf=$PEERS_DIR/pgward/tx.pid;; *) pidf="";; esac
    if [ -n "$pidf" ] && ! kill -0 "$(cat "$pidf" 2>/dev/null)" 2>/dev/null; then
      died=" | PGWARD $t DIED during this run (see $PEERS_DIR/pgward/*.log)"
      bash "$D/pgward-down.sh"; bash "$D/pgward-up.sh" >/dev/null || echo "pgward restart failed" >&2
    fi
    # pgward's own errors (messages start "pgward:") in everything the suite logged
    grep -rhoE 'pgward: [^"]{0,160}' "$R" --include='*.log' --include='*.xml' --include='*.diffs' --include='*.out' 2>/dev/null \
      | sed -E 's/[0-9]{3,}/N/g' | sort | uniq -c | sort -rn > "$R/pgward-errors.txt"
    # pgward's refusals during this run, from its audit log (literals already replaced there)
    if [ -n "$audit" ] && [ -f "$audit" ]; then
      tail -n +"$((a0 + 1))" "$audit" | python3 "$D/audit_denials.py" > "$R/audit-denials.txt"
    fi
    n=$(awk '{s+=$1} END{print s+0}' "$R/pgward-errors.txt")
    echo "$t | $s | $line | $(( $(date +%s) - t0 ))s | pgward: lines $n | $R$died" | tee -a "$OUT"
    if [ "$s" = pg-regress ] && [ "${t%%-*}" = pgward ] && [ -z "${NO_SETUP_VARIANT:-}" ]; then
      # pgward refuses test_setup's server-side COPY, which empties the tables ~80 later
      # tests read: also run the schedule with test_setup loaded straight into PostgreSQL
      R=$PEERS_DIR/results/$s-setup-direct-$t-$STAMP; mkdir -p "$R"
      a0=0; [ -n "$audit" ] && [ -f "$audit" ] && a0=$(wc -l < "$audit")
      preclean
      t0=$(date +%s)
      env "${extra[@]}" SETUP_PORT=55432 RESULTS="$R" timeout "${SUITE_TIMEOUT:-2700}" bash "$D/$s.sh" 127.0.0.1 "$port" "$U" "$PW" "$db" >"$R/suite.out" 2>&1
      line=$(tail -1 "$R/suite.out")
      [ -n "$audit" ] && [ -f "$audit" ] && tail -n +"$((a0 + 1))" "$audit" | python3 "$D/audit_denials.py" > "$R/audit-denials.txt"
      echo "$t | $s (test_setup direct) | $line | $(( $(date +%s) - t0 ))s | | $R" | tee -a "$OUT"
    fi
  done
done
echo
echo "table (passed/failed/skipped), from $OUT:"
python3 - "$OUT" <<'PY'
import re, sys
rows, targets = {}, []
for line in open(sys.argv[1]):
    if line.startswith('#'): continue
    f = [x.strip() for x in line.split(' | ')]
    if len(f) < 3: continue
    n = {k: re.search(r'(\d+) ' + k, f[2]) for k in ('passed', 'failed', 'skipped')}
    cell = '/'.join(m.group(1) if m else '?' for m in n.values()) if n['passed'] else 'no result'
    rows.setdefault(f[1], {})[f[0]] = cell
    if f[0] not in targets: targets.append(f[0])
print('| suite | ' + ' | '.join(targets) + ' |')
print('|---' * (len(targets) + 1) + '|')
for s, r in rows.items():
    print(f'| {s} | ' + ' | '.join(r.get(t, '-') for t in targets) + ' |')
PY

#!/usr/bin/env bash
# N8 in RESULTS.md: a temporary table created as pg_temp.<name> (no TEMP keyword) does not
# pin its client; the server goes back to the pool with it and later clients see it.
# Directly each new connection answers "no"; through pgward's transaction mode later
# clients (same backend pid) answer the table's name.
#   bash benches/peers/repro/pg-temp-leak.sh PORT
set -uo pipefail
export PGPASSWORD=${LAB_PASSWORD:-peers}
C="host=127.0.0.1 port=$1 user=postgres dbname=postgres sslmode=disable"
psql -X -At "$C" -c "CREATE TABLE pg_temp.repro_n8(a int)" -c "select 'created on ' || pg_backend_pid()"
leaks=0
for _ in 1 2 3 4 5 6; do
  r=$(psql -X -At "$C" -c "select pg_backend_pid() || ' sees ' || coalesce(to_regclass('pg_temp.repro_n8')::text, 'no')")
  echo "$r"; case $r in *repro_n8*) leaks=$((leaks + 1));; esac
done
# a client that sees it drops it, so that the lab stays clean
[ $leaks -gt 0 ] && psql -X -q "$C" -c "DROP TABLE IF EXISTS pg_temp.repro_n8" >/dev/null 2>&1
echo "$leaks of 6 later clients saw another client's temporary table"
[ $leaks -eq 0 ]

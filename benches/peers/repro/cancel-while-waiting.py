"""N7 in RESULTS.md: a cancel sent while the query waits for a pooled server is lost.

Five clients pin the (database, login) pool of five with a temporary table; a sixth runs
`select pg_sleep(3)` and cancels it after 0.3 s; one pinned client leaves at 1 s.
Directly: cancelled after 0.3 s. Through pgward's transaction mode (pool size 5): the
query waits for the freed server and then sleeps its 3 s ("completed after 4.0s").

    $PEERS_DIR/venv-psycopg/bin/python benches/peers/repro/cancel-while-waiting.py PORT
"""

import os
import sys
import threading
import time

import psycopg

port = sys.argv[1]
password = os.environ.get("LAB_PASSWORD", "peers")
dsn = f"host=127.0.0.1 port={port} user=postgres password={password} dbname=postgres sslmode=disable"
pinned = [psycopg.connect(dsn, autocommit=True) for _ in range(5)]
for c in pinned:
    c.execute("CREATE TEMP TABLE repro_n7(a int)")
conn = psycopg.connect(dsn, autocommit=True)
threading.Timer(0.3, conn.cancel).start()
threading.Timer(1.0, pinned[0].close).start()
t0 = time.time()
try:
    conn.execute("select pg_sleep(3)")
    result = "completed"
except psycopg.errors.QueryCanceled:
    result = "cancelled"
print(f"port {port}: {result} after {time.time() - t0:.1f}s")
sys.exit(0 if result == "cancelled" else 1)

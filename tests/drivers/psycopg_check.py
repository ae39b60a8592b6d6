"""psycopg 3 at its default settings through pgward: auto-prepare, prepare=True, a pipeline,
a named (server-side) cursor and threads. Usage: psycopg_check.py HOST PORT USER PASSWORD DBNAME.
Prints one line per failed check and "OK" when every check passed."""

import sys
import threading

import psycopg

HOST, PORT, USER, PASSWORD, DB = sys.argv[1:6]
CONNINFO = f"host={HOST} port={PORT} user={USER} password={PASSWORD} dbname={DB} sslmode=disable"
QUERY = "SELECT id, status FROM documents WHERE id = %s"
failures = []


def check(name):
    def wrap(fn):
        def run(*args):
            try:
                fn(*args)
            except Exception as e:  # every failure is reported, none is fatal to the others
                failures.append(f"{name}: {type(e).__name__}: {e}")
        run.__name__ = name
        return run
    return wrap


@check("auto_prepare")
def auto_prepare():
    # psycopg prepares a query server-side from its 6th execution (prepare_threshold = 5).
    with psycopg.connect(CONNINFO, autocommit=True) as conn:
        for i in range(25):
            conn.execute(QUERY, (i % 5 + 1,)).fetchall()
    with psycopg.connect(CONNINFO) as conn:  # inside transactions too
        for i in range(25):
            conn.execute(QUERY, (i % 5 + 1,)).fetchall()
            if i % 3 == 0:
                conn.commit()


@check("prepare_true")
def prepare_true():
    with psycopg.connect(CONNINFO, autocommit=True) as conn:
        for i in range(10):
            row = conn.execute("SELECT %s::int + 1", (i,), prepare=True).fetchone()
            assert row[0] == i + 1, row


@check("pipeline")
def pipeline():
    with psycopg.connect(CONNINFO, autocommit=True) as conn:
        for _ in range(3):
            with conn.pipeline():
                curs = [conn.execute(QUERY, (i,)) for i in range(1, 8)]
                counts = [conn.execute("SELECT count(*) FROM documents") for _ in range(3)]
            for c in curs:
                c.fetchall()
            assert len({c.fetchone()[0] for c in counts}) == 1


@check("named_cursor")
def named_cursor():
    with psycopg.connect(CONNINFO) as conn:
        total = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
        with conn.cursor(name="pgward_named") as cur:
            cur.itersize = 3
            cur.execute("SELECT id FROM documents ORDER BY id")
            seen = sum(1 for _ in cur)
        assert seen == total, (seen, total)
        conn.commit()


@check("threads")
def threads():
    errors = []

    def worker():
        try:
            with psycopg.connect(CONNINFO, autocommit=True) as conn:
                for i in range(30):
                    conn.execute(QUERY, (i % 7 + 1,)).fetchall()
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    ts = [threading.Thread(target=worker) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]


for fn in (auto_prepare, prepare_true, pipeline, named_cursor, threads):
    fn()
for f in failures:
    print(f)
print("OK" if not failures else f"{len(failures)} failed")
sys.exit(1 if failures else 0)

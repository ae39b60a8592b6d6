#!/usr/bin/env python3
"""Throughput harness: pgbench -S straight to PostgreSQL, through PgBouncer and through pgward.

pgward runs with the full guardrail config (read-only role, statement and idle timeouts, row
limit, masking configured, audit to a file). Targets are interleaved within each round so that
the noise of a shared machine hits them alike; the report gives, per mode and client count, the
median tps over the rounds, the median of the same-round ratios to PgBouncer, each proxy's CPU
time per transaction (utime+stime of its process from /proc over the run, divided by the
transactions pgbench processed) and, at one client, the average latency each proxy adds to the
direct path.

PgBouncer 1.18 has no prepared statements in transaction mode, so `-M prepared` is compared with
its session mode (pgward is measured in both of its modes).

Usage: benches/throughput.py [--seconds 5] [--rounds 5] [--clients 1,16,200] [--pool 8]
                             [--modes simple,extended,prepared] [--connect/--no-connect]
Needs PostgreSQL server binaries, pgbench and pgbouncer (apt-get install -y pgbouncer).
"""

import argparse
import glob
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, secs=30):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on {port} within {secs}s")


def cpu_seconds(pid):
    """utime+stime of a process (and its reaped children), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime=14, stime=15, cutime=16, cstime=17.
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICKS


class Lab:
    """PostgreSQL, PgBouncer (transaction and session) and pgward (transaction and session)."""

    def __init__(self, pool, workdir, max_clients=5000):
        self.pool = pool
        self.max_clients = max_clients
        # Session pooling needs a server per client: room for both proxies' session pools.
        self.max_connections = 100
        self.work = workdir
        self.procs = []
        self.leaves = []  # programs started through runuser
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins or not os.path.exists(os.path.join(bins[-1], "initdb")):
            sys.exit("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        self.pgbin = bins[-1]
        if not shutil.which("pgbouncer"):
            sys.exit("pgbouncer not installed: apt-get install -y pgbouncer")
        self.runas = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        if self.runas:
            shutil.chown(self.work, "postgres")
        os.chmod(self.work, 0o755)

    def _own(self, path):
        if self.runas:
            shutil.chown(path, "postgres")

    def start_postgres(self):
        self.pg_port = free_port()
        pw = os.path.join(self.work, "pw")
        with open(pw, "w") as f:
            f.write("bench\n")
        self._own(pw)
        data = os.path.join(self.work, "data")
        subprocess.run(self.runas + [f"{self.pgbin}/initdb", "-D", data, "-U", "postgres",
                                     f"--pwfile={pw}", "-A", "scram-sha-256"],
                       check=True, stdout=subprocess.DEVNULL)
        opts = (f"-p {self.pg_port} -k {self.work} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections={self.max_connections}")
        subprocess.run(self.runas + [f"{self.pgbin}/pg_ctl", "-D", data, "-l",
                                     os.path.join(self.work, "pg.log"), "-w", "-o", opts, "start"],
                       check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, PGPASSWORD="bench")
        psql = ["psql", "-q", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                "-d", "postgres", "-c"]
        subprocess.run(psql + ["CREATE ROLE bench_ro LOGIN PASSWORD 'bench'"], check=True, env=env)
        subprocess.run(["pgbench", "-q", "-i", "-s", "10", "-h", "127.0.0.1", "-p",
                        str(self.pg_port), "-U", "postgres", "postgres"],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A PII table pgbench does not touch, so masking is configured and resolvable.
        subprocess.run(psql + ["CREATE TABLE customers (id int PRIMARY KEY, email text, ssn text);"
                               "GRANT SELECT ON ALL TABLES IN SCHEMA public TO bench_ro"],
                       check=True, env=env)

    def start_pgbouncer(self, mode, pool):
        port = free_port()
        ini = os.path.join(self.work, f"pgbouncer-{mode}.ini")
        users = os.path.join(self.work, "userlist.txt")
        with open(users, "w") as f:
            f.write('"bench" "bench"\n')
        with open(ini, "w") as f:
            f.write(f"""[databases]
postgres = host=127.0.0.1 port={self.pg_port} user=bench_ro password=bench
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
auth_type = scram-sha-256
auth_file = {users}
pool_mode = {mode}
default_pool_size = {pool}
max_client_conn = {self.max_clients}
unix_socket_dir =
logfile = {self.work}/pgbouncer-{mode}.log
""")
        self._own(ini)
        self._own(users)
        # runuser applies PAM's open-file limit; raise it to the hard limit for many clients.
        p = subprocess.Popen(self.runas + ["sh", "-c", 'ulimit -n "$(ulimit -Hn)"; exec pgbouncer -q "$0"', ini],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(port, "pgbouncer")
        pid = self._leaf_pid(p, "pgbouncer")
        self.leaves.append(pid)
        return port, pid

    def start_pgward(self, mode, pool, verifier, masking=True, tag=""):
        port = free_port()
        conf = os.path.join(self.work, f"pgward-{mode}{tag}.toml")
        with open(conf, "w") as f:
            f.write(f"""[listen]
address = "127.0.0.1:{port}"
max_client_connections = {self.max_clients}
[upstream]
host = "127.0.0.1"
port = {self.pg_port}
tls = "disable"
[logins.l]
user = "bench_ro"
password = "bench"
[pool]
mode = "{mode}"
size = {pool}
[roles.r]
login = "l"
access = "read-only"
statement_timeout = "30s"
idle_in_transaction_timeout = "60s"
max_result_rows = 10000
[users.bench]
password = "{verifier}"
role = "r"
[audit]
file = "{self.work}/audit-{mode}{tag}.jsonl"
""")
            if masking:
                f.write('[masking]\ncolumns = ["public.customers.email", "public.customers.ssn", '
                        '"*.*.password*"]\nstrategy = "redact"\n')
        env = dict(os.environ, PGWARD_LOG="warn")
        env.setdefault("PGWARD_WORKERS", "1")
        log = open(os.path.join(self.work, f"pgward-{mode}{tag}.log"), "w")
        p = subprocess.Popen([os.path.join(ROOT, "target/release/pgward"), "run", "--config", conf],
                             stdout=subprocess.DEVNULL, stderr=log, env=env)
        self.procs.append(p)
        wait_port(port, "pgward")
        return port, p.pid

    @staticmethod
    def _leaf_pid(p, name):
        """runuser forks the program: find the child that is the program itself."""
        for _ in range(50):
            try:
                out = subprocess.run(["pgrep", "-P", str(p.pid), name], capture_output=True,
                                     text=True).stdout.split()
            except FileNotFoundError:
                return p.pid
            if out:
                return int(out[0])
            if p.poll() is not None:
                break
            time.sleep(0.1)
        return p.pid

    def stop(self):
        for p in self.procs:
            p.terminate()
        for pid in self.leaves:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        subprocess.run(self.runas + [f"{self.pgbin}/pg_ctl", "-D", os.path.join(self.work, "data"),
                                     "-m", "immediate", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pgbench(port, user, mode, clients, secs, connect):
    """Run pgbench -S; returns (tps, transactions, average latency ms) or None on failure."""
    cmd = ["pgbench", "-n", "-S", "-T", str(secs), "-c", str(clients), "-j", str(min(clients, 2)),
           "-M", mode, "-h", "127.0.0.1", "-p", str(port), "-U", user, "postgres"]
    if connect:
        cmd.insert(1, "-C")
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PGPASSWORD="bench"))
    text = out.stdout + out.stderr
    tps = re.search(r"^tps = ([\d.]+)", text, re.M)
    txs = re.search(r"actually processed: (\d+)", text)
    lat = re.search(r"latency average = ([\d.]+) ms", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    if out.returncode != 0 or not tps or not txs or (failed and int(failed.group(1)) > 0):
        return None
    return float(tps.group(1)), int(txs.group(1)), float(lat.group(1)) if lat else None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def masking_overhead(lab, args, verifier):
    """pgward with [masking] configured vs without, same run, interleaved rounds."""
    with_mask = lab.start_pgward("transaction", args.pool, verifier, masking=True, tag="-mask")
    without = lab.start_pgward("transaction", args.pool, verifier, masking=False, tag="-nomask")
    clients = max(int(c) for c in args.clients.split(","))
    for mode in args.modes.split(","):
        if mode == "prepared":
            continue  # named statements in transaction pooling: issue 9
        rows = {"masking": [], "no masking": []}
        for rnd in range(args.rounds):
            order = [("masking", with_mask), ("no masking", without)]
            for name, (port, pid) in order[rnd % 2:] + order[:rnd % 2]:
                before = cpu_seconds(pid)
                r = pgbench(port, "bench", mode, clients, args.seconds, False)
                if r:
                    rows[name].append((r[0], (cpu_seconds(pid) - before) / r[1] * 1e6))
        cpu = {k: med([x[1] for x in v]) for k, v in rows.items()}
        tps = {k: med([x[0] for x in v]) for k, v in rows.items()}
        ratio = cpu["masking"] / cpu["no masking"] if cpu["masking"] and cpu["no masking"] else None
        print(f"{mode:9} -c {clients}: masking {fmt(tps['masking'], '.0f')} tps "
              f"{fmt(cpu['masking'], '.1f')} us/tx; no masking {fmt(tps['no masking'], '.0f')} tps "
              f"{fmt(cpu['no masking'], '.1f')} us/tx; CPU ratio {fmt(ratio, '.3f')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", default="1,16,200")
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--modes", default="simple,extended,prepared")
    ap.add_argument("--masking-overhead", action="store_true",
                    help="only compare pgward (transaction pooling) with masking configured and "
                         "without, on tables pgbench does not touch: CPU per transaction")
    ap.add_argument("--connect", action=argparse.BooleanOptionalAction, default=True,
                    help="also run -C (a new connection per transaction), simple mode, 16 clients")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pgward"], cwd=ROOT, check=True)
    verifier = subprocess.run([os.path.join(ROOT, "target/release/pgward"), "passwd"], input="bench",
                              capture_output=True, text=True, check=True).stdout.strip()

    work = tempfile.mkdtemp(prefix="pgward-bench.")
    lab = Lab(args.pool, work)
    try:
        clients = [int(c) for c in args.clients.split(",")]
        if args.masking_overhead:
            lab.start_postgres()
            masking_overhead(lab, args, verifier)
            return
        # Session pooling holds a server per client, so its pools are as large as the largest
        # client count (that is what a session pooler costs); transaction pools are --pool.
        session_pool = max(clients + [16, args.pool])
        lab.max_connections = 2 * session_pool + 2 * args.pool + max(clients) + 20
        lab.start_postgres()
        bouncer = {"transaction": lab.start_pgbouncer("transaction", args.pool),
                   "session": lab.start_pgbouncer("session", session_pool)}
        pgward = {"transaction": lab.start_pgward("transaction", args.pool, verifier),
                  "session": lab.start_pgward("session", session_pool, verifier)}

        cases = [(m, c, False) for m in args.modes.split(",") for c in clients]
        if args.connect:
            cases.append(("simple", 16, True))

        def targets(mode):
            # PgBouncer 1.18 has no protocol-level prepared statements in transaction mode.
            bmode = "session" if mode == "prepared" else "transaction"
            return [("direct", lab.pg_port, None, "bench_ro"),
                    (f"pgbouncer-{bmode[:2]}", *bouncer[bmode], "bench"),
                    ("pgward-tx", *pgward["transaction"], "bench"),
                    ("pgward-se", *pgward["session"], "bench")]

        results = {}  # (case, target) -> list of (tps, cpu_per_tx_us, latency)
        for rnd in range(args.rounds):
            for case in cases:
                mode, clients, connect = case
                order = targets(mode)
                # Rotate the order each round so no target always runs first.
                order = order[rnd % len(order):] + order[:rnd % len(order)]
                for name, port, pid, user in order:
                    before = cpu_seconds(pid) if pid else None
                    r = pgbench(port, user, mode, clients, args.seconds, connect)
                    cpu = None
                    if r and pid:
                        cpu = (cpu_seconds(pid) - before) / r[1] * 1e6
                    results.setdefault((case, name), []).append(
                        (r[0] if r else None, cpu, r[2] if r else None, rnd))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)

        print(f"pgbench -S, {args.seconds}s per run, {args.rounds} interleaved rounds, transaction pools "
              f"{args.pool}, session pools {session_pool}; "
              f"pgward: read-only role, timeouts, max_result_rows, masking configured, audit on")
        print(f"{'mode':9} {'clients':>7} {'target':13} {'tps(med)':>10} {'ratio/pgb':>9} "
              f"{'cpu us/tx':>9} {'lat ms':>8} {'+lat ms':>8}  failed runs")
        for case in cases:
            mode, clients, connect = case
            names = [t[0] for t in targets(mode)]
            bname = names[1]
            direct_lat = med([x[2] for x in results[(case, "direct")]])
            for name in names:
                rows = results[(case, name)]
                ratios = []
                for r in rows:
                    b = next((x for x in results[(case, bname)] if x[3] == r[3]), None)
                    if r[0] and b and b[0]:
                        ratios.append(r[0] / b[0])
                lat = med([x[2] for x in rows])
                added = lat - direct_lat if (lat is not None and direct_lat is not None) else None
                label = f"{mode}{' -C' if connect else ''}"
                print(f"{label:9} {clients:>7} {name:13} {fmt(med([x[0] for x in rows]), '10.0f')} "
                      f"{fmt(med(ratios) if name != 'direct' else None, '9.2f')} "
                      f"{fmt(med([x[1] for x in rows]), '9.1f')} {fmt(lat, '8.3f')} "
                      f"{fmt(added if clients == 1 and name != 'direct' else None, '8.3f')}  "
                      f"{sum(1 for x in rows if x[0] is None)}")
        audit = sum(1 for f in glob.glob(os.path.join(work, "audit-*.jsonl")) for _ in open(f))
        print(f"audit lines written: {audit}")
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

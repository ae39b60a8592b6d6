#!/usr/bin/env python3
"""Memory per idle client: hold N authenticated, idle client connections through PgBouncer and
through pgward (transaction pooling, pool of 10) and print each proxy's resident memory per client
(VmRSS after the N logins minus before, divided by N).

Usage: benches/idle_clients.py [--clients 10000] [--pool 10]
Clients speak the protocol themselves (startup, SCRAM-SHA-256) so that thousands fit in one
process; the salted password is derived once per salt.
"""

import argparse
import base64
import hashlib
import hmac
import os
import resource
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import ROOT, Lab  # noqa: E402

SALTED = {}


def read_msg(sock):
    head = b""
    while len(head) < 5:
        chunk = sock.recv(5 - len(head))
        if not chunk:
            raise ConnectionError("server closed the connection")
        head += chunk
    tag, length = head[:1], struct.unpack("!I", head[1:])[0]
    body = b""
    while len(body) < length - 4:
        chunk = sock.recv(length - 4 - len(body))
        if not chunk:
            raise ConnectionError("server closed the connection")
        body += chunk
    return tag, body


def login(port, user, password, database="postgres"):
    """An authenticated connection that has seen ReadyForQuery."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    s.sendall(struct.pack("!II", 8 + len(params), 196608) + params)
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n=,r={nonce}"
    auth_msg = None
    server_key = None
    while True:
        tag, body = read_msg(s)
        if tag == b"R":
            code = struct.unpack("!I", body[:4])[0]
            if code == 10:  # SASL: send client-first
                msg = ("n,," + first_bare).encode()
                mech = b"SCRAM-SHA-256\0"
                s.sendall(b"p" + struct.pack("!I", 4 + len(mech) + 4 + len(msg)) + mech
                          + struct.pack("!I", len(msg)) + msg)
            elif code == 11:  # SASLContinue: server-first
                server_first = body[4:].decode()
                attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
                salt, iters = base64.b64decode(attrs["s"]), int(attrs["i"])
                key = (salt, iters)
                if key not in SALTED:
                    SALTED[key] = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iters)
                salted = SALTED[key]
                client_key = hmac.new(salted, b"Client Key", "sha256").digest()
                stored = hashlib.sha256(client_key).digest()
                final_bare = f"c=biws,r={attrs['r']}"
                auth_msg = f"{first_bare},{server_first},{final_bare}".encode()
                sig = hmac.new(stored, auth_msg, "sha256").digest()
                proof = bytes(a ^ b for a, b in zip(client_key, sig))
                server_key = hmac.new(salted, b"Server Key", "sha256").digest()
                msg = f"{final_bare},p={base64.b64encode(proof).decode()}".encode()
                s.sendall(b"p" + struct.pack("!I", 4 + len(msg)) + msg)
            elif code in (0, 12):
                pass
            else:
                raise ConnectionError(f"unsupported authentication request {code}")
        elif tag == b"E":
            raise ConnectionError(body.decode(errors="replace"))
        elif tag == b"Z":
            return s


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(name, port, pid, n):
    before = rss_kib(pid)
    socks = []
    try:
        for i in range(n):
            socks.append(login(port, "bench", "bench"))
        after = rss_kib(pid)
        print(f"{name:10} {n:>7} clients  RSS {before / 1024:8.1f} MiB -> {after / 1024:8.1f} MiB"
              f"  {(after - before) / n:6.2f} KiB per idle client", flush=True)
    finally:
        for s in socks:
            s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--pool", type=int, default=10)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.clients * 2 + 1000)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < args.clients * 2 + 100:
        sys.exit(f"open-file limit {hard} is too low for {args.clients} clients through a proxy")

    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pgward"], cwd=ROOT, check=True)
    verifier = subprocess.run([os.path.join(ROOT, "target/release/pgward"), "passwd"], input="bench",
                              capture_output=True, text=True, check=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="pgward-idle.")
    lab = Lab(args.pool, work, max_clients=args.clients + 100)
    try:
        lab.start_postgres()
        bport, bpid = lab.start_pgbouncer("transaction", args.pool)
        wport, wpid = lab.start_pgward("transaction", args.pool, verifier)
        measure("pgbouncer", bport, bpid, args.clients)
        measure("pgward", wport, wpid, args.clients)
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

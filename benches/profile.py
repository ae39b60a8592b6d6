#!/usr/bin/env python3
"""Profile pgward under pgbench -S: starts PostgreSQL and pgward (transaction pooling, the
throughput harness's full guardrail config), records `perf` samples of the pgward process while
pgbench runs, and writes folded stacks (`<target>-<mode>.folded`, kernel frames
collapsed to their syscall) and a summary (`<target>-<mode>.top.txt`) per protocol mode.

Usage: benches/profile.py [--seconds 10] [--clients 16] [--pool 8] [--modes simple,extended]
                          [--out benches/profiles] [--pool-mode transaction|session]
Needs perf (apt-get install -y linux-perf) and what benches/throughput.py needs.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import ROOT, Lab, pgbench  # noqa: E402


def is_kernel(sym):
    return sym.startswith(("entry_SYSCALL", "asm_", "ret_from_fork")) or sym == "[unknown]k"


def fold(perf_data, folded_path, top_path, min_share=0.001):
    """perf script -> folded stacks (root first). Kernel frames are collapsed to the syscall
    they serve (`[k] sendto`), so the file stays small and says where user space paid the
    kernel. Also writes a summary: user/kernel split, syscalls, self and inclusive time."""
    script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "ip,sym,dso"],
                            capture_output=True, text=True).stdout
    stacks = collections.Counter()
    selfs = collections.Counter()
    inclusive = collections.Counter()
    syscalls = collections.Counter()
    frames = []  # leaf first, as perf prints them: (symbol, in_kernel)
    for line in script.splitlines() + [""]:
        line = line.strip()
        if line:
            parts = line.split(None, 1)
            rest = parts[1] if len(parts) > 1 else "[unknown]"
            kernel = "kernel.kallsyms" in rest
            sym = rest.rsplit(" (", 1)[0].split("+0x")[0].replace(";", ":").strip()
            frames.append((sym, kernel))
            continue
        if not frames:
            continue
        root_first = list(reversed(frames))
        frames = []
        out = []
        for i, (sym, kernel) in enumerate(root_first):
            if kernel:
                call = next((f[0][len("__x64_sys_"):] for f in root_first[i:]
                             if f[0].startswith("__x64_sys_")), None)
                out.append(f"[k] {call}" if call else "[k] other")
                break
            out.append(sym)
        stacks[";".join(out)] += 1
        selfs[out[-1]] += 1
        if out[-1].startswith("[k]"):
            syscalls[out[-1]] += 1
        for sym in set(out):
            inclusive[sym] += 1
    total = sum(stacks.values()) or 1
    with open(folded_path, "w") as f:
        for stack, n in stacks.most_common():
            if n / total >= min_share:
                f.write(f"{stack} {n}\n")
    kernel = sum(syscalls.values())
    with open(top_path, "w") as f:
        f.write(f"{total} samples; kernel {100 * kernel / total:.1f}%, user {100 - 100 * kernel / total:.1f}%\n")
        f.write("\n-- kernel time by the syscall (or interrupt) it served\n")
        for sym, n in syscalls.most_common(12):
            f.write(f"{100 * n / total:6.2f}%  {sym}\n")
        f.write("\n-- self time by symbol (user space; kernel collapsed)\n")
        for sym, n in selfs.most_common(45):
            f.write(f"{100 * n / total:6.2f}%  {sym}\n")
        f.write("\n-- inclusive time of pgward's and the libraries' functions\n")
        for sym, n in inclusive.most_common(400):
            if sym.startswith(("pgward", "tokio::net", "tokio::io", "bytes::", "serde_json",
                               "tracing", "dashmap", "pg_query")) and n / total >= 0.005:
                f.write(f"{100 * n / total:6.2f}%  {sym[:160]}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--modes", default="simple,extended")
    ap.add_argument("--out", default=os.path.join(ROOT, "benches", "profiles"))
    ap.add_argument("--tag", default="")
    ap.add_argument("--target", default="pgward", choices=["pgward", "pgbouncer"],
                    help="the proxy to profile (PgBouncer in transaction mode, for comparison)")
    ap.add_argument("--pool-mode", default="transaction", choices=["transaction", "session"],
                    help="the proxy's pool mode (session mode gets a server per client)")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "pgward"], cwd=ROOT, check=True)
    verifier = subprocess.run([os.path.join(ROOT, "target/release/pgward"), "passwd"], input="bench",
                              capture_output=True, text=True, check=True).stdout.strip()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="pgward-profile.")
    lab = Lab(args.pool, work)
    try:
        pool = args.pool if args.pool_mode == "transaction" else max(args.pool, args.clients)
        lab.max_connections = 4 * pool + args.clients + 20
        lab.start_postgres()
        if args.target == "pgward":
            port, pid = lab.start_pgward(args.pool_mode, pool, verifier)
        else:
            port, pid = lab.start_pgbouncer(args.pool_mode, pool)
        for mode in args.modes.split(","):
            pgbench(port, "bench", mode, args.clients, 2, False)  # warm caches and pools
            data = os.path.join(work, f"{mode}.perf")
            rec = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "--call-graph",
                                    "dwarf,32768", "-p", str(pid), "-o", data],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = pgbench(port, "bench", mode, args.clients, args.seconds, False)
            rec.send_signal(2)
            rec.wait()
            print(f"{args.target} {mode}: tps, transactions, latency = {r}")
            name = f"{args.target}-{mode}{args.tag}"
            fold(data, os.path.join(args.out, f"{name}.folded"),
                 os.path.join(args.out, f"{name}.top.txt"))
    finally:
        lab.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

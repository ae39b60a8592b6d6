#!/usr/bin/env bash
# Stop the pgward instances started by pgward-up.sh (by pid).
set -uo pipefail
PEERS_DIR=${PEERS_DIR:?set PEERS_DIR}
for f in "$PEERS_DIR"/pgward/session.pid "$PEERS_DIR"/pgward/tx.pid; do
  [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null && rm -f "$f"
done
exit 0

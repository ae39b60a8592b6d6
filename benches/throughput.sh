#!/usr/bin/env bash
# Throughput harness (see benches/throughput.py for what it measures and its options):
#   benches/throughput.sh [--seconds 5] [--rounds 5] [--clients 1,16,200] [--pool 8] ...
exec python3 "$(dirname "$0")/throughput.py" "$@"

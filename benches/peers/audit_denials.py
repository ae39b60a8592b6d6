"""Summarize pgward audit records (JSON lines on stdin): the denials, grouped by rule.

For each rule: how many statements were refused, how many distinct statement shapes, and
the most frequent shapes (normalized by pgward: literals are already placeholders).
"""
import collections
import json
import sys

SHAPES_PER_RULE = 8

by_rule = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    try:
        record = json.loads(line)
    except ValueError:
        continue
    if record.get("decision") != "denied":
        continue
    shape = " ".join(str(record.get("statement", "")).split())[:160]
    by_rule[record.get("rule", "-")][shape] += 1

for rule, shapes in sorted(by_rule.items(), key=lambda kv: -sum(kv[1].values())):
    print(f"{rule}: {sum(shapes.values())} denied, {len(shapes)} shapes")
    for shape, n in shapes.most_common(SHAPES_PER_RULE):
        print(f"  {n:5}  {shape}")

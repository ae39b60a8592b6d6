"""Group pg_regress failures by the errors that appear only in the actual output.

    python3 regress_causes.py RESULTS_DIR/out/regression.diffs

Prints, per error message (numbers normalized to N), the failing tests whose diff adds it,
then the failing tests that add no error at all (a different result: often a cascade of an
earlier refused statement, for example empty tables).
"""
import collections
import re
import sys

ADDED_ERROR = re.compile(r"^\+(?:ERROR|FATAL):\s+(.{0,100})", re.M)


def main(path: str) -> None:
    text = open(path, errors="replace").read()
    tests_by_error = collections.defaultdict(set)
    hits = collections.Counter()
    silent = []
    for part in re.split(r"^diff -U3 ", text, flags=re.M)[1:]:
        m = re.search(r"expected/(\S+?)(?:_\d)?\.out", part)
        test = m.group(1) if m else "?"
        errors = [re.sub(r"\d+", "N", e.strip()) for e in ADDED_ERROR.findall(part)]
        if not errors:
            silent.append(test)
        for e in errors:
            tests_by_error[e].add(test)
            hits[e] += 1
    for error, tests in sorted(tests_by_error.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(tests):3} tests, {hits[error]:4} times: {error}")
        print(f"      {' '.join(sorted(tests)[:12])}{' ...' if len(tests) > 12 else ''}")
    print(f"{len(silent):3} tests differ without an added error: {' '.join(sorted(silent))}")


if __name__ == "__main__":
    main(sys.argv[1])

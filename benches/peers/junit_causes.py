"""Group a JUnit XML report's failures and errors by their message.

    python3 junit_causes.py RESULTS_DIR/junit.xml [MORE.xml ...]

Prints, per message (first line, numbers and quoted names normalized), how many tests it
failed and up to three of their names: one cause per group, the test names to look at.
"""
import collections
import re
import sys
import xml.etree.ElementTree as ET


def normalize(message: str) -> str:
    line = next((ln for ln in message.splitlines() if ln.strip()), "")
    line = re.sub(r"0x[0-9a-f]+", "0x…", line)
    line = re.sub(r"\d+", "N", line)
    line = re.sub(r'"[^"]{1,60}"', '"…"', line)
    return line[:180]


def main(paths: list[str]) -> None:
    groups = collections.defaultdict(list)
    for path in paths:
        for case in ET.parse(path).getroot().iter("testcase"):
            for outcome in ("failure", "error"):
                node = case.find(outcome)
                if node is not None:
                    message = node.get("message") or (node.text or "")
                    name = f"{case.get('classname', '')}::{case.get('name', '')}"
                    groups[normalize(message)].append(name)
    for message, tests in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(tests):4}  {message}")
        for name in tests[:3]:
            print(f"        {name}")


if __name__ == "__main__":
    main(sys.argv[1:])

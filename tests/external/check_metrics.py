#!/usr/bin/env python3
"""Checks a gatehouse /metrics sample with the Prometheus client library's parser.

Usage: check_metrics.py FILE. Fails if the text does not parse, if a family lacks
HELP or TYPE, if a counter is not named *_total, or if an expected family is missing.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families

EXPECTED = {
    "gatehouse_http_requests": "counter",
    "gatehouse_http_request_duration_seconds": "histogram",
    "gatehouse_logins": "counter",
    "gatehouse_lockouts": "counter",
    "gatehouse_rate_limited": "counter",
    "gatehouse_password_hash_queue_depth": "gauge",
    "gatehouse_password_hash_wait_seconds": "histogram",
    "gatehouse_tokens_issued": "counter",
    "gatehouse_tokens_refreshed": "counter",
    "gatehouse_revocations": "counter",
    "gatehouse_refresh_reuse_detected": "counter",
    "gatehouse_database_size_bytes": "gauge",
    "gatehouse_uptime_seconds": "gauge",
}


def main(path: str) -> int:
    text = open(path, encoding="utf-8").read()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    problems = []
    for name, kind in EXPECTED.items():
        fam = families.get(name)
        if fam is None:
            problems.append(f"missing family {name}")
        elif fam.type != kind:
            problems.append(f"{name} is {fam.type}, expected {kind}")
        elif not fam.documentation:
            problems.append(f"{name} has no HELP")
    for line in text.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter") and not line.split()[2].endswith("_total"):
            problems.append(f"counter not named *_total: {line}")
    samples = sum(len(f.samples) for f in families.values())
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    print(f"metrics OK: {len(families)} families, {samples} samples")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

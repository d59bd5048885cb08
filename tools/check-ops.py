#!/usr/bin/env python3
"""Checks the chart's operations files (run by `make test` as a CTest test).

- helm/utpost/rules/*.yaml: `promtool check rules`, and `promtool test rules` on
  helm/utpost/rules/tests/*.yaml (every alert made to fire and to stay quiet there);
- every alert has a runbook_url whose anchor is a section of helm/utpost/docs/runbooks.md,
  and every alert is named in its rule tests;
- helm/utpost/dashboards/*.json: valid JSON, a uid unique across the dashboards, every panel
  with at least one query, and every query parses as PromQL (promtool, as a recording rule).
Whether the queries return data from a running utpost is checked by the end-to-end test
(tests/e2e/prometheus_test.cc).

Usage: check-ops.py [repository root]
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


def fail(message):
    print(f"check-ops: {message}", file=sys.stderr)
    sys.exit(1)


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        fail(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def anchor(heading):
    # GitHub's anchors: lower case, punctuation dropped, spaces to dashes.
    return re.sub(r"[^a-z0-9 -]", "", heading.strip().lower()).replace(" ", "-")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    chart = os.path.join(root, "helm", "utpost")
    if shutil.which("promtool") is None:
        fail("promtool is not installed: it is in Debian's prometheus package "
             "(tools/install-deps.sh installs it; apt-get install prometheus)")

    rule_files = sorted(glob.glob(os.path.join(chart, "rules", "*.yaml")))
    test_files = sorted(glob.glob(os.path.join(chart, "rules", "tests", "*.yaml")))
    if not rule_files or not test_files:
        fail("no rule files or no rule tests under helm/utpost/rules")
    run(["promtool", "check", "rules", *rule_files])
    run(["promtool", "test", "rules", *test_files])

    with open(os.path.join(chart, "docs", "runbooks.md")) as f:
        anchors = {anchor(line[3:]) for line in f if line.startswith("## ")}
    tests_text = "".join(open(t).read() for t in test_files)
    alerts = 0
    for path in rule_files:
        text = open(path).read()
        for block in re.split(r"\n\s*- alert: ", text)[1:]:
            name = block.split("\n", 1)[0].strip()
            alerts += 1
            url = re.search(r'runbook_url: "([^"]+)"', block)
            if url is None:
                fail(f"alert {name} has no runbook_url")
            target = url.group(1).split("#", 1)
            if len(target) != 2 or not target[0].endswith("helm/utpost/docs/runbooks.md"):
                fail(f"alert {name}: runbook_url {url.group(1)} is not a section of runbooks.md")
            if target[1] not in anchors:
                fail(f"alert {name}: runbooks.md has no section #{target[1]}")
            if f"alertname: {name}\n" not in tests_text:
                fail(f"alert {name} has no rule test")
    if alerts == 0:
        fail("no alerts found")

    uids = {}
    exprs = []
    for path in sorted(glob.glob(os.path.join(chart, "dashboards", "*.json"))):
        try:
            dashboard = json.load(open(path))
        except json.JSONDecodeError as e:
            fail(f"{path}: not valid JSON: {e}")
        uid = dashboard.get("uid")
        if not uid:
            fail(f"{path}: no uid")
        if uid in uids:
            fail(f"{path}: uid {uid} is also the uid of {uids[uid]}")
        uids[uid] = path
        if not dashboard.get("title") or not dashboard.get("panels"):
            fail(f"{path}: no title or no panels")
        for panel in dashboard["panels"]:
            targets = [t for t in panel.get("targets", []) if t.get("expr")]
            if not targets:
                fail(f"{path}: panel '{panel.get('title')}' has no query")
            exprs += [(path, panel.get("title"), t["expr"]) for t in targets]
    if len(uids) < 2:
        fail("expected the overview and delivery-health dashboards")

    with tempfile.TemporaryDirectory() as tmp:
        rules = os.path.join(tmp, "dashboard-queries.yaml")
        with open(rules, "w") as f:
            f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
            for i, (_, _, expr) in enumerate(exprs):
                f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(expr)}\n")
        result = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
        if result.returncode != 0:
            listing = "\n".join(f"  dashboard_query_{i}: {p} / {t}: {e}" for i, (p, t, e) in enumerate(exprs))
            fail(f"a dashboard query does not parse:\n{result.stdout}{result.stderr}\n{listing}")
    print(f"check-ops: {len(rule_files)} rule file(s), {alerts} alerts with runbooks and tests, "
          f"{len(uids)} dashboards, {len(exprs)} queries: all good")


if __name__ == "__main__":
    main()

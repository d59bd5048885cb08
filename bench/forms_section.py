#!/usr/bin/env python3
"""Writes the "## Forms" section of bench/results.md from bench/run.sh's forms runs.

usage: forms_section.py FORMS_JSONL COMMANDS_TXT RESULTS_MD

The section sits between <!-- forms:start --> and <!-- forms:end -->; it replaces an existing
one, or goes before "## Environment" (or at the end). Prints the section.
"""
import json
import os
import re
import sys

START, END = "<!-- forms:start -->", "<!-- forms:end -->"
TARGET = 0.60  # issue: submissions/s at least 60 % of the send path's letters/s


def cell(value, digits=1):
    return "n/a" if value is None else f"{value:,.{digits}f}"


def main():
    results_path, commands_path, out_path = sys.argv[1:4]
    runs = {r["label"]: r for r in (json.loads(l) for l in open(results_path) if l.strip())}
    commands = [line.rstrip("\n") for line in open(commands_path)]
    env = os.environ
    send, submit, ack = runs.get("send path"), runs.get("forms submit"), runs.get("forms fetch+ack")
    lines = [
        START,
        "## Forms",
        "",
        "`utpost --target=ledger` on a fresh data directory each time, 16 clients with one mTLS",
        "connection each, 64 KiB per request. send path: `utpost_loadgen` (SendLetter, one PDF",
        "document). forms submit: `utpost_bench_forms` as the dev portal, SubmitForm with three",
        "fields and one 64 KiB PDF attachment, each submission encrypted to the municipality's",
        "certificate (CMS, one public-key operation) and synced before the reply. forms",
        "fetch+ack: then, as the municipality, FetchSubmissions (16 per call) and",
        "AcknowledgeSubmission of every submission, 16 workers, from the first fetch to the last",
        "acknowledgement.",
        "",
        "| run | requests/s | MiB/s | p50 ms | p99 ms | server CPU cores | errors |",
        "|---|--:|--:|--:|--:|--:|---|",
    ]
    for label, run in (("send path", send), ("forms submit", submit), ("forms fetch+ack", ack)):
        if run is None:
            lines.append(f"| {label} | n/a | | | | | did not run |")
            continue
        errors = ", ".join(f"{k} {v}" for k, v in run["errors"].items()) or "0"
        lines.append(
            f"| {label} | {cell(run['letters_per_s'])} | {cell(run['mib_per_s'])} | "
            f"{cell(run['p50_ms'], 2)} | {cell(run['p99_ms'], 2)} | "
            f"{cell(run.get('server_cpu_cores'), 2)} | {errors} |")
    lines.append("")
    if send and submit and ack:
        share = submit["letters_per_s"] / send["letters_per_s"]
        ack_share = ack["letters_per_s"] / send["letters_per_s"]
        verdict = "met" if share >= TARGET and ack_share >= TARGET else "**NOT met**"
        lines.append(
            f"- **64 KiB:** {submit['letters_per_s']:,.1f} submissions/s against the send "
            f"path's {send['letters_per_s']:,.1f} letters/s in the same run: {share:.0%}; "
            f"fetch+ack {ack['letters_per_s']:,.1f}/s ({ack_share:.0%}) for "
            f"{ack.get('submitted', 0):,} submissions (target ≥ 60 %: {verdict}).")
    lines += [
        "",
        f"Measured {env.get('BENCH_DATE', '?')}, revision {env.get('BENCH_REVISION', '?')}, "
        f"{env.get('BENCH_BUILD_TYPE', '?')} build, nproc {env.get('BENCH_NPROC', '?')}, "
        f"with `BENCH_ONLY=forms BENCH_SECONDS={env.get('BENCH_MEASURED', '?')} bench/run.sh "
        f"{env.get('BENCH_BUILD_ARG', 'build-bench')}`:",
        "",
        "```",
    ] + commands + ["```", END]
    block = "\n".join(lines)
    old = open(out_path).read() if os.path.exists(out_path) else ""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    if pattern.search(old):
        text = pattern.sub(lambda _: block, old)
    elif "\n## Environment\n" in old:
        text = old.replace("\n## Environment\n", "\n" + block + "\n\n## Environment\n", 1)
    else:
        text = old.rstrip("\n") + "\n\n" + block + "\n"
    with open(out_path, "w") as out:
        out.write(text)
    print(block)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn scripts/bench.sh's results into tables in BENCHMARKS.md.

Only the part between the bench markers is rewritten; notes around it are kept.
Usage: bench_report.py RESULTS_DIR BENCHMARKS.md J RTT_MS [tmpfs|disk] [FILE SYSTEM]
A disk run (bench.sh with BENCH_DIR) has its own markers and section, "On disk".
"""
import json
import math
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

res, md_path, J, RTT = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) / 1000
WHERE = sys.argv[5] if len(sys.argv) > 5 else "tmpfs"
FS = sys.argv[6] if len(sys.argv) > 6 else ""
MARK = "bench" if WHERE == "tmpfs" else "bench-disk"
START, END = f"<!-- {MARK}:start -->", f"<!-- {MARK}:end -->"

SCENARIOS = {
    "small": ("2000 × 16 KiB on loopback (per-request cost)", None),
    "big": ("4 × 256 MiB on loopback (raw throughput)", None),
    "lat": (
        f"400 × 16 KiB behind a {int(RTT * 1000)} ms round trip",
        ((math.ceil(400 / J) + 1) * RTT, f"(⌈400/{J}⌉ requests + 1 handshake) × {int(RTT * 1000)} ms"),
    ),
    # nginx's limit_rate lets rate × (elapsed + 1 s) through, so the first second's worth
    # (2 MiB) leaves at once: the reachable floor is ⌈N/J⌉ × (size / rate − 1 s).
    "slow": (
        "8 × 8 MiB at 2 MiB/s per connection (nginx limit_rate 2m)",
        (
            math.ceil(8 / J) * 3.0,
            f"⌈8/{J}⌉ × (8 MiB / 2 MiB/s − 1 s), as nginx's limit_rate sends the first second's "
            f"worth at once; the plain formula ⌈8/{J}⌉ × 8 MiB / 2 MiB/s gives {math.ceil(8 / J) * 4.0:.2f} s",
        ),
    ),
}
SCENARIOS["update"] = (
    "2000 × 16 KiB already present and unchanged, rerun in update mode "
    "(fetchpool -N, wget2 -N, aria2c --conditional-get, curl -z): one conditional request each",
    None,
)
PEERS = ["curl", "wget2", "aria2c", "rclone", "lftp"]
CLASSICS = ["classic", "classic-j", "filedownloader"]
TOOLS = ["fetchpool", *PEERS, "fetchpool-serial", *CLASSICS, "floor", "floor-write"]


def load(s, tool):
    base = os.path.join(res, f"{s}-{tool}")
    if os.path.exists(base + ".failed"):
        return {"failed": open(base + ".failed").read().strip()}
    if not os.path.exists(base + ".json"):
        return None
    r = json.load(open(base + ".json"))["results"][0]
    rss = None
    if os.path.exists(base + ".rss"):
        nums = re.findall(r"^\d+$", open(base + ".rss").read(), re.M)
        rss = int(nums[-1]) / 1024 if nums else None
    return {"median": r["median"], "min": r["min"], "max": r["max"], "runs": len(r["times"]), "rss": rss}


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0].strip() if out else "?"
    except Exception:
        return "not found"


def commit():
    # What the binary was built from, recorded by bench.sh right after the build (the tree
    # may change while the run goes on); else what the tree is now.
    try:
        with open(os.path.join(res, "commit")) as f:
            return f.read().strip() or "unknown"
    except OSError:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"


def nginx_version():
    # nginx prints its version on stderr.
    out = subprocess.run(["sh", "-c", "(nginx -v || /usr/sbin/nginx -v) 2>&1"], capture_output=True, text=True)
    return "nginx " + out.stdout.strip().split("/")[-1]


lines = [START, ""]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
lines += [
    f"Run of {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, `-j {J}` for every tool, "
    "medians of hyperfine runs; every tool's output was checked (file count and SHA-256) before "
    "its time counted. Ratio = tool median / fetchpool median (above 1: fetchpool is faster). "
    "Peak RSS from `/usr/bin/time -f %M` on one separate run.",
    "",
    f"fetchpool commit: {commit()}.",
    "",
    f"Downloads written to {FS or WHERE}.",
    "",
    f"Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}; shared and noisy.",
    "",
    "Versions: "
    + "; ".join(
        [
            version(["target/release/fetchpool", "--version"]),
            version(["curl", "--version"]).split(" (")[0],
            version(["wget2", "--version"]),
            version(["aria2c", "--version"]),
            version(["rclone", "--version"]),
            version(["lftp", "--version"]).split(" | ")[0],
            version(["python3", "-c", "import requests, sys; print('python', sys.version.split()[0], 'requests', requests.__version__)"]),
            nginx_version(),
            version(["hyperfine", "--version"]),
        ]
    ),
    "",
]

for s, (title, ideal) in SCENARIOS.items():
    rows = {t: load(s, t) for t in TOOLS}
    if not any(rows.values()):
        continue
    lines += [f"### {s}: {title}", ""]
    fp = rows.get("fetchpool") or {}
    floor = (rows.get("floor-write") or {}).get("median")
    lines += [
        "| tool | median (s) | min–max (s) | runs | ratio to fetchpool | ratio to the floor (writing files) | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in TOOLS:
        r = rows[t]
        if r is None:
            continue
        if "failed" in r:
            lines.append(f"| {t} | — | — | — | {r['failed']} | — | — |")
            continue
        ratio = f"{r['median'] / fp['median']:.2f}" if fp.get("median") else "—"
        to_floor = f"{r['median'] / floor:.2f}" if floor else "—"
        rss = f"{r['rss']:.1f}" if r["rss"] is not None else "—"
        lines.append(f"| {t} | {r['median']:.3f} | {r['min']:.3f}–{r['max']:.3f} | {r['runs']} | {ratio} | {to_floor} | {rss} |")
    lines.append("")
    peers = [rows[t]["median"] for t in PEERS if rows[t] and "median" in rows[t]]
    if fp.get("median") and peers:
        best = min(peers)
        lines.append(f"Fastest peer: {best:.3f} s; fetchpool {fp['median']:.3f} s ({best / fp['median']:.2f}× the fastest peer's speed).")
    if floor and fp.get("median"):
        lines.append(f"Floor (J keep-alive connections, each body written to its file): {floor:.3f} s; fetchpool is {fp['median'] / floor:.2f}× it.")
    for c in CLASSICS:
        r = rows.get(c)
        if r and "median" in r and fp.get("median"):
            lines.append(f"`{c}` takes {r['median']:.2f} s: fetchpool is {r['median'] / fp['median']:.1f}× faster.")
    if ideal and fp.get("median"):
        lines.append(f"Ideal: {ideal[0]:.2f} s ({ideal[1]}); fetchpool is {100 * (fp['median'] / ideal[0] - 1):+.1f} % from it.")
    ser = rows.get("fetchpool-serial")
    if ser and "median" in ser and fp.get("median"):
        sp = ser["median"] / fp["median"]
        lines.append(f"Serial / parallel: {ser['median']:.2f} s / {fp['median']:.2f} s = speedup {sp:.2f}× with J = {J} ({sp / J:.2f} × J).")
    cmp_base = os.path.join(res, f"{s}-compare")
    if os.path.exists(cmp_base + ".failed"):
        lines.append("`fetchpool --mode compare`: output not verified.")
    elif os.path.exists(cmp_base + ".txt"):
        # The summaries and the table, not the per-file lines or the phase headings.
        table = [
            l
            for l in open(cmp_base + ".txt").read().splitlines()
            if l.strip() and " -> " not in l and not l.startswith("--")
        ]
        speedup = float(table[-1].split()[-1].rstrip("x"))
        lines += [
            "",
            f"`fetchpool --mode compare -j {J}` (one run, output verified): speedup {speedup:.2f}× = {speedup / J:.2f} × J.",
            "",
            "```",
            *table,
            "```",
        ]
    lines.append("")

plan = os.path.join(res, "plan.time")
if os.path.exists(plan):
    secs, kb = open(plan).read().split()[-2:]
    lines += [
        "### plan: a 100 000-line input file, parsed and planned (`--dry-run`)",
        "",
        f"{float(secs):.2f} s wall, {int(kb) / 1024:.1f} MiB peak RSS (one run).",
        "",
    ]
lines.append(END)

text = open(md_path).read() if os.path.exists(md_path) else "# Benchmarks\n\n" + START + "\n" + END + "\n"
if START not in text:
    heading = "\n## On disk (`BENCH_DIR`)\n\n" if WHERE == "disk" else "\n"
    text += heading + START + "\n" + END + "\n"
head, rest = text.split(START, 1)
tail = rest.split(END, 1)[1]
open(md_path, "w").write(head + "\n".join(lines) + tail)

#!/usr/bin/env python3
"""Summarises docs/contention.csv (written by `deposit --sweep`): per backend, think time and
point, the adaptive policy against the better of optimistic and pessimistic locking, and the
issue's targets. Usage: scripts/contention-summary.py [docs/contention.csv]"""
import csv
import sys
from collections import defaultdict

path = sys.argv[1] if len(sys.argv) > 1 else "docs/contention.csv"
points = defaultdict(dict)
for row in csv.DictReader(open(path)):
    key = (row["backend"], int(row["think_ms"]), int(row["hot_rows"]), int(row["workers"]))
    points[key][row["strategy"]] = row

print("backend   think hot workers  optimistic  adaptive pessimistic   atomic  winner       adaptive/best  failed lost")
misses = []
for key in sorted(points):
    s = points[key]
    if not all(name in s for name in ("optimistic", "adaptive", "pessimistic")):
        continue
    g = {name: float(row["goodput_per_s"]) for name, row in s.items()}
    best_name = max(("optimistic", "pessimistic"), key=lambda n: g[n])
    ratio = g["adaptive"] / g[best_name]
    failed = sum(int(row["failed"]) for row in s.values())
    lost = sum(int(row["lost"]) for row in s.values())
    backend, think, hot, workers = key
    flag = "" if ratio >= 0.95 else "  < 0.95"
    if ratio < 0.95:
        misses.append((key, ratio))
    print(f"{backend:<9} {think:>5} {hot:>3} {workers:>7} {g['optimistic']:>11.0f} {g['adaptive']:>9.0f} "
          f"{g['pessimistic']:>11.0f} {g.get('atomic', 0):>8.0f}  {best_name:<12} {ratio:>13.3f}  "
          f"{failed:>6} {lost:>4}{flag}")
print(f"\n{len(misses)} of {len(points)} points below 0.95:", ", ".join(
    f"{b}/{t}ms/{h} rows/{w} workers {r:.2f}" for (b, t, h, w), r in misses) or "none")

# Combining, where swept: on 1 hot row from 8 workers against the atomic update (target >= 1.0x),
# on 10 hot rows from 32 workers against pessimistic locking (target >= 2x), and what a single
# caller pays (median and 99th percentile latency, where the CSV has them).
combined = [key for key in sorted(points) if "combined" in points[key] and key[0] != "sqlite"]
if combined:
    print("\nbackend   think hot workers  combined    atomic pessimistic  /atomic  /pessimistic  "
          "p50 ms (opt)    p99 ms (opt)   min..max combined")
    short = []
    for key in combined:
        s = points[key]
        g = {name: float(row["goodput_per_s"]) for name, row in s.items()}
        backend, think, hot, workers = key
        to_atomic = g["combined"] / g["atomic"]
        to_pessimistic = g["combined"] / g["pessimistic"]
        c, o = s["combined"], s["optimistic"]
        latency = (f"{float(c['p50_ms']):>6.2f} ({float(o['p50_ms']):>5.2f}) {float(c['p99_ms']):>7.2f} "
                   f"({float(o['p99_ms']):>6.2f})") if c.get("p50_ms") else ""
        spread = f"{float(c['goodput_min']):.0f}..{float(c['goodput_max']):.0f}" if c.get("goodput_min") else ""
        flag = ""
        if hot == 1 and workers >= 8 and to_atomic < 1.0:
            flag = "  < 1.0x atomic"
        if hot == 10 and workers >= 32 and to_pessimistic < 2.0:
            flag += "  < 2x pessimistic"
        if flag:
            short.append(key)
        print(f"{backend:<9} {think:>5} {hot:>3} {workers:>7} {g['combined']:>9.0f} {g['atomic']:>9.0f} "
              f"{g['pessimistic']:>11.0f} {to_atomic:>8.2f} {to_pessimistic:>13.2f}  {latency}  {spread}{flag}")
    print(f"\ncombining short of its targets at {len(short)} points:",
          ", ".join(f"{b}/{h} rows/{w} workers" for b, t, h, w in short) or "none")

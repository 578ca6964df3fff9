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

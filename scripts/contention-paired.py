#!/usr/bin/env python3
"""Judges a strategy against the better of optimistic and pessimistic locking round by round,
from the per-round CSV of `deposit --sweep .. --rounds-csv FILE`, and the A/A control beside it.

Every strategy of a point runs once in each round (the order rotated), so a round's ratio
compares runs made under the same conditions. Per point: the better of optimistic and
pessimistic by median goodput, the strategy's goodput over it in each round (median, min, max),
and a sign test of "the median ratio is at least the target": a point is a miss shown by the
data when so many rounds fall below the target that a strategy truly at the target would do
that less than 5% of the time. The A/A control (`optimistic-control` over `optimistic`, the
same code run twice) is judged by the same test: it shows how often noise alone would pass for
a miss. Usage: scripts/contention-paired.py ROUNDS.csv[,ROUNDS.csv..] [strategy, default adaptive]
[target, default 0.95]; several files (comma-separated, sweeps of the same build) are pooled,
each one's rounds kept apart."""
import csv
import sys
from collections import defaultdict
from math import comb
from statistics import median

paths = sys.argv[1].split(",")
strategy = sys.argv[2] if len(sys.argv) > 2 else "adaptive"
target = float(sys.argv[3]) if len(sys.argv) > 3 else 0.95

points = defaultdict(lambda: defaultdict(dict))
for sweep, path in enumerate(paths):
    for row in csv.DictReader(open(path)):
        key = (row["backend"], int(row["think_ms"]), int(row["hot_rows"]), int(row["workers"]))
        points[key][row["strategy"]][(sweep, int(row["round"]))] = float(row["goodput_per_s"])


def below_p(below, n):
    """The chance of `below` or more of `n` rounds under the target when the median is on it."""
    return sum(comb(n, k) for k in range(below, n + 1)) / 2 ** n


def judge(ratios):
    below = sum(ratio < target for ratio in ratios)
    shown_below = below_p(below, len(ratios)) < 0.05
    shown_above = below_p(len(ratios) - below, len(ratios)) < 0.05
    verdict = "miss" if shown_below else ("met" if shown_above else "unsure")
    return median(ratios), min(ratios), max(ratios), below, verdict


print(f"{strategy} over the better of optimistic and pessimistic, round by round (target {target})")
print("backend   think hot workers  better       ratio [min, max]       below  verdict   "
      "A/A [min, max]          below  verdict")
tally = defaultdict(list)
control_tally = defaultdict(list)
for key in sorted(points):
    s = points[key]
    if not all(name in s for name in ("optimistic", "pessimistic", strategy)):
        continue
    rounds = sorted(set(s["optimistic"]) & set(s["pessimistic"]) & set(s[strategy]))
    better = max(("optimistic", "pessimistic"), key=lambda n: median(s[n][r] for r in rounds))
    m, lo, hi, below, verdict = judge([s[strategy][r] / s[better][r] for r in rounds])
    tally[verdict].append(key)
    line = (f"{key[0]:<9} {key[1]:>5} {key[2]:>3} {key[3]:>7}  {better:<12} {m:.3f} [{lo:.3f}, {hi:.3f}]"
            f"  {below:>2}/{len(rounds):<2}  {verdict:<8}")
    if "optimistic-control" in s:
        shared = [r for r in rounds if r in s["optimistic-control"]]
        cm, clo, chi, cbelow, cverdict = judge(
            [s["optimistic-control"][r] / s["optimistic"][r] for r in shared])
        control_tally[cverdict].append(key)
        line += f"  {cm:.3f} [{clo:.3f}, {chi:.3f}]  {cbelow:>2}/{len(shared):<2}  {cverdict}"
    print(line)

name = lambda key: f"{key[0]}/{key[2]} rows/{key[3]} workers"
print(f"\n{strategy}: {len(tally['met'])} met, {len(tally['unsure'])} unsure, {len(tally['miss'])} missed "
      f"(shown below {target}): " + (", ".join(map(name, tally["miss"])) or "none"))
if control_tally:
    print(f"A/A control: {len(control_tally['met'])} met, {len(control_tally['unsure'])} unsure, "
          f"{len(control_tally['miss'])} missed: " + (", ".join(map(name, control_tally["miss"])) or "none"))

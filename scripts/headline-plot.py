#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Plot the targeted benchmark ratios of every tree and arch against their targets.

Usage: headline-plot.py [--png FILE] [--all] [--dpi N] [REPORT.md]...

Each REPORT is a bench-report.py markdown report named
bench-<tree>-<arch>.md (default: results/bench-{6.12,7.3}-{x86_64,arm64}.md).
Its first "### Ratios" table gives, per ratio, the target (">= 3"), the
median ("measured"), the per-repetition range ("min..max") and the status
("met", "missed"). The figure (default results/headline.png) shows, for the
ratios the README headlines (--all: every ratio that has a target),
measured / target per tree and arch as grouped bars on a log axis: 1.0 is
the target, bigger is better; a light, hatched bar missed its target. A
ratio missing from a report is left out for that tree and arch; rows that do
not parse are reported on standard error.
"""

import argparse
import importlib.util
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The ratios of the README's "Headline results" table, in its order.
HEADLINE = ["P2[mmap]", "P2p99[mmap]", "P4", "P3", "P3w", "P3pfn", "P3pfnw"]

DEFAULT_REPORTS = ["results/bench-%s-%s.md" % (tree, arch)
                   for arch in ("x86_64", "arm64") for tree in ("6.12", "7.3")]

SERIES_COLORS = ["C0", "C1", "C2", "C4", "C5", "C6", "C8", "C9"]

NUM = r"[0-9]+(?:\.[0-9]+)?"


def warn(msg):
    print("headline-plot: " + msg, file=sys.stderr)


def series_label(path):
    m = re.match(r"bench-(.+)-([^-]+)\.md$", os.path.basename(path))
    if m:
        return "%s %s" % (m.group(1), m.group(2))
    return os.path.basename(path)


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_report(path):
    """The first ratio table of a report: {name: dict(target, value, lo, hi, status)}."""
    ratios = {}
    with open(path) as f:
        lines = f.read().splitlines()
    head = None
    for i, line in enumerate(lines):
        if line.startswith("|") and "ratio" in cells(line) and "measured" in cells(line):
            head = i
            break
    if head is None:
        warn("%s: no ratio table" % path)
        return ratios
    cols = {name: n for n, name in enumerate(cells(lines[head]))}
    for need in ("ratio", "target", "measured"):
        if need not in cols:
            warn("%s: ratio table has no %r column" % (path, need))
            return ratios
    for lineno, line in enumerate(lines[head + 2:], head + 3):
        if not line.startswith("|"):
            break
        row = cells(line)
        if len(row) != len(cols):
            warn("%s:%d: %d cells, expected %d: %s" % (path, lineno, len(row), len(cols), line))
            continue
        name, target = row[cols["ratio"]], row[cols["target"]]
        if target in ("-", ""):
            continue        # informational ratio: no target
        mt = re.fullmatch(r">=\s*(" + NUM + ")", target)
        mv = re.fullmatch(NUM, row[cols["measured"]])
        if not mt or not mv:
            warn("%s:%d: %s: target %r / measured %r do not parse"
                 % (path, lineno, name, target, row[cols["measured"]]))
            continue
        r = {"target": float(mt.group(1)), "value": float(mv.group(0)),
             "lo": None, "hi": None, "status": None}
        if "per-rep range" in cols:
            rng = row[cols["per-rep range"]]
            mr = re.fullmatch("(" + NUM + r")\.\.(" + NUM + ")", rng)
            if mr:
                r["lo"], r["hi"] = float(mr.group(1)), float(mr.group(2))
            elif rng not in ("-", ""):
                warn("%s:%d: %s: per-rep range %r does not parse" % (path, lineno, name, rng))
        computed = "met" if r["value"] >= r["target"] else "missed"
        if "status" in cols:
            status = row[cols["status"]]
            if status in ("met", "missed"):
                r["status"] = status
                if status != computed:
                    warn("%s:%d: %s: status %s but %.2f vs target %g (a rounded median?); using %s"
                         % (path, lineno, name, status, r["value"], r["target"], status))
            else:
                warn("%s:%d: %s: status %r (not met/missed)" % (path, lineno, name, status))
        if r["status"] is None:
            r["status"] = computed
        if name in ratios:
            warn("%s:%d: %s: a second row; the first is used" % (path, lineno, name))
            continue
        ratios[name] = r
    return ratios


def import_pyplot():
    """bench-report.py's: the same matplotlib lookup (and re-exec) for both plots."""
    spec = importlib.util.spec_from_file_location(
        "bench_report", os.path.join(ROOT, "scripts", "bench-report.py"))
    bench_report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_report)
    return bench_report.import_pyplot()


def series_colors(labels):
    """The default reports keep their colors whichever of them are given."""
    known = [series_label(p) for p in DEFAULT_REPORTS]
    free = [c for c in SERIES_COLORS[len(known):]]
    out = []
    for label in labels:
        if label in known:
            out.append(SERIES_COLORS[known.index(label)])
        else:
            out.append(free[len(out) % len(free)])
    return out


def fmt_target(t):
    return ">= %g" % t


def plot(plt, labels, data, names, path, dpi):
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    from matplotlib.colors import to_rgba

    nser = len(labels)
    colors = series_colors(labels)
    width = 0.8 / nser
    fig, ax = plt.subplots(figsize=(12, 6.6))
    ymin, ymax = 1.0, 1.0
    for g, name in enumerate(names):
        group_top, texts = 1.0, []
        for s, (label, ratios) in enumerate(zip(labels, data)):
            r = ratios.get(name)
            if r is None:
                continue
            color = colors[s]
            x = g + (s - (nser - 1) / 2) * width
            v = r["value"] / r["target"]
            if r["status"] == "met":
                ax.bar(x, v, width * 0.9, color=color, edgecolor=color, linewidth=1.2, zorder=2)
            else:
                ax.bar(x, v, width * 0.9, color=to_rgba(color, 0.25), edgecolor=color,
                       linewidth=1.2, hatch="///", zorder=2)
            group_top = max(group_top, v)
            ymin = min(ymin, v)
            if r["lo"] is not None:
                lo, hi = r["lo"] / r["target"], r["hi"] / r["target"]
                cap = width * 0.18
                ax.plot([x, x], [lo, hi], color="0.15", linewidth=1.1, zorder=3)
                for y in (lo, hi):
                    ax.plot([x - cap, x + cap], [y, y], color="0.15", linewidth=1.1, zorder=3)
                group_top = max(group_top, hi)
                ymin = min(ymin, lo)
            texts.append((x, r["value"]))
        # The measured ratios of the group in one row above its bars and
        # whiskers (and the target line), each over its own bar.
        row = group_top * 1.08
        for x, value in texts:
            ax.annotate("%.2f" % value, (x, row), ha="center", va="bottom",
                        rotation=90, fontsize=9.5, zorder=4)
        ymax = max(ymax, row)

    ax.set_yscale("log")
    lo_lim = ymin / 1.5
    hi_lim = ymax * 1.8         # room for the value labels
    ax.set_ylim(lo_lim, hi_lim)
    ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if lo_lim <= t <= hi_lim]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda t, _: "%g" % t))
    ax.grid(axis="y", color="0.88", zorder=0)
    ax.axhline(1.0, color="black", linewidth=1.6, linestyle="--", zorder=3)
    ax.text(len(names) - 0.5, 1.0, " target", va="center", ha="left", fontsize=11,
            fontweight="bold", clip_on=False)
    ax.set_xlim(-0.5, len(names) - 0.5)

    targets = []
    for name in names:
        t = {r[name]["target"] for r in data if name in r}
        targets.append(" / ".join(fmt_target(x) for x in sorted(t)))
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(["%s\n%s" % (n, t) for n, t in zip(names, targets)], fontsize=11)
    for g in range(1, len(names)):
        ax.axvline(g - 0.5, color="0.8", linewidth=0.8, zorder=1)
    ax.tick_params(axis="y", labelsize=10)
    ax.set_ylabel("measured ratio / target (log scale)", fontsize=11)
    ax.set_title("Targeted benchmark ratios: measured / target, per tree and arch\n"
                 "1.0 = target met; bigger is better", fontsize=13)

    handles = [Patch(facecolor=c, edgecolor=c, label=label) for c, label in zip(colors, labels)]
    handles += [Patch(facecolor="0.45", edgecolor="0.45", label="target met"),
                Patch(facecolor=(0.45, 0.45, 0.45, 0.25), edgecolor="0.45", hatch="///",
                      label="target missed")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13),
              ncol=len(handles), fontsize=10, frameon=False)
    fig.text(0.5, 0.015, "Bars: median over the repetitions; whiskers: per-repetition "
             "min..max; numbers: the measured ratio (not divided by its target).",
             ha="center", fontsize=9.5, color="0.3")
    fig.tight_layout(rect=(0, 0.03, 0.97, 1))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="*", metavar="REPORT.md",
                    help="bench-<tree>-<arch>.md reports (default: the four in results/)")
    ap.add_argument("--png", default=os.path.join(ROOT, "results", "headline.png"),
                    help="output (default: results/headline.png)")
    ap.add_argument("--all", action="store_true",
                    help="every ratio with a target, not only the README's headline ones")
    ap.add_argument("--dpi", type=int, default=100, help="12 inches wide at this dpi (100)")
    args = ap.parse_args()
    plt = import_pyplot()   # first: it may re-execute under /usr/bin/python3

    paths = args.reports or [os.path.join(ROOT, p) for p in DEFAULT_REPORTS]
    labels, data = [], []
    for path in paths:
        if not os.path.exists(path):
            warn("%s: missing, skipped" % path)
            continue
        labels.append(series_label(path))
        data.append(parse_report(path))
    if not data:
        warn("no report to plot")
        return 1

    if args.all:
        names = []
        for ratios in data:
            names += [n for n in ratios if n not in names]
    else:
        names = HEADLINE
    for name in names:
        for label, ratios in zip(labels, data):
            if name not in ratios:
                warn("%s: no %s, skipped" % (label, name))
    names = [n for n in names if any(n in r for r in data)]
    if not names:
        warn("no targeted ratio found")
        return 1

    print("%-14s %-8s" % ("ratio", "target") + "".join(" %-20s" % l for l in labels))
    for name in names:
        t = next(r[name]["target"] for r in data if name in r)
        row = "%-14s %-8s" % (name, fmt_target(t))
        for ratios in data:
            r = ratios.get(name)
            if r is None:
                row += " %-20s" % "-"
                continue
            cell = "%.2f" % r["value"]
            if r["lo"] is not None:
                cell += " (%.2f..%.2f)" % (r["lo"], r["hi"])
            row += " %-20s" % (cell + ("" if r["status"] == "met" else " x"))
        print(row)
    print("(x: target missed)")

    plot(plt, labels, data, names, args.png, args.dpi)
    print("wrote " + args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

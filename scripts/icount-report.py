#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Instructions per operation, Rust against C, from a vmalock_icount run.

Reads <dir>/out.txt (vmalock_icount's lines, one per batch) and
<dir>/plugin.txt (scripts/icount-plugin.c's counts, one per batch, in the
same order), checks that they pair up, and prints per path the guest
kernel instructions per operation of each device (median over pairs of
consecutive batches, with the range of the batches), the Rust/C ratio of
the medians (smaller is cheaper for Rust; the target is <= 1.02, where both
devices took the same lock) and the user instructions per operation.
Writes the rows as JSON with --json and as a markdown table with
--markdown.
"""

import argparse
import json
import os
import statistics
import sys

TARGET = 1.02


def load(d):
    batches = []
    for ln in open(os.path.join(d, "out.txt"), errors="replace"):
        f = ln.split()
        if f and f[0] in ("batch", "warmup") and len(f) == 6:
            batches.append({"id": int(f[1]), "dev": f[2], "path": f[3], "ops": int(f[4]),
                            "lock": f[5], "warmup": f[0] == "warmup"})
    counts = []
    for ln in open(os.path.join(d, "plugin.txt")):
        f = ln.split()
        if len(f) == 3 and f[0] != "total":
            counts.append((int(f[0]), int(f[1]), int(f[2])))
    if not batches:
        raise ValueError("no batch lines in out.txt: vmalock_icount did not run")
    if len(batches) != len(counts):
        raise ValueError("%d batches but %d plugin counts" % (len(batches), len(counts)))
    for b, (mid, k, u) in zip(batches, counts):
        if mid != b["id"]:
            raise ValueError("marker %d where %s %s expects %d" % (mid, b["dev"], b["path"], b["id"]))
        b["kernel"] = k / b["ops"]
        b["user"] = u / b["ops"]
    return [b for b in batches if not b["warmup"]]


def summarize(batches):
    cases = {}
    for b in batches:
        cases.setdefault((b["path"], b["dev"]), []).append(b)
    rows = []
    paths = list(dict.fromkeys(b["path"] for b in batches))
    for path in paths:
        row = {"path": path}
        for dev in ("rust", "c"):
            bs = cases.get((path, dev), [])
            if not bs:
                continue
            k = [b["kernel"] for b in bs]
            # DROP alternates between two counts batch by batch: the median is taken over
            # the means of consecutive pairs of batches, which is that of one batch elsewhere.
            pairs = [(k[i] + k[i + 1]) / 2 for i in range(0, len(k) - 1, 2)] or k
            med = statistics.median(pairs)
            row[dev] = {
                "kernel": med, "min": min(k), "max": max(k),
                # how many pairs lie within 0.5% of the median
                "stable": sum(abs(x - med) <= 0.005 * med for x in pairs) / len(pairs),
                "user": statistics.median(b["user"] for b in bs),
                "lock": "/".join(sorted({b["lock"] for b in bs})),
                "batches": len(bs), "ops": bs[0]["ops"],
            }
        if "rust" in row and "c" in row:
            row["ratio"] = row["rust"]["kernel"] / row["c"]["kernel"]
            # Only the same work compares: on 6.12 the C twin cannot take the per-VMA lock.
            row["same_lock"] = row["rust"]["lock"] == row["c"]["lock"]
            row["ok"] = row["ratio"] <= TARGET if row["same_lock"] else None
        rows.append(row)
    return rows


HEAD = ["path", "Rust insns/op", "C insns/op", "Rust/C", "lock Rust/C", "pairs in 0.5%", "user/op"]


def table_rows(rows):
    out = []
    for r in rows:
        ru, c = r.get("rust"), r.get("c")

        def cell(x):
            return "%.0f (%.0f..%.0f)" % (x["kernel"], x["min"], x["max"]) if x else "-"

        ratio = "%.3f" % r["ratio"] if "ratio" in r else "-"
        if "ratio" in r and not r["same_lock"]:
            ratio += " (other lock)"
        out.append([r["path"], cell(ru), cell(c), ratio,
                    "%s/%s" % (ru["lock"] if ru else "-", c["lock"] if c else "-"),
                    "%.0f%%/%.0f%%" % (100 * ru["stable"], 100 * c["stable"]) if ru and c else "-",
                    "%.0f/%.0f" % (ru["user"], c["user"]) if ru and c else "-"])
    return out


def text_table(rows):
    widths = [max(len(str(x)) for x in col) for col in zip(HEAD, *rows)]
    return "".join("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() + "\n"
                   for r in [HEAD] + rows)


def md_table(rows):
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="the icount run's directory (out.txt, plugin.txt)")
    ap.add_argument("--json", metavar="FILE", help="write the rows as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="write a markdown table")
    args = ap.parse_args()
    try:
        rows = summarize(load(args.dir))
    except (OSError, ValueError) as e:
        print("icount-report: %s: %s" % (args.dir, e), file=sys.stderr)
        return 1
    t = table_rows(rows)
    sys.stdout.write(text_table(t))
    note = ("Guest kernel instructions per operation under QEMU TCG, one vCPU: median over "
            "pairs of consecutive batches (the range of the batches); share of pairs within 0.5%%; Rust/C of the medians, target <= %.2f where both "
            "take the same lock.\n" % TARGET)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n## Instructions per operation\n\n" + note + "\n" + md_table(t))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"target": TARGET, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

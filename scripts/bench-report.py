#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn vmalock_bench JSON into a ratio table (text, markdown) and a plot.

Usage: bench-report.py [--markdown FILE] [--png FILE] [--threads N]
                       [--profile PROFILE]... INPUT...

Each INPUT is the JSON that vmalock_bench wrote with -o, or a console log
(or the program's stdout) that holds it between the lines BENCH-JSON-BEGIN
and BENCH-JSON-END; '-' reads standard input. Several inputs (one per
architecture, say) give one section each.

Ratios are computed from the medians over the repetitions, at the largest
thread count both cases ran with (or --threads). Every ratio is oriented so
that bigger is better; its target is reported, not asserted: the exit status
is 0 unless an input cannot be read. A ratio whose cases did not take the
lock their mode promises (from the device counters) is marked INVALID.

A PROFILE is the same benchmark run on the profile kernel (CONFIG_LOCK_STAT,
make bench builds it): the i-th profile goes with the i-th input, and its
lock waits, VMA-lock failures and TLB flushes per case are reported next to
the timed run's figures, to attribute what the ratios miss.
"""

import argparse
import json
import os
import re
import statistics
import sys

# (key, description, numerator case, denominator case, metric, target[, threads])
# A case is (op, target, mode, writer); metric is a sample field. Writer:
# "alone", W1 (the run's first writer, which runs against every case) or W
# (a row per writer the run had, "P1[mmap]"; the target only holds for the
# writer that changes no page table, TARGET_WRITER). Threads: by default
# the largest count both cases ran with; "spare": the largest below the
# number of CPUs, so that the writer has a CPU of its own (else scheduler
# time slices, not locks, make the p99 of a thread that never blocks), and
# none if there is none; "spare-or-max": spare, else the largest.
W, W1 = "<each writer>", "<first writer>"
TARGET_WRITER = "mmap"
RATIOS = [
    ("P1", "per-VMA under writer / per-VMA alone (rust, faults/s)",
     ("fault", "rust", "default", W), ("fault", "rust", "default", "alone"),
     "ops_per_s", 0.9),
    ("P1cpu", "the same per CPU-second of the faulting threads",
     ("fault", "rust", "default", W), ("fault", "rust", "default", "alone"),
     "ops_per_cpu_s", None),
    ("P1spare", "P1 with a CPU left for the writer (threads < CPUs)",
     ("fault", "rust", "default", W), ("fault", "rust", "default", "alone"),
     "ops_per_s", 0.95, "spare"),
    ("P2", "per-VMA / mmap-lock under writer (rust, faults/s)",
     ("fault", "rust", "default", W), ("fault", "rust", "force_mmap", W),
     "ops_per_s", 3.0, "spare-or-max"),
    ("P2p99", "p99 latency under writer: mmap-lock / per-VMA (rust)",
     ("fault", "rust", "force_mmap", W), ("fault", "rust", "default", W),
     "p99_ns", 10.0, "spare-or-max"),
    ("P2alone", "per-VMA / mmap-lock alone (rust, faults/s)",
     ("fault", "rust", "default", "alone"), ("fault", "rust", "force_mmap", "alone"),
     "ops_per_s", None, "spare-or-max"),
    ("P3", "Rust / C, default mode, alone (faults/s)",
     ("fault", "rust", "default", "alone"), ("fault", "c", "default", "alone"),
     "ops_per_s", 0.98),
    ("P3w", "Rust / C, default mode, under writer (faults/s)",
     ("fault", "rust", "default", W1), ("fault", "c", "default", W1),
     "ops_per_s", 0.98),
    ("P3pfn", "Rust / C, PFN view (VM_PFNMAP), alone (faults/s)",
     ("fault_pfn", "rust", "default", "alone"), ("fault_pfn", "c", "default", "alone"),
     "ops_per_s", 0.98),
    ("P3pfnw", "Rust / C, PFN view (VM_PFNMAP), under writer (faults/s)",
     ("fault_pfn", "rust", "default", W1), ("fault_pfn", "c", "default", W1),
     "ops_per_s", 0.98),
    ("P4", "LOOKUP per-VMA / mmap-lock under writer (rust, lookups/s)",
     ("lookup", "rust", "default", W1), ("lookup", "rust", "force_mmap", W1),
     "ops_per_s", 3.0, "spare-or-max"),
    ("P4alone", "LOOKUP per-VMA / mmap-lock alone (rust, lookups/s)",
     ("lookup", "rust", "default", "alone"), ("lookup", "rust", "force_mmap", "alone"),
     "ops_per_s", None, "spare-or-max"),
    ("REF", "rust device faults / anonymous faults, alone (faults/s)",
     ("fault", "rust", "default", "alone"), ("fault", "anon", "kernel", "alone"),
     "ops_per_s", None),
]


def writers(run):
    """The run's writers, first one first."""
    return run.data.get("config", {}).get("writers") or []


def expand_ratios(run):
    """RATIOS with W and W1 replaced by the run's writers."""
    ws = writers(run)
    out = []
    for key, what, num, den, metric, target, *pick in RATIOS:
        if W in (num[3], den[3]):
            for w in ws:
                out.append(("%s[%s]" % (key, w), what.replace("writer", w + " writer", 1),
                            num[:3] + (w if num[3] == W else num[3],),
                            den[:3] + (w if den[3] == W else den[3],),
                            metric, target if w == TARGET_WRITER else None, *pick))
        else:
            w1 = ws[0] if ws else None
            out.append((key, what, num[:3] + (w1 if num[3] == W1 else num[3],),
                        den[:3] + (w1 if den[3] == W1 else den[3],), metric, target, *pick))
    return out


MARK_BEGIN = "BENCH-JSON-BEGIN"
MARK_END = "BENCH-JSON-END"
PRINTK = re.compile(r"^\s*\[\s*\d+\.\d+\]")


def load(path):
    """The JSON object of one input, from a JSON file or a log with markers."""
    text = sys.stdin.read() if path == "-" else open(path, errors="replace").read()
    text = text.replace("\r", "")
    if MARK_BEGIN not in text:
        return json.loads(text)
    body = text.split(MARK_BEGIN, 1)[1].split(MARK_END, 1)[0]
    # Kernel messages on a serial console come as whole lines: drop them.
    lines = [ln for ln in body.split("\n") if not PRINTK.match(ln)]
    return json.loads("\n".join(lines))


class Run:
    """One input: its cases and samples, indexed for lookups."""

    def __init__(self, name, data):
        self.name = name
        self.data = data
        self.cases = {c["id"]: c for c in data["cases"]}
        self.samples = {}
        for s in data["samples"]:
            if s.get("ok"):
                self.samples.setdefault(s["case"], []).append(s)
        sysinfo = data.get("system", {})
        self.label = "%s (%s)" % (sysinfo.get("machine", "?"), name)

    def case_id(self, key, threads):
        op, target, mode, writer = key
        want = (op, target, mode, writer, threads)
        for c in self.data["cases"]:
            if (c["op"], c["target"], c["mode"], c["writer"], c["threads"]) == want:
                return c["id"]
        return None

    def values(self, cid, metric):
        """{rep: value} of a metric over the successful samples of a case."""
        out = {}
        for s in self.samples.get(cid, []):
            v = s["lat"][metric] if metric.endswith("_ns") else s.get(metric)
            if v is not None:
                out[s["rep"]] = v
        return out

    def median(self, cid, metric):
        v = list(self.values(cid, metric).values())
        return statistics.median(v) if v else None

    def path(self, cid):
        """ok, WRONG or unknown: did every sample take the lock the case expects?"""
        case = self.cases[cid]
        fr = [s.get("vma_frac", -1) for s in self.samples.get(cid, [])]
        if not fr or min(fr) < 0:
            return "unknown"
        if case["expect"] == "vma":
            return "ok" if min(fr) >= 0.99 else "WRONG"
        if case["expect"] == "mmap":
            return "ok" if max(fr) <= 0.01 else "WRONG"
        return "ok"

    def thread_counts(self):
        return sorted({c["threads"] for c in self.data["cases"]})


def ratio_rows(run, threads=None):
    rows = []
    cpus = run.data.get("system", {}).get("cpus") or 1
    # A clock that moves in ticks cannot time a fault.
    coarse = (run.data.get("system", {}).get("clock_step_ns") or 0) > 1000
    for key, what, num, den, metric, target, *pick in expand_ratios(run):
        row = {"key": key, "what": what, "metric": metric, "target": target,
               "threads": None, "value": None, "lo": None, "hi": None,
               "status": "n/a", "cases": None}
        counts = run.thread_counts()[::-1]
        spare = [t for t in counts if t < cpus]
        if threads:
            counts = [threads]
        elif pick == ["spare"]:
            counts = spare
        elif pick == ["spare-or-max"] and spare:
            counts = spare
        for t in counts:
            a, b = run.case_id(num, t), run.case_id(den, t)
            if a and b and run.samples.get(a) and run.samples.get(b):
                break
        else:
            missing = [k for k in (num, den) if k[1] == "c"]
            row["status"] = "n/a (no C twin)" if missing else "n/a (not run)"
            rows.append(row)
            continue
        row["threads"] = t
        row["cases"] = (a, b)
        ma, mb = run.median(a, metric), run.median(b, metric)
        va, vb = run.values(a, metric), run.values(b, metric)
        paired = [va[r] / vb[r] for r in va if r in vb and vb[r]]
        if paired:
            row["lo"], row["hi"] = min(paired), max(paired)
        if ma is None or not mb:
            row["status"] = "n/a (no data)"
            rows.append(row)
            continue
        row["value"] = ma / mb
        paths = {run.path(a), run.path(b)}
        if "WRONG" in paths:
            row["status"] = "INVALID (lock path)"
        elif coarse and metric.endswith("_ns"):
            row["status"] = "INVALID (coarse clock)"
        elif target is None:
            row["status"] = "info"
        else:
            row["status"] = "met" if row["value"] >= target else "missed"
        if "unknown" in paths and row["status"] in ("met", "missed"):
            row["status"] += " (path unverified)"
        rows.append(row)
    return rows


def per(n, d, scale=1.0):
    return n * scale / d if d else None


def profile_rows(run):
    """Per case of a profile run: lock waits, VMA-lock failures, TLB flushes and
    the interrupts of the faulting threads' CPUs."""
    rows = []
    for c in run.data["cases"]:
        ss = run.samples.get(c["id"], [])
        if not ss:
            continue
        vals = {k: [] for k in ("mr", "mrus", "mw", "mwus", "mwh", "vl", "vlus", "fail",
                                "tlb", "irq", "sirq")}
        rowsum = {}
        for s in ss:
            ls = {r["class"]: r for r in s.get("lock_stat") or []}
            rd = ls.get("&mm->mmap_lock-R", {})
            wr = ls.get("&mm->mmap_lock-W") or ls.get("&mm->mmap_lock", {})
            vl = [r for k, r in ls.items() if "vm_lock" in k]
            ops, wops = s["ops"], s.get("writer_ops") or 0
            if s.get("lock_stat") is not None:
                vals["mr"].append(per(rd.get("contentions", 0), ops, 1000))
                vals["mrus"].append(per(rd.get("wait_us", 0), ops))
                vals["mw"].append(per(wr.get("contentions", 0), wops))
                vals["mwus"].append(per(wr.get("wait_us", 0), wops))
                vals["mwh"].append(per(wr.get("hold_us", 0), wr.get("acquisitions", 0)))
                vals["vl"].append(per(sum(r["contentions"] for r in vl), ops, 1000))
                vals["vlus"].append(per(sum(r["wait_us"] for r in vl), ops))
            vm = s.get("vmstat")
            if vm:
                tot = sum(vm.values())
                vals["fail"].append(per(tot - vm["vma_lock_success"], tot, 1000))
            if s.get("tlb") and wops:
                vals["tlb"].append(per(s["tlb"]["nr_tlb_remote_flush"], wops))
            for k, key in (("irq", "irqs"), ("sirq", "softirqs")):
                if s.get(key) is not None and ops:
                    vals[k].append(per(sum(s[key].values()), ops, 1000))
                    for name, n in s[key].items():
                        rowsum[name] = rowsum.get(name, 0) + n * 1000 / ops / len(ss)

        def med(k, prec=2):
            v = [x for x in vals[k] if x is not None]
            return ("%%.%df" % prec) % statistics.median(v) if v else "-"
        top = sorted(rowsum.items(), key=lambda kv: -kv[1])[:2]
        rows.append([c["id"], med("mr"), med("mrus", 3), med("mw"), med("mwus"), med("mwh"),
                     med("vl"), med("vlus", 3), med("fail"), med("tlb"), med("irq"), med("sirq"),
                     ", ".join("%s %.1f" % kv for kv in top if kv[1] >= 0.05) or "-"])
    return rows


PROFILE_HEAD = ["case (profile kernel)", "mmap_lock read waits/1000 ops",
                "read wait us/op", "mmap_lock write waits/writer op",
                "write wait us/writer op", "write hold us", "VMA-lock waits/1000 ops", "VMA-lock wait us/op",
                "VMA-lock fails/1000 (vmstat)", "remote TLB flushes/writer op",
                "faulting CPUs' IRQs/1000 ops", "their softirqs/1000 ops", "top rows/1000 ops"]
PROFILE_NOTE = ("Profile: the same cases on the profile kernel (CONFIG_LOCK_STAT, "
                "/proc/lock_stat cleared before each sample): how often and how long "
                "the mmap lock (read side: faults, DROP, LOOKUP; write side: the "
                "writer) and the VMA locks were waited for, the faults' failed "
                "per-VMA lock attempts, and the TLB flushes each writer operation "
                "sent to other CPUs (x86 only; every remote flush of the sample counts, "
                "the faulting threads' own DROP flushes too, which become remote once "
                "the writer's CPU runs the process), and the interrupts and softirqs the "
                "faulting threads' CPUs took (/proc/interrupts, /proc/softirqs; the "
                "top rows of both: IPIn are arm64's IPIs, an IRQ number comes with its "
                "name). A forced fault fails its per-VMA "
                "attempt by design: 1000 fails per 1000 attempts on x86_64, 500 on "
                "arm64, where every touch takes two kernel faults and the second one "
                "succeeds under the VMA lock without reaching the driver (the default "
                "mode counts two vma_lock_success per driver fault). Lockdep slows "
                "every lock operation: the profile counts, the timed run measures.")


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


def fmt_target(t):
    return "-" if t is None else ">= %g" % t


def fmt_range(row):
    if row["lo"] is None:
        return "-"
    return "%.2f..%.2f" % (row["lo"], row["hi"])


def fmt_mmm(vals, scale=1.0, prec=0):
    if not vals:
        return "-"
    v = [x / scale for x in vals]
    f = "%%.%df" % prec
    return (f + " [" + f + ".." + f + "]") % (statistics.median(v), min(v), max(v))


def case_rows(run):
    rows = []
    for c in run.data["cases"]:
        cid = c["id"]
        ss = run.samples.get(cid, [])
        ops = [s["ops_per_s"] for s in ss]
        cpu = [s["ops_per_cpu_s"] for s in ss]
        lat = {m: [s["lat"][m] for s in ss] for m in ("p50_ns", "p99_ns", "p999_ns")}
        fr = [s.get("vma_frac", -1) for s in ss]
        fpo = "-"
        if c["op"] in ("fault", "fault_pfn") and c["target"] != "anon":
            tot = [(s["stats"]["faults_vma"] + s["stats"]["faults_mmap"]) / s["ops"]
                   for s in ss if s.get("stats") and s["ops"]]
            if tot:
                fpo = "%.2f" % statistics.median(tot)
        # Which lock the re-fault step (DROP) took, over all repetitions.
        drops = [(s["stats"].get("drops_vma", 0), s["stats"].get("drops_mmap", 0))
                 for s in ss if s.get("stats")]
        ndrops = sum(v + m for v, m in drops)
        dvma = "%.1f" % (100 * sum(v for v, _ in drops) / ndrops) if ndrops else "-"
        # The writer's rate and the TLB flushes it asked of other CPUs (x86
        # with CONFIG_DEBUG_TLBFLUSH counts them).
        wops, tlb = "-", "-"
        if c["writer"] != "alone" and ss:
            wops = "%.0f" % statistics.median(s["writer_ops"] / s["wall_s"] for s in ss)
            fl = [s["tlb"]["nr_tlb_remote_flush"] / s["writer_ops"]
                  for s in ss if s.get("tlb") and s["writer_ops"]]
            if fl:
                tlb = "%.2f" % statistics.median(fl)
        rows.append([
            cid,
            fmt_mmm(ops),
            "%.0f" % statistics.median(cpu) if cpu and max(cpu) > 0 else "-",
            "%.1f" % (statistics.median(lat["p50_ns"]) / 1e3) if ss else "-",
            "%.1f" % (statistics.median(lat["p99_ns"]) / 1e3) if ss else "-",
            "%.1f" % (statistics.median(lat["p999_ns"]) / 1e3) if ss else "-",
            "%.1f" % (100 * statistics.median(fr)) if fr and min(fr) >= 0 else "-",
            fpo,
            dvma,
            wops,
            tlb,
            run.path(cid) if ss else "failed: %s" % (c.get("error") or "?"),
        ])
    return rows


CASE_HEAD = ["case", "ops/s median [min..max]", "ops/CPU-s", "p50 us", "p99 us",
             "p99.9 us", "VMA-lock %", "faults/op", "drops VMA-lock %", "writer ops/s",
             "remote TLB flushes/writer op", "lock path"]
RATIO_HEAD = ["ratio", "what", "threads", "target", "measured", "per-rep range",
              "status"]


def ratio_table_rows(rows):
    return [[r["key"], r["what"], str(r["threads"] or "-"), fmt_target(r["target"]),
             fmt_ratio(r["value"]), fmt_range(r), r["status"]] for r in rows]


def text_table(head, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = []
    for i, r in enumerate([head] + rows):
        out.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(head, rows):
    esc = [[str(x).replace("|", "\\|") for x in r] for r in [head] + rows]
    out = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(out)


def header_lines(run):
    d = run.data
    s, c = d.get("system", {}), d.get("config", {})
    lines = [
        "%s: %s %s, %s CPUs, clocksource %s (step %s ns), CPU time from %s" % (
            run.name, s.get("machine"), s.get("release"), s.get("cpus"),
            s.get("clocksource"), s.get("clock_step_ns"), s.get("cpu_clock")),
        "%s reps x %s ms samples (warm-up %s ms), threads %s, %s pages/thread, "
        "writers %s, refault %s, timing 1 op in %s" % (
            c.get("reps"), c.get("sample_ms"), c.get("warmup_ms"),
            ",".join(str(t) for t in c.get("threads", [])), c.get("pages_per_thread"),
            ",".join(c.get("writers", [])), c.get("refault"), c.get("lat_every")),
    ]
    lines += ["note: %s" % n for n in d.get("notes", [])]
    return lines


DIRECTION = ("All ratios are medians over the repetitions, oriented so that "
             "bigger is better (P2p99 = p99 under the mmap lock / p99 under the "
             "per-VMA lock, so >= 10 means per-VMA p99 <= 1/10); per-rep range = "
             "the ratio within each repetition (runs interleaved), min..max. "
             "P1 and P3 use the largest thread count; P2 and P4 the largest below "
             "the number of CPUs if any, so that the writer has a CPU of its own. "
             "P1, P2 and P2p99 have a row per writer; their targets hold for the "
             "writer that changes no page table (mmap), P3w, P3pfnw and P4 use "
             "the first writer. The spin writer never enters the kernel: its rows "
             "are what a second busy CPU costs by itself (the host and the "
             "emulator), the control for every other writer's; mmap_other does "
             "mmap's work in another process, so what mmap costs beyond it comes "
             "from sharing the address space. Targets are reported, not asserted.")


def report_text(runs, all_rows, profiles):
    out = []
    for run, rows, prof in zip(runs, all_rows, profiles):
        out += header_lines(run)
        out += ["", text_table(RATIO_HEAD, ratio_table_rows(rows)), "",
                text_table(CASE_HEAD, case_rows(run)), ""]
        if prof:
            out += header_lines(prof)
            out += ["", text_table(PROFILE_HEAD, profile_rows(prof)), ""]
    out.append(DIRECTION)
    if any(profiles):
        out.append(PROFILE_NOTE)
    return "\n".join(out) + "\n"


def report_md(runs, all_rows, profiles):
    out = ["# vmalock fault-path benchmark", ""]
    for run, rows, prof in zip(runs, all_rows, profiles):
        out += ["## " + run.label, ""]
        out += ["- " + ln for ln in header_lines(run)]
        out += ["", "### Ratios", "", md_table(RATIO_HEAD, ratio_table_rows(rows)),
                "", "### Cases", "", md_table(CASE_HEAD, case_rows(run)), ""]
        if prof:
            out += ["### Profile", ""] + ["- " + ln for ln in header_lines(prof)]
            out += ["", md_table(PROFILE_HEAD, profile_rows(prof)), ""]
    out.append(DIRECTION)
    if any(profiles):
        out += ["", PROFILE_NOTE]
    return "\n".join(out) + "\n"


def import_pyplot():
    try:
        import matplotlib
    except ImportError:
        # Debian's python3-matplotlib is for /usr/bin/python3, which may not
        # be the python3 first in PATH (pyenv, venv).
        sysp = "/usr/bin/python3"
        if (os.path.exists(sysp) and os.path.realpath(sys.executable) != os.path.realpath(sysp)
                and not os.environ.get("BENCH_REPORT_REEXEC")):
            os.environ["BENCH_REPORT_REEXEC"] = "1"
            sys.stdout.flush()
            os.execv(sysp, [sysp] + sys.argv)
        raise
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


SERIES_STYLE = {
    ("fault", "rust", "default"): ("C0", "rust fault, per-VMA"),
    ("fault", "rust", "force_mmap"): ("C1", "rust fault, mmap lock"),
    ("fault", "c", "default"): ("C2", "C fault, per-VMA"),
    ("fault", "c", "force_mmap"): ("C5", "C fault, mmap lock"),
    ("lookup", "rust", "default"): ("C4", "rust LOOKUP, per-VMA"),
    ("lookup", "rust", "force_mmap"): ("C3", "rust LOOKUP, mmap lock"),
    ("fault", "anon", "kernel"): ("C7", "anon fault (kernel)"),
}


def plot(plt, runs, all_rows, path):
    n = len(runs)
    fig, axes = plt.subplots(n, 3, figsize=(18, 6.5 * n), squeeze=False)
    for row_axes, run, rows in zip(axes, runs, all_rows):
        ax_tp, ax_lat, ax_ratio = row_axes
        counts = run.thread_counts()
        tmax = counts[-1]
        # Throughput against threads, alone (solid) and under the writer (dashed).
        for key, (color, label) in SERIES_STYLE.items():
            for writer in ["alone"] + writers(run)[:1]:
                xs, ys, lo, hi = [], [], [], []
                for t in counts:
                    cid = run.case_id(key + (writer,), t)
                    v = list(run.values(cid, "ops_per_s").values()) if cid else []
                    if v:
                        m = statistics.median(v)
                        xs.append(t)
                        ys.append(m)
                        lo.append(m - min(v))
                        hi.append(max(v) - m)
                if xs:
                    ax_tp.errorbar(xs, ys, yerr=[lo, hi], color=color, capsize=3,
                                   marker="o", linestyle="-" if writer == "alone" else "--",
                                   label=label + ("" if writer == "alone" else " + " + writer))
        ax_tp.set_xlabel("threads")
        ax_tp.set_ylabel("operations/s (median, min..max)")
        ax_tp.set_xticks(counts)
        ax_tp.set_title("%s: throughput" % run.label)
        ax_tp.legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
        ax_tp.grid(alpha=0.3)

        # p50/p99/p99.9 at the largest thread count.
        names, p50, p99, p999 = [], [], [], []
        for key, (color, label) in SERIES_STYLE.items():
            for writer in ["alone"] + writers(run):
                cid = run.case_id(key + (writer,), tmax)
                if not cid or not run.samples.get(cid):
                    continue
                names.append(label + ("" if writer == "alone" else " + " + writer))
                p50.append(run.median(cid, "p50_ns") / 1e3)
                p99.append(run.median(cid, "p99_ns") / 1e3)
                p999.append(run.median(cid, "p999_ns") / 1e3)
        ys = list(range(len(names)))
        h = 0.27
        ax_lat.barh([y - h for y in ys], p50, h, label="p50", color="C0")
        ax_lat.barh(ys, p99, h, label="p99", color="C1")
        ax_lat.barh([y + h for y in ys], p999, h, label="p99.9", color="C3")
        ax_lat.set_yticks(ys)
        ax_lat.set_yticklabels(names, fontsize=7)
        ax_lat.invert_yaxis()
        ax_lat.set_xscale("log")
        ax_lat.set_xlabel("latency per operation, us (median of reps)")
        ax_lat.set_title("latency, %d thread%s" % (tmax, "s" if tmax > 1 else ""))
        ax_lat.legend(fontsize=7)
        ax_lat.grid(alpha=0.3, axis="x")

        # Ratios against their targets.
        shown = [r for r in rows if r["value"] is not None]
        xs = list(range(len(shown)))
        colors = []
        for r in shown:
            if r["status"].startswith("met"):
                colors.append("tab:green")
            elif r["status"].startswith("missed") or r["status"].startswith("INVALID"):
                colors.append("tab:red")
            else:
                colors.append("tab:gray")
        ax_ratio.bar(xs, [r["value"] for r in shown], color=colors)
        for x, r in zip(xs, shown):
            if r["lo"] is not None:
                ax_ratio.plot([x, x], [r["lo"], r["hi"]], color="black", lw=1)
            if r["target"] is not None:
                ax_ratio.plot([x - 0.4, x + 0.4], [r["target"]] * 2, color="black",
                              lw=2, linestyle=":")
        ax_ratio.axhline(1.0, color="gray", lw=0.8)
        ax_ratio.set_yscale("log")
        ax_ratio.set_xticks(xs)
        ax_ratio.set_xticklabels([r["key"] for r in shown], rotation=45, fontsize=8)
        ax_ratio.set_ylabel("ratio (bigger is better; dotted = target)")
        ax_ratio.set_title("ratios (green met, red missed/invalid, gray info)")
        ax_ratio.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="JSON file or console log, '-' for stdin")
    ap.add_argument("--markdown", "-m", metavar="FILE", help="write a markdown report")
    ap.add_argument("--png", "-p", metavar="FILE", help="write a plot")
    ap.add_argument("--ratios-json", metavar="FILE", help="write the ratio rows as JSON")
    ap.add_argument("--profile", action="append", default=[], metavar="FILE",
                    help="the profile kernel's run of the i-th input")
    ap.add_argument("--threads", "-t", type=int,
                    help="thread count of the ratios (default: the largest run)")
    args = ap.parse_args()
    # Before any output: this may re-execute the script under another python.
    plt = import_pyplot() if args.png else None

    runs, profiles = [], []
    for paths, out in ((args.inputs, runs), (args.profile, profiles)):
        for path in paths:
            try:
                data = load(path)
            except (OSError, ValueError, IndexError) as e:
                print("bench-report: %s: %s" % (path, e), file=sys.stderr)
                return 1
            out.append(Run(os.path.basename(path) if path != "-" else "stdin", data))
    profiles += [None] * (len(runs) - len(profiles))
    all_rows = [ratio_rows(r, args.threads) for r in runs]

    sys.stdout.write(report_text(runs, all_rows, profiles))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report_md(runs, all_rows, profiles))
    if args.ratios_json:
        with open(args.ratios_json, "w") as f:
            json.dump([{"input": r.name, "machine": r.data.get("system", {}).get("machine"),
                        "ratios": rows} for r, rows in zip(runs, all_rows)], f, indent=1)
    if args.png:
        plot(plt, runs, all_rows, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the course: explanation speed against lime and captum, and each lab's cost.

    .venv/bin/python -m benchmarks.run                 # everything, about 20 minutes on 2 cores
    .venv/bin/python -m benchmarks.run --only lime,ig  # just the explainers
    .venv/bin/python -m benchmarks.run --quick         # small sizes: a smoke run
    .venv/bin/python -m benchmarks.run --only realsize # the labs at the hub models' size (~20 min)

Prints markdown tables and writes them, with a figure, to --out (benchmarks/results/):
benchmarks.md/png for the embedded models (offline; the reference solutions are executed from
solutions/), realsize.md/png for full-size stand-ins of the hub models (benchmarks.realsize).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("COURSE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib  # noqa: E402  (the environment above must be set before course_utils loads)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from benchmarks.explainers import BATCH, Timing, ig_timings, lime_timings  # noqa: E402
from benchmarks.labs import PHASES, BatchRate, LabCost, batch_rate, lab_costs  # noqa: E402
from benchmarks.realsize import TARGET_MINUTES, TARGET_PEAK_GB, RealSizeCost, explainer_timings, realsize_costs  # noqa: E402
from course_admin import pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FULL = {"samples": [500, 5000], "lengths": [10, 30, 100, 300], "captum_default_max": 500}
QUICK = {"samples": [100], "lengths": [10, 30], "captum_default_max": 100}
# At real size a forward pass costs ~50x more: fewer, shorter cases (one N, captum's default once).
REALSIZE = {"samples": [500], "lengths": [30, 100], "captum_default_max": 100}
REFERENCE_LIME = "reference (Lab 1)"
TARGETS = {"lime_ratio": 1.3, "lab_seconds": 60, "autograde_ratio": 1.2, "sandbox_overhead": 0.10,
           "class_hours": 0.5, "selfgrade_seconds": 30}  # class_hours: 100 students × 4 labs with --jobs 2


def _cell(timing: Timing | None) -> str:
    return "—" if timing is None else f"{timing.seconds:.3f} s ({timing.ratio:.2f}×)"


def lime_table(rows: list[Timing]) -> str:
    methods = list(dict.fromkeys(row.method for row in rows))
    by_key = {(row.tokens, row.samples, row.method): row for row in rows}
    cases = list(dict.fromkeys((row.tokens, row.samples) for row in rows))
    lines = ["| tokens | N | " + " | ".join(methods) + " |", "|---:|---:|" + "---:|" * len(methods)]
    for tokens, samples in cases:
        cells = [_cell(by_key.get((tokens, samples, method))) for method in methods]
        lines.append(f"| {tokens} | {samples} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ig_table(rows: list[Timing]) -> str:
    methods = list(dict.fromkeys(row.method for row in rows))
    by_key = {(row.tokens, row.method): row for row in rows}
    lines = ["| tokens | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)]
    for tokens in dict.fromkeys(row.tokens for row in rows):
        lines.append(f"| {tokens} | " + " | ".join(_cell(by_key.get((tokens, m))) for m in methods) + " |")
    return "\n".join(lines)


def labs_table(costs: list[LabCost]) -> str:
    lines = ["| lab | execute (s) | autograde (s) | autograde / execute | autograde without sandbox (s) | sandbox "
             "overhead | self-grading (s) | peak RSS, execute (MB) | peak RSS, autograde (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in costs:
        lines.append(f"| {c.lab} | {c.execute_seconds:.1f} | {c.autograde_seconds:.1f} | {c.autograde_ratio:.2f} "
                     f"| {c.unsandboxed_seconds:.1f} | {100 * c.sandbox_overhead:+.1f}% | {c.selfgrade_seconds:.1f} "
                     f"| {c.execute_peak_mb:.0f} | {c.autograde_peak_mb:.0f} |")
    return "\n".join(lines)


def batch_section(rate: BatchRate) -> str:
    lines = [f"## A class: `course autograde --jobs {rate.jobs}`\n",
             (f"{rate.students} students × {rate.labs} labs (reference submissions, sandboxed) in {rate.seconds:.0f} s. "
              f"Each notebook's grading time in its worker (kernel start, the notebook, the tests, its feedback page), "
              f"measured while the other worker{'s were' if rate.jobs > 2 else ' was'} busy:\n"),
             "| lab | mean (s) | min (s) | max (s) |", "|---|---:|---:|---:|"]
    for lab, times in rate.graded.items():
        lines.append(f"| {lab} | {sum(times) / len(times):.1f} | {min(times):.1f} | {max(times):.1f} |")
    lines += ["", phases_table(rate), ""]
    lines.append(f"\nA worker's first notebook of a lab also imports the lab's libraries and reads its models in "
                 f"the grading process, once per worker and lab however large the class: the phases above and what "
                 f"follows count only the other notebooks (a worker's second of a lab and later), each lab weighing "
                 f"alike. "
                 f"Shared by {rate.jobs} workers that is {rate.per_notebook:.1f} s per notebook; the rest of the "
                 f"wall time ({rate.fixed:.0f} s: releasing the labs into the gradebook, the first notebooks' extra, "
                 f"the reports, the last notebook's tail) is paid once per class. So 100 students × 4 labs take about "
                 f"{rate.fixed:.0f} s + 400 × {rate.per_notebook:.1f} s = {rate.hours_for(100):.2f} h on this machine.")
    if rate.cells_per_notebook:
        lines.append(f"\nOf the {rate.per_notebook:.1f} s, the notebooks' own cells in their kernels (one thread each, "
                     f"beside the other worker) take {rate.cells_per_notebook:.1f} s: 400 notebooks cannot be graded "
                     f"in less than {400 * rate.cells_per_notebook / 3600:.2f} h on this machine with --jobs "
                     f"{rate.jobs}, however little the grading around them costs.")
    return "\n".join(lines)


def phases_table(rate: BatchRate) -> str:
    """Per lab: mean seconds per notebook of each phase of its grading (`benchmarks.labs.grading_phases`),
    and the grading against executing the lab alone and against its own cells in the grading."""
    labs = [lab for lab in rate.graded if rate.phase_means(lab)]
    if not labs:
        return "(no phases recorded)"
    lines = ["Where a notebook's grading time goes (mean seconds per notebook, a worker's first of each lab left "
             "out where the batch says which it was; the lab's set-up runs in the "
             "grading process beside the kernel's start and is not added; the last columns compare the grading "
             "with the lab executed alone, and with its own cells as they ran during the grading):\n",
             "| lab | " + " | ".join(PHASES) + " | executed alone | grading / executed | grading / its cells |",
             "|---|" + "---:|" * (len(PHASES) + 3)]
    for lab in labs:
        means = rate.phase_means(lab)
        executed = rate.executed.get(lab)
        ratios = [f"{executed:.1f}" if executed else "—",
                  f"{means['grading'] / executed:.2f}" if executed else "—",
                  f"{means['grading'] / means['notebook cells']:.2f}" if means["notebook cells"] else "—"]
        lines.append(f"| {lab} | " + " | ".join(f"{means[name]:.2f}" for name in PHASES) + " | "
                     + " | ".join(ratios) + " |")
    return "\n".join(lines)


def target_lines(lime: list[Timing], costs: list[LabCost], rate: BatchRate | None = None) -> list[str]:
    """One line per target of the course: held or missed, and by how much."""
    lines = []
    reference = [row for row in lime if row.method == REFERENCE_LIME]
    if reference:
        worst = max(reference, key=lambda row: row.ratio)
        lines.append(_verdict(worst.ratio <= TARGETS["lime_ratio"],
                              f"reference LIME ≤ {TARGETS['lime_ratio']}× its floor: worst {worst.ratio:.2f}× "
                              f"({worst.tokens} tokens, N = {worst.samples})"))
        others = [row for row in lime if row.method.startswith(("lime", "captum"))]
        beaten = [(ref, other) for ref in reference for other in others
                  if (other.tokens, other.samples) == (ref.tokens, ref.samples) and ref.seconds >= other.seconds]
        lines.append(_verdict(not beaten, "reference LIME faster than lime and captum Lime at equal N"
                              + "".join(f"; slower than {o.method} at {o.tokens} tokens, N = {o.samples} "
                                        f"({r.seconds:.3f} s vs {o.seconds:.3f} s)" for r, o in beaten)))
    if costs:
        slowest = max(costs, key=lambda c: c.execute_seconds)
        lines.append(_verdict(slowest.execute_seconds <= TARGETS["lab_seconds"],
                              f"every lab ≤ {TARGETS['lab_seconds']} s offline: slowest {slowest.lab} "
                              f"{slowest.execute_seconds:.1f} s"))
        worst_grade = max(costs, key=lambda c: c.autograde_ratio)
        lines.append(_verdict(worst_grade.autograde_ratio <= TARGETS["autograde_ratio"],
                              f"autograde ≤ {TARGETS['autograde_ratio']}× plain execution: worst {worst_grade.lab} "
                              f"{worst_grade.autograde_ratio:.2f}×"))
        slowest_self = max(costs, key=lambda c: c.selfgrade_seconds)
        lines.append(_verdict(slowest_self.selfgrade_seconds <= TARGETS["selfgrade_seconds"],
                              f"self-grading one lab (`course autograde <lab>.ipynb`) ≤ "
                              f"{TARGETS['selfgrade_seconds']} s: "
                              f"slowest {slowest_self.lab} {slowest_self.selfgrade_seconds:.1f} s"))
        # Per lab the difference is a second or two either way, within the noise of one grading
        # run; over a student's labs together it is the figure a class's grading time feels.
        overall = sum(c.autograde_seconds for c in costs) / sum(c.unsandboxed_seconds for c in costs) - 1
        lines.append(_verdict(overall <= TARGETS["sandbox_overhead"],
                              f"the sandbox adds ≤ {100 * TARGETS['sandbox_overhead']:.0f}% to grading: "
                              f"{100 * overall:+.1f}% over the {len(costs)} labs together (per lab "
                              + ", ".join(f"{100 * c.sandbox_overhead:+.0f}% ({c.autograde_seconds - c.unsandboxed_seconds:+.1f} s)"
                                          for c in costs) + ")"))
    if rate:
        lines.append(_verdict(rate.hours_for(100) <= TARGETS["class_hours"],
                              f"100 students × 4 labs graded in ≤ {TARGETS['class_hours']:g} h with --jobs "
                              f"{rate.jobs}: {rate.hours_for(100):.2f} h ({rate.per_notebook:.1f} s per notebook)"))
    return lines


def _verdict(held: bool, text: str) -> str:
    return f"- {'holds' if held else 'MISSED'}: {text}"


def plot(lime: list[Timing], ig: list[Timing], costs: list[LabCost], path: Path) -> None:
    panels = [bool(lime), bool(lime), bool(ig), bool(costs)]
    if not any(panels):
        return  # only the class rate was measured: a sentence, no figure
    fig, axes = plt.subplots(1, sum(panels), figsize=(5 * sum(panels), 4), squeeze=False)
    axes = iter(axes[0])
    if lime:
        seconds_ax, ratio_ax = next(axes), next(axes)
        largest = max(row.samples for row in lime)
        series: dict[str, list[Timing]] = defaultdict(list)
        for row in lime:
            if row.samples == largest:
                series[row.method].append(row)
        for method, points in series.items():
            tokens = [p.tokens for p in points]
            seconds_ax.plot(tokens, [p.seconds for p in points], marker="o", label=method)
            ratio_ax.plot(tokens, [p.ratio for p in points], marker="o", label=method)
        seconds_ax.set(xscale="log", yscale="log", xlabel="tokens", ylabel="seconds",
                       title=f"LIME, N = {largest}: time grows with length")
        ratio_ax.axhline(TARGETS["lime_ratio"], color="grey", linestyle=":", label="target for the reference")
        ratio_ax.set(xscale="log", yscale="log", xlabel="tokens", ylabel="× floor (forward passes)",
                     title=f"LIME, N = {largest}: overhead over the floor")
        ratio_ax.legend(fontsize=7)
    if ig:
        ax = next(axes)
        for method in dict.fromkeys(row.method for row in ig):
            points = [row for row in ig if row.method == method]
            ax.plot([p.tokens for p in points], [p.ratio for p in points], marker="o", label=method)
        ax.set(xscale="log", xlabel="tokens", ylabel="× floor (n_steps forward + backward)",
               title="Integrated Gradients, 50 steps")
        ax.legend(fontsize=7)
    if costs:
        ax = next(axes)
        x = range(len(costs))
        ax.bar([i - 0.2 for i in x], [c.execute_seconds for c in costs], width=0.4, label="execute")
        ax.bar([i + 0.2 for i in x], [c.autograde_seconds for c in costs], width=0.4, label="autograde")
        ax.axhline(TARGETS["lab_seconds"], color="grey", linestyle=":", label="60 s target")
        ax.set_xticks(list(x), [c.lab.split("_")[0] for c in costs])
        ax.set(ylabel="seconds", title="Each lab, offline, 2 cores")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def header() -> str:
    packages = " · ".join(f"{name} {version(name)}" for name in ("torch", "transformers", "lime", "captum"))
    return (f"Machine: {platform.machine()}, {os.cpu_count()} cores, torch threads "
            f"{torch.get_num_threads()}, Python {platform.python_version()} · {packages}. "
            f"Batch size {BATCH} for every method. Seconds are the best of 5 runs (2 above 1 s, "
            f"1 above 10 s), the methods taking turns; × = ratio to the floor.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="lime,ig,labs,batch",
                        help="comma-separated: lime, ig, labs, batch (embedded models); realsize, realsize-explainers")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="autogrades of each lab with and without the sandbox, and self-gradings, taking turns "
                             "(the fastest of each counts)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    known = {"lime", "ig", "labs", "batch", "realsize", "realsize-explainers"}
    if parts - known:
        parser.error(f"--only: unknown part(s) {sorted(parts - known)}; choose from {', '.join(sorted(known))}")
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    print(header(), flush=True)

    sections, lime, ig, costs = [f"# Benchmarks\n\n{header()}"], [], [], []
    if "lime" in parts:
        lime = lime_timings(sizes["samples"], sizes["lengths"], sizes["captum_default_max"])
        sections.append("## LIME: seconds (× floor)\n\nFloor: the N perturbed inputs through the model in "
                        f"batches of {BATCH}, nothing else. captum's default (one forward pass per sample) "
                        f"runs up to N = {sizes['captum_default_max']}.\n\n" + lime_table(lime))
        print("\n" + sections[-1], flush=True)
    if "ig" in parts:
        ig = ig_timings(sizes["lengths"])
        sections.append("## Integrated Gradients, 50 steps: seconds (× floor)\n\nFloor: the 50 interpolated "
                        "inputs through the model and back, in one batch.\n\n" + ig_table(ig))
        print("\n" + sections[-1], flush=True)
    if "labs" in parts:
        repeats = 1 if args.quick else args.repeats
        costs = lab_costs(pipeline.finished_labs(ROOT), repeats=repeats)
        sections.append("## Labs: offline execution and autograding of the reference, one at a time\n\n"
                        f"Execution: one run. Autograding with and without the sandbox and self-grading: the "
                        f"fastest of {repeats} run{'s' if repeats > 1 else ''}, the three taking turns.\n\n"
                        + labs_table(costs))
        print("\n" + sections[-1], flush=True)
    rate = None
    if "batch" in parts:
        rate = batch_rate(pipeline.finished_labs(ROOT), students=2 if args.quick else 4)
        sections.append(batch_section(rate))
        print("\n" + sections[-1], flush=True)
    if parts & {"lime", "ig", "labs", "batch"}:
        sections.append("## Targets\n\n" + "\n".join(target_lines(lime, costs, rate)))
        sections.append(f"Benchmark time: {time.perf_counter() - start:.0f} s.")
        print("\n" + "\n\n".join(sections[-2:]))
        (out / "benchmarks.md").write_text("\n\n".join(sections) + "\n")
        plot(lime, ig, costs, out / "benchmarks.png")
        print(f"\nWrote {out / 'benchmarks.md'}" + (f" and {out / 'benchmarks.png'}" if lime or ig or costs else ""))
    if parts & {"realsize", "realsize-explainers"}:
        realsize_report(parts, out, quick=args.quick)
    return 0


def realsize_table(costs: list[RealSizeCost]) -> str:
    lines = ["| lab | wall time (min) | peak RSS (MB) | within targets | sizes it chose |", "|---|---:|---:|---|---|"]
    for c in costs:
        lines.append(f"| {c.lab} | {c.seconds / 60:.1f} | {c.peak_mb:.0f} | {'yes' if c.within_targets else 'NO'} "
                     f"| {c.sizes or '—'} |")
    return "\n".join(lines)


def realsize_report(parts: set[str], out: Path, quick: bool = False) -> None:
    """The labs and the explainers on full-size stand-ins of the hub models: realsize.md and .png."""
    start = time.perf_counter()
    sections = ["# Benchmarks at real size\n\n" + header() + "\n\nModels: full-size stand-ins of the hub models "
                "(GPT-2 small, DistilBERT-base, BERT-base: the hub architectures at full size, random weights, real "
                "tokenizers), loaded through `load_classifier`'s hub branch from a local cache; reviews of IMDB's "
                "length (see `benchmarks/realsize.py`). Every lab runs as a student's would online on this CPU, so "
                "each picks its CPU sizes."]
    costs, lime, ig = [], [], []
    if "realsize" in parts:
        costs = realsize_costs(pipeline.finished_labs(ROOT))
        sections.append(f"## Each lab, executed once (targets: ≤ {TARGET_MINUTES:g} min, peak RSS ≤ "
                        f"{TARGET_PEAK_GB:g} GB)\n\n" + realsize_table(costs))
        print("\n" + sections[-1], flush=True)
        (out / "realsize.md").write_text("\n\n".join(sections) + "\n")  # kept if the explainers are stopped
        plot_realsize(costs, out / "realsize.png")
    if "realsize-explainers" in parts:
        sizes = QUICK if quick else REALSIZE
        lime, ig = explainer_timings(sizes["lengths"], sizes["samples"], sizes["captum_default_max"])
        sections.append("## LIME at real size (GPT-2 small): seconds (× floor)\n\n" + lime_table(lime))
        sections.append("## Integrated Gradients at real size (BERT-base), 50 steps: seconds (× floor)\n\n"
                        + ig_table(ig))
        print("\n" + "\n\n".join(sections[-2:]), flush=True)
    sections.append(f"Benchmark time: {time.perf_counter() - start:.0f} s.")
    (out / "realsize.md").write_text("\n\n".join(sections) + "\n")
    if costs:
        plot_realsize(costs, out / "realsize.png")
    print(f"\nWrote {out / 'realsize.md'}" + (f" and {out / 'realsize.png'}" if costs else ""))


def plot_realsize(costs: list[RealSizeCost], path: Path) -> None:
    fig, (time_ax, memory_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    names = [c.lab.split("_")[0] for c in costs]
    time_ax.bar(names, [c.seconds / 60 for c in costs], color="tab:blue")
    time_ax.axhline(TARGET_MINUTES, color="grey", linestyle=":", label=f"target {TARGET_MINUTES:g} min")
    time_ax.set(ylabel="minutes", title="Each lab at real size, 2-core CPU")
    time_ax.legend(fontsize=8)
    memory_ax.bar(names, [c.peak_mb / 1024 for c in costs], color="tab:orange")
    memory_ax.axhline(TARGET_PEAK_GB, color="grey", linestyle=":", label=f"target {TARGET_PEAK_GB:g} GB")
    memory_ax.set(ylabel="GB", title="Peak memory of the lab's kernel")
    memory_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

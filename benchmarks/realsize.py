"""The labs at real size: every solution notebook against full-size stand-ins of the hub models.

Online, the labs load GPT-2 small (124M parameters, as a classifier in Lab 1 and a language model in
Lab 5), DistilBERT-base (67M) and BERT-base (110M)
and real IMDB reviews. This machine cannot reach the hub, so the benchmark builds stand-ins that
cost the same: the hub models' architectures at their full sizes with random weights (a forward
pass costs the same whatever the weights), in a Hugging Face cache laid out as the hub client
lays out its own (``benchmarks.hub_cache``), with the real tokenizers; and IMDB-length reviews
(word counts drawn from a log-normal with IMDB's median, 174 words, and mean, about 230),
glued together from the generated corpus.

Each solution notebook runs as a student who solved every exercise runs it online: without its
hidden tests (they run only when grading, offline, on the embedded models), in a fresh kernel whose IPython start-up file (``install_standins``) makes the
course take its online branch: ``load_classifier`` then loads the stand-ins through its real hub
code (``from_pretrained`` at the pinned revisions, served from the cache with
``HF_HUB_OFFLINE=1``), and ``load_reviews`` returns the long reviews where it would load IMDB.

    .venv/bin/python -m benchmarks.run --only realsize     # every lab, about 20 minutes on 2 cores
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "course-realsize-standins"
COMPLETE = ".complete-v2"  # written last: a half-built cache is rebuilt
IMDB_MEDIAN_WORDS, IMDB_MEAN_WORDS = 174, 230
TARGET_MINUTES, TARGET_PEAK_GB = 5.0, 3.0  # per lab on a 2-core CPU


def standin_cache(root: Path = DEFAULT_CACHE) -> Path:
    """The hub cache of full-size stand-ins under ``root`` (built once, about 1.7 GB)."""
    hub = root / "hub"
    if not (root / COMPLETE).exists():
        import shutil

        from benchmarks.hub_cache import write_hub_cache

        shutil.rmtree(root, ignore_errors=True)
        hub.mkdir(parents=True)
        write_hub_cache(hub, full_size=True)
        (root / COMPLETE).write_text("full-size random stand-ins of the course's hub models\n")
    return hub


def long_reviews(n: int, seed: int, split: str | None):
    """IMDB-length reviews, as many as ``load_reviews`` would draw from IMDB for these arguments."""
    import datasets
    import numpy as np

    from course_utils.labels import split_indices
    from course_utils.reviews import review_examples

    size = len(split_indices(n, split))
    rng = np.random.default_rng(seed)
    sigma = float(np.sqrt(2 * np.log(IMDB_MEAN_WORDS / IMDB_MEDIAN_WORDS)))
    lengths = np.clip(rng.lognormal(np.log(IMDB_MEDIAN_WORDS), sigma, size), 10, 1500).astype(int)
    pool = review_examples(max(200, size * 4), seed)
    texts, labels, start = [], [], 0
    for length in lengths:
        words: list[str] = []
        label = pool[start % len(pool)].label
        while len(words) < length:
            words += pool[start % len(pool)].text.split()
            start += 1
        texts.append(" ".join(words[:length]))
        labels.append(int(label))
    return datasets.Dataset.from_dict({"text": texts, "label": labels})


def install_standins() -> None:
    """Make the course take its online branch (hub models from the cache, long reviews)."""
    from course_utils import data, models

    models.is_offline = lambda timeout=2.0: False
    data._load_imdb = long_reviews


def kernel_environment(hub: Path, ipython_dir: Path) -> dict[str, str]:
    """Variables for a kernel that loads the stand-ins: the cache, offline hub client, start-up file."""
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-realsize.py").write_text("import benchmarks.realsize\nbenchmarks.realsize.install_standins()\n")
    return {"HF_HOME": str(hub.parent), "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1",
            "IPYTHONDIR": str(ipython_dir), "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                      os.environ.get("PYTHONPATH")]))}


@dataclass
class RealSizeCost:
    lab: str
    seconds: float
    peak_mb: float
    sizes: str  # what the lab printed when it chose its sizes

    @property
    def within_targets(self) -> bool:
        return self.seconds <= TARGET_MINUTES * 60 and self.peak_mb <= TARGET_PEAK_GB * 1024


def as_student_runs_it(lab: str, folder: Path) -> Path:
    """``lab``'s solution without its hidden-test cells, in ``folder``: what a student who solved every
    exercise runs (hidden tests run only when grading, offline, on the embedded models)."""
    import nbformat

    from course_admin import labformat, pipeline

    notebook = nbformat.read(pipeline.lab_notebook(lab, root=ROOT), as_version=4)
    notebook.cells = [cell for cell in notebook.cells if not labformat.has_hidden(cell.source)]
    path = folder / f"{lab}.ipynb"
    nbformat.write(notebook, path)
    return path


def execute_online(lab: str, timeout: int = 7200):
    """Run ``lab`` as a student online (``as_student_runs_it``) in this process's environment, which
    must hold ``kernel_environment``'s variables; the executed notebook and its seconds.

    Raises RuntimeError if the notebook did not load the hub models or a cell failed."""
    from course_admin import pipeline

    with tempfile.TemporaryDirectory(prefix="realsize-lab-") as folder:
        notebook, seconds = pipeline.execute_notebook(as_student_runs_it(lab, Path(folder)), timeout=timeout)
    if "from the Hugging Face hub" not in printed_text(notebook):
        raise RuntimeError(f"{lab} did not load the stand-ins (no 'from the Hugging Face hub' line)")
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    if errors:
        raise RuntimeError(f"{lab} failed online: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    return notebook, seconds


def printed_text(notebook) -> str:
    """Everything the notebook's cells printed (streams), in order."""
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.get("output_type") == "stream")


def _execute(lab: str) -> dict:
    """(In the child process) run ``lab``'s solution on the stand-ins; its time, peak RSS, size line."""
    from course_admin import pipeline

    notebook, seconds = execute_online(lab)
    lines = printed_text(notebook).splitlines()
    chosen = [i for i, line in enumerate(lines) if line.startswith("Sizes for")]
    sizes = lines[chosen[0] + 1].strip() if chosen and chosen[0] + 1 < len(lines) else ""
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "sizes": sizes, "stderr": pipeline.stderr_outputs(notebook)}


def _in_child(action: str, argument: str, hub: Path) -> dict:
    """Run ``python -m benchmarks.realsize ACTION ARGUMENT`` in a fresh process whose kernels load the
    stand-ins in ``hub`` (so a peak RSS belongs to that run alone); the JSON it prints last."""
    with tempfile.TemporaryDirectory(prefix="realsize-ipython-") as ipython_dir:
        env = {**os.environ, **kernel_environment(hub, Path(ipython_dir))}
        done = subprocess.run([sys.executable, "-m", "benchmarks.realsize", action, argument], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"real-size {action} {argument} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lab_cost(lab: str, hub: Path) -> RealSizeCost:
    """Execute ``lab`` at real size in a fresh process."""
    figures = _in_child("execute", lab, hub)
    if figures["stderr"]:
        print(f"warning: {lab} wrote to stderr at real size: {figures['stderr'][0][:300]!r}", flush=True)
    return RealSizeCost(lab, figures["seconds"], figures["peak_mb"], figures["sizes"])


def realsize_costs(labs: list[str], root: Path = DEFAULT_CACHE) -> list[RealSizeCost]:
    hub = standin_cache(root)
    costs = []
    for lab in labs:
        costs.append(lab_cost(lab, hub))
        print(f"  {lab}: {costs[-1].seconds / 60:.1f} min, peak RSS {costs[-1].peak_mb:.0f} MB", flush=True)
    return costs


def explainer_timings(lengths: list[int], samples: list[int], captum_default_max: int, root: Path = DEFAULT_CACHE):
    """LIME and IG against lime, captum and the floor, on the full-size stand-ins (in a fresh process)."""
    from benchmarks.explainers import Timing

    sizes = {"lengths": lengths, "samples": samples, "captum_default_max": captum_default_max}
    rows = _in_child("explainers", json.dumps(sizes), standin_cache(root))
    return [Timing(**row) for row in rows["lime"]], [Timing(**row) for row in rows["ig"]]


def _explainers(arguments: str) -> dict:
    """(In the child process) the explainer timings on the stand-ins."""
    from dataclasses import asdict

    install_standins()
    from benchmarks.explainers import ig_timings, lime_timings

    sizes = json.loads(arguments)
    lime = lime_timings(sizes["samples"], sizes["lengths"], sizes["captum_default_max"])
    ig = ig_timings(sizes["lengths"])
    return {"lime": [asdict(t) for t in lime], "ig": [asdict(t) for t in ig]}


if __name__ == "__main__":
    action, argument = sys.argv[1:]
    actions = {"execute": _execute, "explainers": _explainers}
    print(json.dumps(actions[action](argument)))

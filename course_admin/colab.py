"""The set-up cell every lab opens with, and the README's "Open in Colab" badges.

Both are generated from `pyproject.toml` (the course's version, its repository URL and the
pins), so there is one place to change them: `course release` rewrites the set-up cell of
every solution notebook before it generates the student notebooks.

The cell installs the course only where `course_utils` cannot be imported (Colab, a fresh
machine). It installs the packages the labs import, with the course's pins, and the course
package itself without dependencies: Colab's own Jupyter server must keep its own
`notebook`, `ipykernel` and `tornado`, so the grading stack (nbgrader, JupyterLab) stays out.

The kernel's threads are sized by the cell after it, the lab's imports: importing
`course_utils` gives torch and the numeric libraries the cores the session really has
(`course_utils.threads`), on Colab as in a learner's own JupyterLab, before any parallel work.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from nbformat import v4
from nbformat.notebooknode import NotebookNode

TAG = "course-setup"
# Distributions the notebooks import, with the module name that shows one is already loaded.
NOTEBOOK_PACKAGES = {
    "torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers",
    "datasets": "datasets", "lime": "lime", "captum": "captum", "numpy": "numpy",
    "scipy": "scipy", "scikit-learn": "sklearn", "matplotlib": "matplotlib", "tqdm": "tqdm",
}


def project(root: Path) -> dict:
    """The `[project]` table of the course's pyproject.toml."""
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def repository(root: Path) -> tuple[str, str]:
    """(owner, name) of the course's GitHub repository, from `[project.urls] Repository`."""
    url = project(root)["urls"]["Repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)/?", url)
    if not match:
        raise ValueError(f"pyproject.toml: Repository must be a https://github.com/OWNER/REPO URL, not {url!r}")
    return match.group(1), match.group(2)


def release_tag(root: Path) -> str:
    """The git tag students install and open: `v` + the package version."""
    return "v" + project(root)["version"]


def notebook_pins(root: Path) -> list[str]:
    """The pinned requirements of the packages the notebooks import, in pyproject's order."""
    pins = [pin for pin in project(root)["dependencies"] if pin.split("==")[0] in NOTEBOOK_PACKAGES]
    missing = set(NOTEBOOK_PACKAGES) - {pin.split("==")[0] for pin in pins}
    if missing:
        raise ValueError(f"pyproject.toml pins none of {sorted(missing)}")
    return pins


def setup_cell_source(root: Path) -> str:
    """The first code cell of every lab (see the module docstring)."""
    owner, name = repository(root)
    course = f"{project(root)['name']} @ git+https://github.com/{owner}/{name}@{release_tag(root)}"
    pins = "".join(f'\n        "{pin}",' for pin in notebook_pins(root))
    modules = ", ".join(f'"{module}"' for module in NOTEBOOK_PACKAGES.values())
    return f'''\
# Set-up on Colab (or any machine without the course): installs the course's pinned
# packages once, in a few minutes. Where the course is installed (README), it does nothing.
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("course_utils") is None:
    pins = [{pins}
    ]
    course = "{course}"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *pins], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", course], check=True)
    stale = sorted(set(sys.modules) & {{{modules}}})
    if stale:
        print(f"Installed. {{', '.join(stale)}} was loaded before the install: restart the "
              "session (Colab: Runtime > Restart session), then run the notebook from the top.")
    else:
        print("Installed the course; carry on.")'''


def setup_cell(root: Path) -> NotebookNode:
    return v4.new_code_cell(setup_cell_source(root), metadata={"tags": [TAG]})


def sync_setup_cell(notebook: NotebookNode, root: Path) -> bool:
    """Put the current set-up cell first among the code cells; return True if it changed."""
    fresh = setup_cell(root)
    cells = notebook.cells
    index = next((i for i, cell in enumerate(cells) if TAG in cell.get("metadata", {}).get("tags", [])), None)
    if index is not None:
        if cells[index].source == fresh.source:
            return False
        cells[index].source = fresh.source
        return True
    first_code = next((i for i, cell in enumerate(cells) if cell.cell_type == "code"), len(cells))
    cells.insert(first_code, fresh)
    return True


def badge(lab: str, root: Path) -> str:
    """Markdown for an "Open in Colab" badge opening `lab`'s student notebook at the release tag."""
    owner, name = repository(root)
    url = (f"https://colab.research.google.com/github/{owner}/{name}/blob/{release_tag(root)}"
           f"/notebooks/{lab}/{lab}.ipynb")
    return f"[![Open {lab} in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"

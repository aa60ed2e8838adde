"""The code that runs inside a student's kernel (`course_admin.kernel`) imports the standard
library, numpy and itself only: read from its source, and seen in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import course_admin

KERNEL = Path(course_admin.__file__).parent / "kernel"
MODULES = sorted(f"course_admin.kernel.{path.stem}" for path in KERNEL.glob("*.py") if path.stem != "__init__")
ALLOWED = set(sys.stdlib_module_names) | {"numpy", "__future__"}


def _imports(tree: ast.AST) -> list[str]:
    """Every module an import statement names, at any depth (a function's lazy import too)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def _allowed(name: str) -> bool:
    return name.startswith(".") or name.split(".")[0] in ALLOWED or name.startswith("course_admin.kernel")


def test_the_kernel_package_has_the_modules_the_kernel_loads():
    assert {"course_admin.kernel.agent", "course_admin.kernel.guard", "course_admin.kernel.codec",
            "course_admin.kernel.wire", "course_admin.kernel.autograd"} <= set(MODULES)


@pytest.mark.parametrize("path", sorted(KERNEL.glob("*.py")), ids=lambda path: path.name)
def test_kernel_modules_import_only_the_standard_library_numpy_and_the_package(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    outside = [name for name in _imports(tree) if not _allowed(name)]
    assert not outside, f"{path.name} imports {outside}: the kernel package may use the standard library and numpy"
    dynamic = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "__import__")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"))]
    assert not dynamic, f"{path.name} imports by name at lines {dynamic}: take loaded modules from sys.modules"


def test_importing_the_kernel_package_loads_nothing_else():
    """In a fresh interpreter: every kernel module, the guard's start-up line and the agent's
    call line (as the kernel runs them) leave only the standard library, numpy and the
    package in sys.modules."""
    from course_admin.kernel import agent, guard

    code = f"""
import sys
before = set(sys.modules)
for name in {MODULES!r}:
    __import__(name)
exec({guard.STARTUP_LINE!r})
line = {agent.serve_line("c1")!r}
module = line[len("__import__("):].split(",")[0].strip("'")
__import__(module, fromlist=["serve"])
print("\\n".join(sorted(set(sys.modules) - before)))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=KERNEL.parent.parent)
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split()
    outside = sorted({name for name in loaded if name.split(".")[0] not in ALLOWED
                      and name not in ("course_admin", "course_admin.kernel") and not name.startswith("course_admin.kernel.")})
    assert not outside, f"loading the kernel's code imported {outside}"
    assert {"numpy", "course_admin.kernel.agent", "course_admin.kernel.guard"} <= set(loaded)


def test_the_codec_works_where_torch_was_never_imported():
    """A kernel whose notebook never imported torch still exchanges numpy values; a tensor
    sent to it is refused with a reason instead of importing torch."""
    code = """
import sys
import numpy as np
from course_admin.kernel import codec
encoder = codec.Encoder()
tree = encoder.encode({"x": np.arange(3.0), "n": [1, (2, "a")]})
value = codec.Decoder(encoder.buffers).decode(tree)
print(value["n"], value["x"].tolist())
try:
    codec.Decoder([b"\\0" * 4]).decode({"t": "tensor", "dtype": "float32", "np": "<f4", "shape": [1], "b": 0})
except codec.LibraryNotLoaded as error:
    print("refused:", error)
print("torch" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=KERNEL.parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:3] == ["[1, (2, 'a')] [0.0, 1.0, 2.0]",
                                             "refused: the notebook has not imported torch (run its set-up cells): "
                                             "the tests' value needs it", "False"], result.stdout


def test_the_kernel_package_is_installed_with_the_others():
    """pyproject.toml lists packages one by one: a subpackage left out would be missing from a
    non-editable install, and every grading kernel would fail to start its guard."""
    import tomllib

    root = KERNEL.parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(root).parts) for top in ("course_admin", "course_utils")
             for path in (root / top).rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"

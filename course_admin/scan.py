"""Read a submission's code from outside the kernel and list what an instructor should look at.

The sandbox makes most attacks impossible and the tests run outside the kernel, so
nothing here changes a score. But an attempt is worth knowing about, and the kernel
cannot hide its own source: this scan parses every code cell the student wrote or changed
(not the lab's own cells) and names the constructs that honest lab solutions do not need:
reaching into the kernel (``get_ipython``, ``sys.modules``, ``gc``, frames), starting
processes, opening files or sockets, dynamic code (``exec``, ``eval``, ``__import__``), and
rebinding attributes of imported libraries (``torch.allclose = ...``).
"""

from __future__ import annotations

import ast

from nbformat.notebooknode import NotebookNode

from course_admin import labformat

# module imported -> why an instructor should look
SUSPICIOUS_MODULES = {
    "subprocess": "starts processes", "multiprocessing": "starts processes", "pty": "starts processes",
    "socket": "opens network connections", "urllib": "opens network connections", "http": "opens network connections",
    "requests": "opens network connections", "ctypes": "uses ctypes (raw memory)", "gc": "inspects live objects (gc)",
    "inspect": "inspects frames or source code", "linecache": "reads source code (linecache)",
    "importlib": "imports code dynamically", "builtins": "changes built-ins", "signal": "handles signals",
    "sqlite3": "opens databases", "shutil": "copies or deletes files", "glob": "lists files", "pathlib": "uses file paths",
    "IPython": "reaches into the notebook's kernel", "ipykernel": "reaches into the notebook's kernel",
    "nbformat": "reads notebooks", "nbgrader": "imports the grader", "course_admin": "imports the grader",
    "threading": "starts threads", "atexit": "registers exit hooks", "sys": "uses sys",
}
SUSPICIOUS_CALLS = {
    "get_ipython": "reaches into the notebook's kernel (get_ipython)", "exec": "runs dynamic code (exec)",
    "eval": "runs dynamic code (eval)", "compile": "compiles dynamic code", "__import__": "imports code dynamically",
    "open": "opens files", "globals": "changes the notebook's globals", "setattr": "sets attributes dynamically",
    "delattr": "deletes attributes", "vars": "reads namespaces (vars)", "breakpoint": "starts a debugger",
}
SUSPICIOUS_ATTRIBUTES = {
    "system": "runs shell commands", "popen": "runs shell commands", "fork": "starts processes",
    "kill": "sends signals to processes", "_exit": "exits the process", "environ": "reads environment variables",
    "remove": "deletes files", "unlink": "deletes files", "rmtree": "deletes folders", "listdir": "lists files",
    "walk": "lists files", "_getframe": "inspects frames", "f_back": "inspects frames", "f_globals": "inspects frames",
    "__code__": "rewrites a function's code", "__globals__": "reaches into a function's globals",
    "__builtins__": "changes built-ins", "__subclasses__": "walks the class tree", "modules": "uses sys.modules",
    "displayhook": "replaces the display hook", "run_cell": "wraps the kernel's cell runner",
    "events": "changes the kernel's event hooks", "user_ns": "changes the notebook namespace",
    "input_transformers_post": "rewrites cells before they run", "ast_transformers": "rewrites cells before they run",
    "settrace": "traces execution", "setprofile": "traces execution", "excepthook": "replaces the exception hook",
}


def _imported_roots(tree: ast.AST) -> dict[str, str]:
    """name bound by an import -> the top-level module it came from."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = node.module.split(".")[0]
    return names


def scan_source(source: str) -> list[str]:
    """What a cell does that an honest lab answer has no need to (empty for ordinary code)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: list[str] = []
    imported = _imported_roots(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in modules:
                root = module.split(".")[0]
                if root in SUSPICIOUS_MODULES and root != "sys":
                    found.append(f"imports {root}: {SUSPICIOUS_MODULES[root]}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SUSPICIOUS_CALLS:
            found.append(SUSPICIOUS_CALLS[node.func.id])
        elif isinstance(node, ast.Attribute) and node.attr in SUSPICIOUS_ATTRIBUTES:
            found.append(f".{node.attr}: {SUSPICIOUS_ATTRIBUTES[node.attr]}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                root = target
                while isinstance(root, (ast.Attribute, ast.Subscript)):
                    root = root.value
                if isinstance(target, ast.Attribute) and isinstance(root, ast.Name) and root.id in imported:
                    found.append(f"rebinds {ast.unparse(target)} (an attribute of the {imported[root.id]} library)")
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            found.append("declares global names inside a function")
    return list(dict.fromkeys(found))


def scan_notebook(nb: NotebookNode, release: NotebookNode | None) -> list[str]:
    """Flags for every code cell the student wrote or changed, named by its exercise."""
    lab_cells = {cell.source.strip() for cell in release.cells} if release is not None else set()
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.source.strip() in lab_cells:
            continue
        if labformat.is_test(cell):
            continue  # the course's own code
        where = labformat.grade_id(cell) or f"cell {index + 1}"
        flags += [f"{where}: {finding}" for finding in scan_source(cell.source)]
    return flags

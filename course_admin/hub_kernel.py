"""The hub's ``python3`` kernel: ``python -m course_admin.hub_kernel -f CONNECTION_FILE``, an
IPython kernel whose threads fit the cores it really has, sized before any code runs in it.

The hub's kernelspec (`course_admin.roles.kernelspec`) starts this instead of
``ipykernel_launcher``. A user's CPU quota is known only where the user's server runs, so the
kernel measures it itself, at start (`course_utils.threads`): a notebook that uses torch or
numpy without importing `course_utils` is sized too. Otherwise it is ``ipykernel_launcher``.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    # As ipykernel_launcher: the kernel's folder leaves sys.path while the kernel loads
    # (IPython puts it back, after the standard library, for the user's code), so a student's
    # random.py or json.py beside the notebook cannot replace a module the kernel imports.
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]

    from course_utils.threads import size_threads

    size_threads()  # before ipykernel and the user's code load anything that starts threads

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()

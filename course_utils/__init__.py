"""Helpers shared by the labs of "Explaining NLP Models".

Import the submodules you need (``from course_utils.models import load_classifier``,
``from course_utils.data import load_reviews``). Importing the package itself sizes the
threads of torch and the numeric libraries to the cores this process really has
(`course_utils.threads`: a lab's set-up cell imports it before its first parallel operation)
and silences the progress bars and load reports of transformers / huggingface_hub; it loads
no model, downloads nothing and does not import torch.
"""

from course_utils.threads import size_threads as _size_threads

_size_threads()  # first: the thread variables must be set before transformers loads numpy

from course_utils.models import quiet_transformers as _quiet_transformers  # noqa: E402

__version__ = "0.1.0"

_quiet_transformers()

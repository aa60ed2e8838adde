"""Helpers shared by the labs of "Explaining NLP Models".

Import the submodules you need (``from course_utils.models import load_classifier``,
``from course_utils.data import load_reviews``). Importing the package itself only silences
the progress bars and load reports of transformers / huggingface_hub; it loads no model,
downloads nothing and does not import torch.
"""

from course_utils.models import quiet_transformers as _quiet_transformers

__version__ = "0.1.0"

_quiet_transformers()

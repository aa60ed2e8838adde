"""The instructor's side of "Explaining NLP Models": grading, releasing, reporting.

Students' notebooks import `course_utils` only; this package is what instructors run:
the `course` command (`cli`), the nbgrader course root and its gradebook (`pipeline`),
a class's submissions found (`collect`), graded (`batch`) and reported (`reports`), the
grading sandbox (`sandbox`), the nbgrader steps that run the tests outside the student's
kernel (`execute`, `remote`, `preprocessors`), the kernel-side guard and the code scan that
flag tampering (`guard`, `scan`), the Colab set-up cell (`colab`), what each role may use in
Jupyter (`roles`) and a JupyterHub for a class (`hub`, with its `hub_*` modules).
"""

"""The instructor's side of "Explaining NLP Models": grading, releasing, reporting.

Students' notebooks import `course_utils` only; this package is what instructors run:
the `course` command (`cli`), the lab format every part reads (`labformat`: set-up cells,
exercises, tests, hidden regions, points), the nbgrader course root and its gradebook
(`pipeline`), class batches and reports (`batch`), the grading sandbox (`sandbox`), the nbgrader steps
that run the tests outside the student's kernel (`execute`, `remote`, `preprocessors`),
the kernel-side guard and the code scan that flag tampering (`guard`, `scan`), the Colab
set-up cell (`colab`) and a JupyterHub for a class (`hub`).
"""

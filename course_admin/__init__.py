"""The instructor's side of "Explaining NLP Models": grading, releasing, reporting.

Students' notebooks import `course_utils` only; this package is what instructors run:
the `course` command (`cli`), the lab format every part reads (`labformat`: set-up cells,
exercises, tests, hidden regions, points), the nbgrader course root and its gradebook
(`pipeline`), a class's submissions found (`collect`), graded (`batch`) and reported
(`reports`), the grading sandbox (`sandbox`) and its kernels (`kernels`), the nbgrader steps
that run the tests outside the student's kernel (`execute`, `remote_client`, `preprocessors`),
the code that runs inside that kernel (the subpackage `kernel`: the calls' agent, and the guard
that flags tampering, as the code scan `scan` does from outside), the Colab set-up cell
(`colab`), what each role may use in Jupyter (`roles`) and a JupyterHub for a class (`hub`,
with its `hub_*` modules).
"""

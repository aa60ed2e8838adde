"""nbgrader configuration for the course (the course root is this folder).

`course release`, `course check` and `course autograde` (course_utils/cli.py) run nbgrader
with this file; instructors who prefer nbgrader's own commands get the same behaviour.
"""

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "explaining-nlp-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Only the notebook is released: nothing else in a lab folder is copied to students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Grade with the source notebook's kernel ("python3" = the interpreter nbgrader runs in),
# whatever kernel name a student's Jupyter wrote into the submission.
c.OverwriteKernelspec.enabled = True

# Every lab runs in well under two minutes; one cell never needs more than this.
# A student's infinite loop is interrupted and reported instead of blocking the class.
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
# Several graders starting kernels at once on a small machine need more than the default 60 s.
c.Execute.startup_timeout = 180

# nbgrader gives 0 to a test cell with *any* stderr output. Library warnings and progress
# bars are not the student's fault, so stderr that matches this pattern is dropped first.
# Both settings are needed: the preprocessor is disabled by default.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warning|\d+%\|"

# A test cell deleted from a submission is put back (from the gradebook) and run.
c.OverwriteCells.add_missing_cells = True

# Long outputs (a print inside a loop) are cut instead of bloating the feedback.
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 30

# Feedback never shows hidden tests: their code is removed from the feedback notebook and
# a failing test only shows its message, not the traceback that would quote the test.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_utils.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

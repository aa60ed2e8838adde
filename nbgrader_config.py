"""nbgrader configuration for the course (the course root is this folder).

Everything that grades reads this file: `course release/check/autograde/report`
(course_admin/cli.py), nbgrader's own commands run in this folder, and Formgrader's
buttons. So every path grades the same way, into the same gradebook (gradebook.db here,
or the URL given to `course autograde --db` / `--CourseDirectory.db_url`):

* each student's kernel runs in a sandbox (bubblewrap: no network, its own processes, a
  read-only system, a private scratch folder, resource limits), and the test cells run in
  the grading process with the course's own copy of the tests (course_admin/execute.py);
* a test cell with an error scores 0; partial credit comes only from a number;
* outputs are cut, HTML is sanitised, the grading machine's paths are removed, hidden
  tests' code is removed from the graded notebook, each written question's rubric is
  shown to the grader under the answer (course_admin/preprocessors.py);
* feedback shows a hidden test's score and message only, and keeps written answers not
  yet graded out of the total;
* collect copies what a student put in the exchange by content, never through a link, and
  only into that student's folder, with the exchange's own record of the time;
* each grading is recorded in the gradebook (which submission, whether it finished, the graded
  notebook: course_admin/gradebook.py), so every course root on the same database reports it
  and shows it in Formgrader, whichever machine graded it.
"""

import os

c = get_config()  # noqa: F821  (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "explaining-nlp-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Only the notebook is released: nothing else in a lab folder is copied to students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Collect reads the world-writable inbound folder as hostile input (course_admin/exchange.py):
# no links, FIFOs or oversized files copied, no entry collected for a student who does not
# own it, and the submission time from the exchange's inode change times, not from what the
# student wrote; what was refused is kept in collect_log.json for the reports.
c.ExchangeFactory.collect = "course_admin.exchange.CourseCollect"

# Grade with the course's kernel whatever kernel name a student's Jupyter wrote.
c.OverwriteKernelspec.enabled = True
# A test cell deleted from a submission is put back (from the gradebook) and run.
c.OverwriteCells.add_missing_cells = True

# Each submission's text is checked against the course's limits before it is parsed.
c.Autograde.exporter_class = "course_admin.execute.CourseNotebookExporter"
c.Autograde.sanitize_preprocessors = [
    "course_admin.preprocessors.RecordGradingStart",  # the gradebook: this submission is being graded
    "course_admin.preprocessors.ForgetUnknownCells",  # a student's fake test cell is not a test
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Autograde.autograde_preprocessors = [
    "course_admin.execute.CourseExecute",  # sandboxed kernel; tests in the grading process
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "course_admin.preprocessors.CleanOutputs",  # cut, scrub paths, sanitise HTML
    "course_admin.preprocessors.StrictAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "course_admin.preprocessors.GraderNotes",  # hidden test code out, rubrics in, flags recorded
    "nbgrader.preprocessors.CheckCellMetadata",
    "course_admin.preprocessors.RecordGraded",  # the graded notebook into the gradebook: any root reports it
]

# The slowest lab's slowest cell takes about 20 s alone on 2 cores (Lab 4) and a few times
# that beside other kernels; 900 s leaves a wide margin and still stops an endless loop.
c.Execute.timeout = 900
c.CourseExecute.timeout = 900
c.Execute.interrupt_on_timeout = True
c.Execute.kernel_name = "python3"
# Several graders starting kernels at once on a small machine need more than the default 60 s.
c.Execute.startup_timeout = 180
c.CourseExecute.startup_timeout = 180
# Without bubblewrap the course refuses to run student code unless told otherwise
# (`course autograde --unsafe`, or COURSE_UNSAFE_GRADING=1 for nbgrader's own commands).
c.CourseExecute.sandbox = os.environ.get("COURSE_UNSAFE_GRADING") != "1"

# Library warnings and progress bars on stderr are not a student's fault (nbgrader would
# give 0 to a cell with stderr); the preprocessor is disabled by default.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?i)warning|\d+%\|"

# Feedback: the course's template (course_admin/templates/feedback) replaces nbgrader's.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "course_admin.preprocessors.CleanOutputs",
    "course_admin.preprocessors.StudentFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def _template_folders():
    import nbgrader.server_extensions.formgrader.handlers as formgrader

    from course_admin.preprocessors import template_folder

    return [template_folder(), formgrader.template_path]


c.HTMLExporter.extra_template_basedirs = _template_folders()

# Late submissions: nbgrader records each submission's time (nbgrader collect's
# timestamp.txt) against the assignment's due date (`nbgrader db assignment add LAB
# --duedate=...`); reports show the lateness. Its late-penalty plugin applies the policy:
# "none" (its default: no penalty) or "zero" (a late notebook scores 0), e.g.
# c.LateSubmissionPlugin.penalty_method = "zero"

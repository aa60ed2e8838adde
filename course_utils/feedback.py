"""nbgrader preprocessor that keeps hidden tests out of students' feedback.

nbgrader's autograded notebook carries the hidden tests (they were restored from the
gradebook before grading), and `generate_feedback` would render them, and the tracebacks
that quote them, into the HTML a student reads. `nbgrader_config.py` adds this
preprocessor to `GenerateFeedback` so a student sees, for each test cell, its visible
part and the assertion message only.
"""

from __future__ import annotations

from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests

HIDDEN_NOTE = "(a hidden test failed; its code is not shown)"


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden-test code and reduce the tracebacks of cells that had some."""

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    # The traceback quotes the failing line of the test; the message
                    # (written to diagnose, not to reveal) is what the student needs.
                    output.traceback = [f"{output.ename}: {output.evalue}", HIDDEN_NOTE]
        return cell, resources

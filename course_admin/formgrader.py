"""Formgrader with the course's one total: nbgrader's Formgrader, whose scores subtract the
late penalty as every other report does.

nbgrader's Formgrader shows the sum of a submission's grades and never its late penalty, so
with ``penalty_method = "zero"`` a late student read 40/40 there and 3/40 in the reports.
This Jupyter server extension, enabled beside nbgrader's ``formgrader`` for instructors
(`course_admin.roles.role_extensions`), makes Formgrader build its API from `CourseAPI`: the
same scores, less the penalty the course's policy gives the total as it is now
(`gradebook.settle_late_penalty`, hand-given points included).
"""

from __future__ import annotations

from typing import Any

from nbgrader.apps.api import NbGraderAPI

from course_admin import gradebook


class CourseAPI(NbGraderAPI):
    """nbgrader's API with each graded submission's score less its late penalty
    (`late_penalty` says how much was taken)."""

    def _penalised(self, assignment: str, entry: dict[str, Any] | None, notebook: str | None = None) -> Any:
        if not entry or not entry.get("student") or entry.get("id") is None:
            return entry  # nothing graded: nothing to take
        with self.gradebook as book:
            penalty = gradebook.settle_late_penalty(book, self, assignment, notebook or assignment, entry["student"])
        entry["late_penalty"] = penalty
        entry["score"] = max(float(entry.get("score") or 0) - penalty, 0.0)
        return entry

    def get_submission(self, assignment_id: str, student_id: str, ungraded: Any = None, students: Any = None) -> Any:
        return self._penalised(assignment_id, super().get_submission(assignment_id, student_id, ungraded, students))

    def get_submissions(self, assignment_id: str) -> list:
        return [self._penalised(assignment_id, entry) for entry in super().get_submissions(assignment_id)]

    def get_notebook_submissions(self, assignment_id: str, notebook_id: str) -> list:
        return [self._penalised(assignment_id, entry, notebook_id)
                for entry in super().get_notebook_submissions(assignment_id, notebook_id)]

    def get_student_notebook_submissions(self, student_id: str, assignment_id: str) -> list:
        return [self._penalised(assignment_id, {**entry, "student": student_id}, entry["name"])
                for entry in super().get_student_notebook_submissions(student_id, assignment_id)]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "course_admin.formgrader"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # Formgrader's handlers make their API from this module attribute at each request
    # (nbgrader.server_extensions.formgrader.base.BaseHandler.api): the one place to swap it.
    from nbgrader.server_extensions.formgrader import base

    base.NbGraderAPI = CourseAPI
    serverapp.log.info("course_admin.formgrader: Formgrader's scores subtract the course's late penalty")

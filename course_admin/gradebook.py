"""The gradebook's database: URLs, the schema made once, and the record of each grading.

nbgrader's gradebook is the course's record. It can live in SQLite (``gradebook.db`` in the
course root, the default) or in a server database shared by several graders
(``postgresql://`` or ``postgresql+psycopg://``: psycopg 3, the ``postgres`` extra).

* `check` turns a missing driver or an unreachable server into one sentence
  (`GradebookUnavailable`) instead of a traceback from deep inside SQLAlchemy.
* `ensure_schema` creates nbgrader's tables once, whoever starts first: nbgrader's
  ``Gradebook()`` creates them without a lock, and two graders starting together on an
  empty PostgreSQL database crash on ``CREATE TYPE`` (IntegrityError). A lock (`schema_lock`:
  a PostgreSQL advisory lock, or a lock on an SQLite file's folder) serialises the first use.
* The table ``course_grading`` records, per lab and student, which submission (its
  SHA-256) was graded, whether that grading finished, why it failed, and the graded notebook
  itself. Any course root pointed at the same database can therefore report every grade and
  put every graded notebook where Formgrader and nbgrader's feedback read it
  (`pipeline.Workspace.sync`), whichever machine graded it; a grading killed mid-notebook
  stays "grading" and is never read as a 0.
"""

from __future__ import annotations

import ast
import contextlib
import datetime
import fcntl
import gzip
import os
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning

STARTED, GRADED, FAILED = "grading", "graded", "failed"
# pg_advisory_lock's key: any fixed 64-bit number the course alone uses ("course-gb").
_LOCK_KEY = 0x636F757273652D67
_metadata = sa.MetaData()
grading = sa.Table(
    "course_grading", _metadata,
    sa.Column("assignment", sa.String(128), primary_key=True),
    sa.Column("student", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # STARTED, GRADED or FAILED
    sa.Column("submission_sha256", sa.String(64), nullable=False),
    sa.Column("notebook", sa.LargeBinary, nullable=True),  # the graded notebook, gzip-compressed
    sa.Column("error", sa.Text, nullable=False, default=""),
    sa.Column("updated", sa.DateTime, nullable=False),
)


class GradebookUnavailable(RuntimeError):
    """The gradebook's database cannot be used; the message says why and what to do."""


@dataclass
class Record:
    """One lab of one student as the last grading left it."""

    state: str
    submission_sha256: str
    error: str
    notebook: bytes | None  # the graded notebook (nbformat JSON), when state is GRADED


def normalise_url(url: str) -> str:
    """The URL SQLAlchemy is given. ``postgresql://`` and ``postgres://`` mean psycopg 3
    (the course's ``postgres`` extra) whatever SQLAlchemy's default for the plain name."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def shown_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def check(url: str) -> None:
    """Raise `GradebookUnavailable` unless the database's driver is installed and, for a
    server database, the server answers and accepts the login."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise GradebookUnavailable(f"{url!r} is not a database URL (expected e.g. sqlite:///gradebook.db or "
                                   "postgresql://user:password@host:5432/database)") from None
    try:
        dialect = parsed.get_dialect()
        dialect.import_dbapi()
    except (ImportError, sa.exc.NoSuchModuleError) as missing:
        extra = " Install it with: pip install 'explaining-nlp-models[postgres]' (psycopg 3)." \
            if parsed.get_backend_name() == "postgresql" else ""
        raise GradebookUnavailable(f"the database driver for {shown_url(url)} is not installed ({missing}).{extra}") \
            from None
    if parsed.get_backend_name() == "sqlite":
        return
    engine = sa.create_engine(url, connect_args={"connect_timeout": 10} if is_postgres(url) else {})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        reason = str(error.orig or error).strip().splitlines()[0][:300]
        raise GradebookUnavailable(f"cannot connect to the gradebook {shown_url(url)}: {reason}") from None
    finally:
        engine.dispose()


@contextlib.contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Held by one process at a time per database: around creating the schema and recording
    a lab, which nbgrader does without a lock of its own. PostgreSQL: an advisory lock, held
    by a connection of its own (released if the process dies); SQLite: an flock on the
    database file's folder (no file is made)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK_KEY})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                    connection.commit()
        finally:
            engine.dispose()
    elif parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = os.open(Path(parsed.database).resolve().parent, os.O_RDONLY)
        try:
            fcntl.flock(folder, fcntl.LOCK_EX)
            yield
        finally:
            os.close(folder)  # closing releases the lock
    else:
        yield


def ensure_schema(url: str, course_id: str) -> None:
    """nbgrader's tables, its course rows and the course's own table, made once (under
    `schema_lock`). nbgrader's own tables first: it stamps its alembic version only when the
    database has no table at all."""
    from nbgrader.api import Gradebook

    with schema_lock(url), warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        _stamp_new(url)
        # nbgrader's preprocessors open the gradebook without a course id, which adds the row
        # "default_course" on first use: made here too, or two graders would insert it at once.
        for course in dict.fromkeys((course_id, "default_course")):
            with Gradebook(url, course):
                pass
        _create_table(url)


def _stamp_new(url: str) -> None:
    """Stamp a gradebook with no table yet with nbgrader's schema version, as nbgrader's
    ``Gradebook()`` does (a table ``alembic_version`` holding the newest revision of its
    migrations). nbgrader learns that revision by running ``alembic heads`` in a subprocess: 3 s
    alone, 6 s while a learner's kernel starts beside it, for every new course. Here it is read
    from the migration files (`nbgrader_schema_head`). A gradebook stamped here has a table, so
    ``Gradebook()``, opened next (`ensure_schema`), makes its own tables and leaves the stamp
    alone; a stamp interrupted before its row is completed by the next call."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        tables = sa.inspect(engine).get_table_names()
        if tables and "alembic_version" not in tables:
            return  # nbgrader's own making (an older gradebook, or one made by nbgrader's commands)
        with engine.begin() as connection:
            if not tables:
                connection.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            if connection.execute(sa.text("SELECT COUNT(*) FROM alembic_version")).scalar() == 0:
                connection.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES (:head)"),
                                   {"head": nbgrader_schema_head()})
    finally:
        engine.dispose()


def nbgrader_schema_head() -> str:
    """The newest revision of nbgrader's gradebook schema, the one ``alembic heads`` names: the
    revision of nbgrader's migration files that no other file revises (each file assigns its
    ``revision`` and the ``down_revision`` it follows, as constants)."""
    from nbgrader.dbutil import ALEMBIC_DIR

    revisions, revised = set(), set()
    for path in sorted(Path(ALEMBIC_DIR, "versions").glob("*.py")):
        constants = {target.id: ast.literal_eval(node.value) for node in ast.parse(path.read_text()).body
                     if isinstance(node, ast.Assign) for target in node.targets
                     if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")}
        if "revision" in constants:
            revisions.add(constants["revision"])
            parent = constants.get("down_revision")
            revised.update(parent if isinstance(parent, (tuple, list)) else [parent])
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RuntimeError(f"nbgrader's migrations have {len(heads)} heads ({heads}), not one")
    return heads[0]


def _create_table(url: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        _metadata.create_all(engine)
    finally:
        engine.dispose()


def _ensure_table(url: str) -> None:
    """The course's table, for a gradebook nbgrader made (grading started by `nbgrader autograde`)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            present = sa.inspect(connection).has_table(grading.name)
    finally:
        engine.dispose()
    if not present:
        with schema_lock(url):
            _create_table(url)


@contextlib.contextmanager
def _connection(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _save(url: str, assignment: str, student: str, **values: object) -> None:
    """Insert or replace one row (a delete and an insert in one transaction: portable)."""
    key = (grading.c.assignment == assignment) & (grading.c.student == student)
    with _connection(url) as connection:
        connection.execute(grading.delete().where(key))
        connection.execute(grading.insert().values(assignment=assignment, student=student,
                                                   updated=datetime.datetime.now(datetime.UTC).replace(tzinfo=None),
                                                   **{"error": "", "notebook": None, **values}))


def start(url: str, assignment: str, student: str, sha256: str) -> None:
    """A grading of this submission has begun: until `finish`, the lab reads "not graded"."""
    _ensure_table(url)
    _save(url, assignment, student, state=STARTED, submission_sha256=sha256)


def finish(url: str, assignment: str, student: str, sha256: str, notebook: bytes) -> None:
    """The grading of this submission finished; `notebook` is the graded notebook."""
    _save(url, assignment, student, state=GRADED, submission_sha256=sha256, notebook=gzip.compress(notebook))


def fail(url: str, assignment: str, student: str, sha256: str, reason: str) -> None:
    _save(url, assignment, student, state=FAILED, submission_sha256=sha256, error=reason[:2000])


def record(url: str, assignment: str, student: str) -> Record | None:
    """What the last grading of this lab of this student left, or None (never graded here,
    or graded by a course version without the record)."""
    with _connection(url) as connection:
        if not sa.inspect(connection).has_table(grading.name):
            return None
        row = connection.execute(grading.select().where(
            (grading.c.assignment == assignment) & (grading.c.student == student))).first()
    if row is None:
        return None
    try:
        notebook = gzip.decompress(row.notebook) if row.notebook is not None else None
    except (OSError, zlib.error, EOFError):
        notebook = None
    return Record(row.state, row.submission_sha256, row.error or "", notebook)


def graded_students(url: str, assignment: str) -> list[str]:
    """Students whose last grading of `assignment` finished."""
    with _connection(url) as connection:
        if not sa.inspect(connection).has_table(grading.name):
            return []
        rows = connection.execute(sa.select(grading.c.student).where(
            (grading.c.assignment == assignment) & (grading.c.state == GRADED))).all()
    return sorted(row.student for row in rows)


def settle_late_penalty(book: object, parent: object, assignment: str, notebook: str, student: str) -> float:
    """The late policy (nbgrader's `AssignLatePenalties.plugin_class`, as `parent`'s
    configuration sets it) applied to the notebook's total as it is now, hand-given points
    included, stored in the gradebook `book` and returned. nbgrader applies it once, when
    autograding, before any written answer is graded: "zero" then left the hand-given points
    standing, and Formgrader showed no penalty at all. Every report and Formgrader (through
    `course_admin.formgrader`) call this, so they show one total."""
    from nbgrader.preprocessors import AssignLatePenalties

    submission = book.find_submission(assignment, student)
    graded = book.find_submission_notebook(notebook, assignment, student)
    penalty = None
    if submission.total_seconds_late > 0:
        assign = AssignLatePenalties(parent=parent)
        assign.init_plugin()
        penalty = assign.plugin_inst.late_submission_penalty(student, graded.score, submission.total_seconds_late)
        if penalty is not None:  # nbgrader's own bounds (AssignLatePenalties._check_late_penalty)
            penalty = min(max(float(penalty), 0.0), float(graded.score))
    if graded.late_submission_penalty != penalty:
        graded.late_submission_penalty = penalty
        book.db.commit()
    return float(penalty or 0)

"""nbgrader configuration of the dropout course (read by every nbgrader command run from this folder).

Source notebooks (with solutions and hidden tests) live in ``solutions/``, the released student
notebooks in ``exercises/``. Submissions, autograded copies, feedback, exports and the gradebook are
instructor data: they live in an ignored workspace, ``instructor/`` by default, or wherever the
environment variable ``DROPOUT_COURSE_WORKSPACE`` points.
"""

import os

c = get_config()  # noqa: F821 - provided by nbgrader's config loader

# Both resolved once, here: nbgrader joins the folders below onto the root, and ``..`` in a path is
# walked on the real folders, so a relative path between two unresolved ones (a root or workspace
# reached through a link) would lead somewhere else.
_root = os.path.dirname(os.path.realpath(__file__))
_workspace = os.path.realpath(os.environ.get("DROPOUT_COURSE_WORKSPACE") or os.path.join(_root, "instructor"))
if "DROPOUT_COURSE_WORKSPACE" in os.environ:
    # A relative workspace means relative to where the instructor ran the command: every process this
    # one starts (nbgrader runs, workers, other folders) must read the same folder.
    os.environ["DROPOUT_COURSE_WORKSPACE"] = _workspace
# nbgrader joins these onto the course root; a relative path keeps its path patterns working.
_rel = os.path.relpath(_workspace, _root)
os.makedirs(_workspace, exist_ok=True)  # the SQLite gradebook cannot be created in a missing folder

c.CourseDirectory.root = _root
c.CourseDirectory.course_id = "dropout-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join(_rel, "submitted")
c.CourseDirectory.autograded_directory = os.path.join(_rel, "autograded")
c.CourseDirectory.feedback_directory = os.path.join(_rel, "feedback")
c.CourseDirectory.solution_directory = os.path.join(_rel, "released_solutions")
# Offline collection (nbgrader zip_collect): put files or zips named <student>__<assignment>.ipynb in
# <workspace>/downloaded/<assignment>/archive/.
c.ZipCollectApp.downloaded_directory = os.path.join(_rel, "downloaded")
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.\-]+)__(?P<file_id>[A-Za-z0-9_]+\.ipynb)"
)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(_workspace, "gradebook.db")
# Generated notebooks must be byte-stable: no execution, no timestamps in them.
c.GenerateAssignment.create_assignment = True
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# The hidden tests of every assignment run torch: give a cell more than the 30 s default on slow CI.
c.Execute.timeout = 120
# nbgrader's feedback would show hidden test cells and tracebacks that quote them (jupyter/nbgrader#917),
# and its output limit counts lines, not bytes: the course's plug-ins fix both.
from autograder.grading.nbgrader_plugins import configure  # noqa: E402

configure(c)
# The course is graded by `python -m autograder grade` only (preflight, sandbox, judge): plain
# `nbgrader autograde` and the formgrader's autograde button are refused before anything runs.
from autograder.grading.grading_route import refuse_other_routes  # noqa: E402

refuse_other_routes(c)

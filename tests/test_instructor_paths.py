"""The README's instructor commands, run verbatim from the repository root, with the course workspace
where instructors put it: outside the repository (a path with a space and a non-ASCII letter), inside
it (given as a relative path), and through the instructor's own link to the folder; locally and on the
loopback Dask cluster. The same class must get the same grades in every layout.

The class: the solution, the released notebook left blank, and a notebook that is not JSON. Every
layout runs the whole cycle (generate, zip_collect, grade, feedback, nbgrader's export, the Canvas
export); the cluster and link layouts re-grade the same submissions with ``grade --force``.

A run where the grader is at fault (here: the released notebook it rebuilds every submission on is
gone) stops before grading with the fix named, and a fault that appears mid-run is a grader error: no
grade in the gradebook, a non-zero exit, the run stopped after a few of them.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.course import ASSIGNMENTS, EXERCISES, ROOT, nbgrader_env

pytestmark = pytest.mark.slow

README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    """The instructor's commands of the README's grading block, in order, as written there."""
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    block = next(b for b in blocks if "python -m autograder grade masks" in b)
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    return [c for c in commands if c.startswith(("nbgrader ", "python -m autograder "))]


def _env(workspace: str) -> dict[str, str]:
    env = nbgrader_env()
    env["DROPOUT_COURSE_WORKSPACE"] = workspace
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    return env


def _run(command: str, env: dict[str, str], *, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if expect is not None:
        assert result.returncode == expect, (
            f"{command}: exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def _put_class(workspace: Path, assignment: str = "masks") -> None:
    """The class's files as an LMS download, where ``nbgrader zip_collect`` reads them."""
    archive = workspace / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    released = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    solution = filled_notebook(released, submission_cells(assignment, None))
    nbformat.write(solution, archive / f"alice__{assignment}.ipynb")
    nbformat.write(released, archive / f"bob__{assignment}.ipynb")
    (archive / f"carol__{assignment}.ipynb").write_text('{"cells": [ not json')
    # mallory answers correctly and looks for the rest of the class, the gradebook and the hidden tests
    # where this layout keeps them: the sandbox's masks must follow the workspace.
    # (A cell of mallory's own after the setup cell; the from-scratch policy may cost it points.)
    mallory = filled_notebook(released, submission_cells(assignment, None))
    setup = next(i for i, c in enumerate(mallory.cells) if c.metadata.get("nbgrader", {}).get("locked"))
    places = [str(workspace.resolve()), str(ROOT / "solutions")]
    mallory.cells.insert(setup + 1, nbformat.v4.new_code_cell(_LOOK_AROUND.format(places=places)))
    nbformat.write(mallory, archive / f"mallory__{assignment}.ipynb")


_LOOK_AROUND = """\
import glob as _glob
_read = 0
for _place in {places!r}:
    for _path in _glob.glob(_place + '/**/*', recursive=True):
        try:
            with open(_path, 'rb') as _handle:
                _read += bool(_handle.read(1))
        except OSError:
            pass
print('LEAKED', _read)
"""


def _leaked(workspace: Path) -> str:
    notebook = nbformat.read(workspace / "autograded/mallory/masks/masks.ipynb", as_version=4)
    texts = [o.get("text", "") for cell in notebook.cells for o in cell.get("outputs", [])]
    return next(line for text in texts for line in text.splitlines() if line.startswith("LEAKED"))


def _grades(workspace: Path, assignment: str = "masks") -> dict[str, tuple[str, str, str]]:
    with (workspace / "grades" / f"{assignment}.csv").open() as handle:
        return {
            row["student"]: (row["score"], row["max_score"], row["status"]) for row in csv.DictReader(handle)
        }


def _gradebook_scores(workspace: Path) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook("sqlite:///" + str(workspace / "gradebook.db")) as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                found[(assignment.name, submission.student.id)] = float(submission.score)
    return found


#: Folders every kernel sees empty anyway (the sandbox's README list): a workspace there would not show
#: whether the masks follow the workspace.
_EMPTY_IN_KERNELS = ("/tmp", "/var/tmp", "/home", "/root", "/run", "/var/lib", "/mnt")


@pytest.fixture
def outside_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace outside the repository, with a space and a non-ASCII letter in its path, beside the
    repository where that can be written (a folder the kernel would see unless it is masked), else
    under the temporary folder."""
    import tempfile

    for parent in (ROOT.parent, Path("/srv"), Path("/opt")):
        if os.access(parent, os.W_OK) and not str(parent.resolve()).startswith(_EMPTY_IN_KERNELS):
            base = Path(tempfile.mkdtemp(prefix="dropout-course-test-", dir=parent))
            break
    else:
        base = tmp_path
    try:
        yield base / "courses ü" / "dropout course"
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def inside_workspace() -> Iterator[str]:
    """A workspace inside the repository (under the ignored instructor/), named relatively."""
    relative = f"instructor/test-{uuid.uuid4().hex[:8]}"
    try:
        yield relative
    finally:
        shutil.rmtree(ROOT / relative, ignore_errors=True)


def _cycle(workspace: str) -> tuple[dict[str, tuple[str, str, str]], Path]:
    """The README's commands for masks, verbatim; the grades CSV and the workspace's resolved path."""
    env = _env(workspace)
    folder = (ROOT / workspace).resolve() if not os.path.isabs(workspace) else Path(workspace).resolve()
    _put_class(folder)
    outputs = {}
    for command in readme_commands():
        if "selfcheck" in command or command.startswith("python -m autograder release"):
            continue  # the self-check and the release are the instructor's checks of the course itself
        if command == "nbgrader collect masks":
            command = "nbgrader zip_collect masks"  # the README's alternative: no exchange on this machine
        outputs[command] = _run(command, env)
    grade = outputs["python -m autograder grade masks"].stdout
    assert "grader errors" not in grade, grade
    grades = _grades(folder)
    assert (folder / "feedback/alice/masks/masks.html").is_file()
    assert "HIDDEN TESTS" not in (folder / "feedback/bob/masks/masks.html").read_text()
    with (folder / "grades.csv").open() as handle:
        exported = {row["student_id"]: row["score"] for row in csv.DictReader(handle)}
    assert float(exported["alice"]) == float(grades["alice"][1]) > 0
    canvas = (folder / "grades/canvas-grades.csv").read_text()
    assert "alice" in canvas
    return grades, folder


def _expected(grades: dict[str, tuple[str, str, str]], workspace: Path) -> None:
    alice, bob, carol, mallory = grades["alice"], grades["bob"], grades["carol"], grades["mallory"]
    assert alice[2] == "graded" and float(alice[0]) == float(alice[1]) > 0, alice
    assert mallory[2] == "graded", mallory
    assert _leaked(workspace) == "LEAKED 0"
    assert bob[2] == "graded" and float(bob[0]) < float(bob[1]), bob
    assert carol[2] == "failed" and float(carol[0]) == 0.0, carol


def test_the_readme_names_the_commands_this_test_runs() -> None:
    commands = readme_commands()
    for needed in ("nbgrader generate_assignment masks --force", "python -m autograder grade masks",
                   "nbgrader generate_feedback masks", "python -m autograder export"):  # fmt: skip
        assert needed in commands, commands
    assert any(command.startswith("nbgrader export --to") for command in commands), commands


@pytest.mark.timeout(1800)
def test_the_same_class_gets_the_same_grades_wherever_the_workspace_is(
    tmp_path: Path, inside_workspace: str, outside_workspace: Path
) -> None:
    outside, outside_folder = _cycle(str(outside_workspace))
    _expected(outside, outside_folder)
    inside, inside_folder = _cycle(inside_workspace)
    assert inside_folder.is_relative_to(ROOT)
    assert inside == outside
    assert _leaked(inside_folder) == "LEAKED 0"

    # The instructor's own link to the outside workspace: the same submissions, graded again.
    link = tmp_path / "my course link"
    link.symlink_to(outside_folder, target_is_directory=True)
    result = _run("python -m autograder grade masks --force", _env(str(link)))
    assert "grader errors" not in result.stdout, result.stdout
    assert _grades(outside_folder) == outside

    # The loopback cluster, the outside workspace: the same grades again.
    from autograder.grading.cluster import LoopbackCluster

    with LoopbackCluster(workers=2) as cluster:
        result = _run(f"python -m autograder grade masks --force --scheduler {cluster.address}",
                      _env(str(outside_folder)))  # fmt: skip
    assert "on the Dask cluster" in result.stdout, result.stdout
    assert _grades(outside_folder) == outside
    assert _leaked(outside_folder) == "LEAKED 0"


@pytest.mark.timeout(1800)
def test_the_solution_scores_full_marks_in_every_assignment_outside_the_repository(tmp_path: Path) -> None:
    """As a student would submit it: every assignment, the workspace under the temporary folder,
    graded locally and then on the loopback cluster."""
    from autograder.grading.cluster import LoopbackCluster

    workspace = tmp_path / "ws äöü" / "course"
    env = _env(str(workspace))
    for assignment in ASSIGNMENTS:
        folder = workspace / "submitted" / "alice" / assignment
        folder.mkdir(parents=True)
        released = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
        nbformat.write(filled_notebook(released, submission_cells(assignment, None)),
                       folder / f"{assignment}.ipynb")  # fmt: skip
        for extra in (EXERCISES / assignment).iterdir():  # data files the notebook reads, if any
            if extra.suffix != ".ipynb" and extra.is_file():
                shutil.copy(extra, folder / extra.name)
        _run(f"python -m autograder grade {assignment}", env)
        score, maximum, status = _grades(workspace, assignment)["alice"]
        assert status == "graded" and float(score) == float(maximum) > 0, (assignment, score, maximum)
    local = _gradebook_scores(workspace)
    with LoopbackCluster(workers=2) as cluster:
        for assignment in ASSIGNMENTS:
            _run(f"python -m autograder grade {assignment} --force --scheduler {cluster.address}", env)
            score, maximum, status = _grades(workspace, assignment)["alice"]
            assert status == "graded" and float(score) == float(maximum) > 0, (assignment, score, maximum)
    assert _gradebook_scores(workspace) == local


def test_a_set_up_the_grader_cannot_grade_stops_before_grading_and_says_how_to_fix_it(
    tmp_path: Path,
) -> None:
    """A course whose released notebooks are missing (every submission is rebuilt on them)."""
    workspace = tmp_path / "ws"
    env = _env(str(workspace))
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    folder = workspace / "submitted" / "alice" / "masks"
    folder.mkdir(parents=True)
    shutil.copy(EXERCISES / "masks/masks.ipynb", folder / "masks.ipynb")
    result = _run(f"python -m autograder grade masks --course {shlex.quote(str(course))}", env, expect=2)
    assert "cannot grade masks" in result.stderr, result.stderr
    assert "nbgrader generate_assignment masks" in result.stderr, result.stderr
    assert not (workspace / "autograded" / "alice").exists()  # nothing was graded
    doctor = _run(
        f"python -m autograder doctor --course {shlex.quote(str(course))} --no-sandbox", env, expect=2
    )
    assert "FAIL" in doctor.stdout and "no released notebook" in doctor.stdout, doctor.stdout


def test_a_fault_of_the_grader_mid_run_records_no_grade_exits_non_zero_and_stops_early(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The released notebook disappears after the run's checks (a fault no check can foresee): each
    submission is a grader error, none gets a 0 in the gradebook or the CSV, the run stops after a few,
    ``grade`` exits non-zero, and the next run (fixed) grades them all."""
    from autograder.grading.classroom import grade_class, load_course
    from autograder.grading.results import STOP_AFTER_SAME_FAULT
    from autograder.grading.synthetic_class import make_graded_course, solution_submission, submit

    course = make_graded_course(tmp_path / "course", ("masks",))
    students = [f"s{index}" for index in range(STOP_AFTER_SAME_FAULT + 3)]
    for student in students:
        submit(course, student, "masks", solution_submission(course, "masks"))
    release = course / "release" / "masks" / "masks.ipynb"
    kept = release.read_bytes()
    from nbgrader.api import Gradebook

    with Gradebook(load_course(course).db_url) as gradebook:  # the class list, as an instructor keeps one
        for student in students:
            gradebook.add_student(student)

    import autograder.grading.classroom as classroom

    real_setup = classroom.grading_setup

    def setup_then_lose_the_release(*args, **kwargs):  # the fault appears once grading has started
        manager = real_setup(*args, **kwargs)
        value = manager.__enter__()
        release.unlink()
        try:
            yield value
        finally:
            manager.__exit__(None, None, None)

    from contextlib import contextmanager

    parser = argparse.ArgumentParser()
    classroom.add_arguments(parser)
    classroom.grading_setup = contextmanager(setup_then_lose_the_release)
    try:
        exit_code = classroom.run(parser.parse_args(["masks", "--course", str(course), "--jobs", "1"]))
    finally:
        classroom.grading_setup = real_setup
    shown = capsys.readouterr()
    assert exit_code != 0
    assert "stopped early" in shown.out and "doctor" in shown.out, shown.out
    assert f"grader errors: {STOP_AFTER_SAME_FAULT}" in shown.out, shown.out
    left = len(students) - STOP_AFTER_SAME_FAULT
    assert f"not graded (the run stopped early; the next run grades them): {left}" in shown.out
    assert _gradebook_scores(course) == {}
    rows = _grades(course)
    assert all(row == ("", "23.0", "grader-error") for row in rows.values()), rows

    # The LMS export leaves their cells blank (not 0) and says why.
    from autograder.grading import lms_export

    parser = argparse.ArgumentParser()
    lms_export.add_arguments(parser)
    assert lms_export.run(parser.parse_args(["--course", str(course)])) == 0
    assert "grader error" in capsys.readouterr().err
    with (course / "grades" / "canvas-grades.csv").open() as handle:
        canvas = list(csv.DictReader(handle))
    assert canvas[0]["Student"] == "Points Possible"
    assert {row["SIS Login ID"]: row["masks"] for row in canvas[1:]} == dict.fromkeys(students, ""), canvas

    release.write_bytes(kept)
    again = grade_class("masks", course=load_course(course), jobs=2, progress=False)
    assert again.ok and sorted(r.student for r in again.results) == students
    assert all(r.score == r.max_score for r in again.results)
    assert len(_gradebook_scores(course)) == len(students)


def _ordinary_user_python(base: Path) -> tuple[list[str], str] | str:
    """As root: a command prefix that runs as ``nobody`` and an interpreter ``nobody`` can run, which
    imports this project's environment; or why this machine cannot offer one (a string)."""
    if os.geteuid() != 0:
        return [], sys.executable  # already an ordinary user
    import pwd
    import stat

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        return "no user 'nobody' on this machine"
    setpriv = shutil.which("setpriv")
    system_python = Path(f"/usr/bin/python3.{sys.version_info.minor}")
    if setpriv is None or not system_python.is_file():
        return f"needs setpriv and {system_python} (an interpreter outside root's home) to run as nobody"
    site_packages = Path(sys.prefix) / "lib" / f"python3.{sys.version_info.minor}" / "site-packages"
    for path in (ROOT, site_packages):
        for folder in (path, *path.parents):
            if not folder.stat().st_mode & stat.S_IXOTH:
                return f"{folder} cannot be entered by other users, so nobody cannot read {path}"
    venv = base / "venv"
    subprocess.run([str(system_python), "-m", "venv", "--without-pip", str(venv)], check=True)
    own_site = venv / "lib" / f"python3.{sys.version_info.minor}" / "site-packages"
    (own_site / "dropout_course_env.pth").write_text(f"import site; site.addsitedir({str(site_packages)!r})")
    alembic = venv / "bin" / "alembic"  # nbgrader runs it from PATH; the project's one starts root's Python
    script = "import sys\nfrom alembic.config import main\nsys.exit(main())\n"
    alembic.write_text(f"#!{venv}/bin/python\n{script}")  # a shebang: no space in this path
    alembic.chmod(0o755)
    prefix = [setpriv, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--"]
    return prefix, str(venv / "bin" / "python")


@pytest.mark.timeout(1200)
def test_an_ordinary_user_grades_with_the_sandbox_and_no_cgroups() -> None:
    """Most instructors grade from a JupyterHub account, not as root: no cgroup can be made, bubblewrap
    runs unprivileged, kernels start as new programs. Same grades as every other layout."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="ordinary-user-", dir="/tmp"))
    try:
        base.chmod(0o755)
        found = _ordinary_user_python(base)
        if isinstance(found, str):
            pytest.skip(found)
        prefix, python = found
        workspace = base / "workspace ü"
        env = _env(str(workspace))
        _put_class(workspace)
        _run("nbgrader generate_assignment masks --force", env)  # writes exercises/: the repository's owner
        _run("nbgrader zip_collect masks", env)
        home = base / "home"
        home.mkdir()
        if prefix:
            subprocess.run(["chown", "-R", "nobody:", str(workspace), str(home)], check=True)
        user_env = {**env, "HOME": str(home), "PATH": f"{Path(python).parent}{os.pathsep}{env['PATH']}"}
        # nbconvert's templates live in the project's environment (this test's interpreter is a stand-in)
        user_env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")

        def as_user(command: list[str]) -> subprocess.CompletedProcess[str]:
            result = subprocess.run(
                [*prefix, *command], cwd=ROOT, env=user_env, capture_output=True, text=True, timeout=900
            )
            assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            return result

        who = as_user([python, "-c", "import os; print(os.geteuid())"]).stdout.strip()
        assert who != "0"
        doctor = as_user([python, "-m", "autograder", "doctor", "--assignment", "masks"])
        assert "not root" in doctor.stdout, doctor.stdout
        graded = as_user([python, "-m", "autograder", "grade", "masks"])
        assert "bubblewrap: private file view" in graded.stdout, graded.stdout
        assert "forked from a preloaded kernel process" not in graded.stdout, graded.stdout
        assert "kernels start as new programs" in graded.stdout, graded.stdout
        assert "grader errors" not in graded.stdout, graded.stdout
        _expected(_grades(workspace), workspace)
        # Feedback and export do not start kernels: run with the project's own interpreter (the stand-in
        # above is Debian's Python, whose `re` the installed soupsieve rejects when nbconvert renders).
        _run("nbgrader generate_feedback masks", env)
        _run("python -m autograder export", env)
        assert (workspace / "feedback/alice/masks/masks.html").is_file()
    finally:
        shutil.rmtree(base, ignore_errors=True)

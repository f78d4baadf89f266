"""Grading into a PostgreSQL gradebook: a real server, started on loopback for this test.

The server binaries come from Debian's ``postgresql`` package, which ``.ci/system-deps.sh`` installs.
The test skips, with the reason, where they are missing or where it cannot run them (PostgreSQL
refuses to run as root, so the test needs root to start it as the ``postgres`` user).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.grading.autograde import filled_notebook, submission_cells
from autograder.grading.catalogue import entries
from autograder.grading.classroom import grade_class, load_course
from autograder.grading.sandbox import Limits
from autograder.grading.synthetic_class import (
    make_graded_course,
    release_notebook,
    solution_submission,
    submit,
)


def _server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _why_not() -> str | None:
    if _server_binaries() is None:
        return (
            "PostgreSQL server binaries not found (Debian package postgresql; .ci/system-deps.sh installs it)"
        )
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting the test server as the postgres user needs root and runuser"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user on this machine"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    bin_dir = _server_binaries()
    data = Path(tempfile.mkdtemp(prefix="pg-gradebook-", dir="/var/tmp"))
    shutil.chown(data, "postgres", "postgres")
    port = _free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120
        )

    try:
        as_postgres(str(bin_dir / "initdb"), "-D", str(data / "db"), "--auth=trust", "-U", "postgres")
        options = f"-k {data} -p {port} -c listen_addresses=127.0.0.1"
        as_postgres(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data / "db"),
            "-o",
            options,
            "-l",
            str(data / "log"),
            "-w",
            "start",
        )
        as_postgres(
            str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook"
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/gradebook"
    finally:
        stop = [str(bin_dir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"]
        subprocess.run(["runuser", "-u", "postgres", "--", *stop], capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def test_a_class_is_graded_into_postgresql(postgres_url: str) -> None:
    from nbgrader.api import Gradebook

    base = Path(tempfile.mkdtemp(prefix="pg-class-", dir="/var/tmp"))
    try:
        course = make_graded_course(base / "course", ("masks",))
        release = release_notebook(course, "masks")
        wrong = next(e for e in entries("masks") if e.name == "randn_mask")
        submit(course, "alice", "masks", solution_submission(course, "masks"))
        submit(course, "bob", "masks", filled_notebook(release, submission_cells("masks", wrong)))
        submit(course, "carol", "masks", "not a notebook")
        # A fresh server database: the grader registers the assignment itself, then grades in parallel.
        report = grade_class(
            "masks", course=load_course(course, postgres_url), jobs=2, progress=False,
            limits=Limits(cell_timeout_s=60, notebook_timeout_s=300),
        )  # fmt: skip
        by_student = {result.student: result for result in report.results}
        assert by_student["alice"].score == by_student["alice"].max_score
        assert 0 < by_student["bob"].max_score - by_student["bob"].score
        assert by_student["carol"].status == "failed"
        assert "TCP" in report.isolation  # a TCP gradebook URL leaves the network namespace out
        with Gradebook(postgres_url) as gradebook:
            assert gradebook.find_submission("masks", "alice").score == by_student["alice"].score
            assert gradebook.find_submission("masks", "bob").score == by_student["bob"].score
    finally:
        shutil.rmtree(base, ignore_errors=True)

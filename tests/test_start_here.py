"""The intro's "Start here" works for a student: run its commands, as written, in a fresh environment.

The test reads the two shell blocks of the "Start here: students" section of ``book/intro.md`` and
runs them the way a student would, on a copy of the repository's tracked files (what a clone gives):

* ``python3 -m venv .venv`` creates a fresh virtual environment (no ``--system-site-packages``: every
  package comes through pip, which finds the local torch wheel through the machine's pip configuration);
* ``source .venv/bin/activate`` becomes the same ``PATH`` and ``VIRTUAL_ENV`` for later commands;
* ``pip install -e ".[student]"`` and ``python -m autograder data`` run as written;
* ``jupyter lab exercises/masks/masks.ipynb`` starts as written, plus the options a test needs (no
  browser, a chosen port and token, ``--allow-root`` when run as root); the test asks the server for the
  notebook (JupyterLab serves the notebook's folder) and for the Python kernel, then stops the server;
* ``nbgrader validate exercises/masks/masks.ipynb`` runs on the released notebook (it must report the
  unanswered cells) and on the same notebook with the solutions' answers filled in (it must report
  success).

Network: only pip's package index (PyPI or the machine's local mirror); the data command finds no
network here and must say which fallback it used. Cost: about 2-4 minutes, most of it installing
torch and JupyterLab into the fresh environment. Any other command in the section fails the test, so
the page and the test cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INTRO = ROOT / "book" / "intro.md"
SECTION = "## Start here: students"
EXERCISE = "exercises/masks/masks.ipynb"
SOLUTION = ROOT / "solutions" / "masks" / "masks.ipynb"


def start_here_commands() -> list[str]:
    """The commands of the section's ``bash`` blocks, comments and blank lines removed, in order."""
    text = INTRO.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:end if end != -1 else None]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if command:
                commands.append(command)
    return commands


def test_start_here_lists_the_student_commands() -> None:
    """Cheap check (no install): the section holds exactly the commands the slow test knows how to run."""
    assert start_here_commands() == [
        "python3 -m venv .venv",
        "source .venv/bin/activate",
        'pip install -e ".[student]"',
        "python -m autograder data",
        f"jupyter lab {EXERCISE}",
        f"nbgrader validate {EXERCISE}",
    ]


def _copy_tracked_files(destination: Path) -> None:
    """What a clone of the repository holds: its tracked files (as in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in listed.decode().split("\0"):
        if not name or not (ROOT / name).is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _filled_in(released: Path, solution: Path, destination: Path) -> None:
    """The released notebook with each answer cell's code taken from the solution (markers removed)."""
    answers = {}
    for cell in json.loads(solution.read_text())["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution"):
            lines = "".join(cell["source"]).splitlines(keepends=True)
            answers[meta["grade_id"]] = "".join(
                line for line in lines if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
    notebook = json.loads(released.read_text())
    filled = 0
    for cell in notebook["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if cell["metadata"].get("nbgrader", {}).get("solution") and grade_id in answers:
            cell["source"] = answers[grade_id]
            filled += 1
    assert filled == len(answers) > 0, f"filled {filled} answer cells of {len(answers)}"
    destination.write_text(json.dumps(notebook, indent=1))


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_a_student_can_start_from_the_intro(tmp_path: Path) -> None:
    commands = start_here_commands()
    clone = tmp_path / "dropout-course"
    _copy_tracked_files(clone)
    venv = clone / ".venv"
    env = {key: value for key, value in os.environ.items() if key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    # The student's own Jupyter folders, not this machine's: no kernel or setting leaks in.
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    env["DROPOUT_COURSE_DATA"] = str(tmp_path / "data")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT / ".venv")))
    timings: dict[str, float] = {}

    def shell(command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        start = time.perf_counter()
        result = subprocess.run(shlex.split(command), cwd=clone, env=env, capture_output=True, text=True,
                                timeout=timeout)
        timings[command] = time.perf_counter() - start
        assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{result.stdout[-3000:]}" \
                                       f"\n{result.stderr[-3000:]}"
        return result

    for command in commands:
        if command == "python3 -m venv .venv":
            shell(f"{shlex.quote(sys.executable)} -m venv .venv")
            assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
        elif command == "source .venv/bin/activate":
            env["VIRTUAL_ENV"] = str(venv)
            env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
        elif command.startswith("pip install"):
            assert shutil.which("pip", path=env["PATH"]) == str(venv / "bin" / "pip")
            shell(command, timeout=1200)
            show = shell("python -c 'import torch, autograder, jupyterlab, nbgrader; print(torch.__file__)'")
            assert show.stdout.strip().startswith(str(venv)), "torch must come from the fresh environment"
        elif command == "python -m autograder data":
            out = shell(command)
            said = out.stdout + out.stderr
            assert "Fashion-MNIST" in said, said
            assert re.search(r"\d[\d,]* training and [\d,]+ test images", said), said
        elif command.startswith("jupyter lab "):
            _open_in_jupyterlab(command, clone, env)
        elif command.startswith("nbgrader validate "):
            unanswered = shell(command)
            assert "NotImplementedError" in unanswered.stdout, unanswered.stdout[-2000:]
            assert "Success!" not in unanswered.stdout
            answered = clone / "exercises" / "masks" / "answered.ipynb"
            _filled_in(clone / EXERCISE, SOLUTION, answered)
            success = shell(command.replace(EXERCISE, str(answered.relative_to(clone))))
            assert "Success! Your notebook passes all the tests." in success.stdout, success.stdout[-3000:]
        else:
            pytest.fail(f"the intro's Start here has a command this test does not know: {command!r}")
    print("seconds per command:", {command: round(seconds, 1) for command, seconds in timings.items()})


def _open_in_jupyterlab(command: str, clone: Path, env: dict[str, str]) -> None:
    """Start JupyterLab as the page says; check that it serves the exercise and a Python kernel; stop it."""
    port, token = _free_port(), "start-here-test"
    extra = ["--no-browser", f"--port={port}", f"--ServerApp.token={token}", "--ServerApp.ip=127.0.0.1"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--allow-root")
    log = clone.parent / "jupyterlab.log"
    with log.open("w") as sink:
        server = subprocess.Popen([*shlex.split(command), *extra], cwd=clone, env=env, stdout=sink,
                                  stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        # Given a notebook, JupyterLab serves the notebook's folder and opens the notebook in it.
        opened = Path(EXERCISE).name
        contents = _get_json(f"{base}/api/contents/{opened}?token={token}", server, log)
        assert contents["type"] == "notebook" and contents["content"]["cells"], contents.get("type")
        specs = _get_json(f"{base}/api/kernelspecs?token={token}", server, log)
        assert "python3" in specs["kernelspecs"], specs
        with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as response:
            assert response.status == 200
            assert "JupyterLab" in response.read().decode()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _get_json(url: str, server: subprocess.Popen[bytes], log: Path, wait: float = 180) -> dict:
    deadline = time.monotonic() + wait
    while True:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer {url} within {wait} s:\n{log.read_text()[-3000:]}")
            time.sleep(1)

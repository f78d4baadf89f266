"""The trusted judge: every test cell's verdict is decided by a process that never runs student code.

nbgrader's autograde step runs :class:`~.execute.JudgeExecute` in place of its ``Execute``
(:mod:`autograder.grading.nbgrader_plugins` puts it in the pipeline). It walks the notebook in order
with the kernel alive, as ``Execute`` does:

* a student cell runs in the (sandboxed) kernel as before;
* the locked setup cell runs from the instructor's copy (nbgrader's gradebook), without its
  ``from autograder.checks import ...`` line: the kernel needs only :mod:`autograder.probe`;
* a test cell (visible or hidden) never runs in the kernel. Its plan, the ``checks.check_x(name, ...)``
  calls of the instructor's copy of the cell (:mod:`.plan`), is run here, in the nbgrader process:
  each check holds handles on the kernel's objects and talks to them through the probe
  (:mod:`.kernel`), computes every expected value itself and writes the verdict into the cell's
  outputs (an ``error`` output with the check's message, or a pass line) before nbgrader's
  ``SaveAutoGrades`` reads them.

Before anything runs, the static from-scratch policy (:mod:`.static`) reads every cell the student
can edit. A kernel that dies at cell k keeps the points of the tests judged before k; the tests
after it fail with a message saying the kernel died.

What a student can still do: make their kernel answer anything, which is the same as writing an
answer that returns it. Since every input is the judge's and every expected value is computed here,
the best a forged answer can do is behave like a correct dropout. The kernel never sees a hidden
test's source, so no output of it can leak one into the feedback.
"""

"""The student-side probe: the only grader code that runs in the student's kernel while grading.

The trusted judge (:mod:`autograder.grading.judge`) never runs student code. When a check needs the
student's answer to do something (call a function, construct a layer, run backward, report a saved
tensor), the judge sends one request to the kernel as a one-line call::

    __import__('autograder.probe').probe.handle_attached(globals())

with the request (JSON) in the message's metadata, and this package performs it on the kernel's
objects with :mod:`.executor` and answers with a :class:`Reply`, which the kernel publishes as an
``execute_result`` of the MIME type :data:`MIME`: plain JSON, tensors as base64 raw bytes with dtype,
shape and device stated (:mod:`.wire`). Never pickle, never ``torch.load``. Objects that are not plain
data (a cache, a module, a bound method) stay in the kernel behind handles that later requests name.

Everything here runs in a process the student controls, so nothing here is trusted: a student can
replace this module or forge its replies. The judge treats every reply as hostile, owns every input
it sends, and computes every expected value itself, so the most a forged reply can do is report
what a correct answer would. The probe imports only the standard library and torch.
"""

from __future__ import annotations

from .executor import METADATA_KEY, MIME, Reply, handle, handle_attached

__all__ = ["METADATA_KEY", "MIME", "Reply", "handle", "handle_attached"]

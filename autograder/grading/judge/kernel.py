"""The judge's transport to the student's kernel: one probe request per ``execute_request``.

The judge runs a test cell's checks in a worker thread; each request is handed to the event loop
that owns the kernel client (:meth:`KernelTransport.request`), sent as the constant one-line call
``__import__('autograder.probe').probe.handle_attached(globals())`` with ``store_history=False`` and
the request's JSON in the message's metadata (:data:`autograder.probe.METADATA_KEY`; in the code it
would cost IPython about 30 ms per 100 KB to tokenize), and the reply is read from the
``execute_result`` / ``display_data`` of MIME type :data:`autograder.probe.MIME` that answers *that*
request. Everything else the kernel prints meanwhile is dropped. A reply that does not come before the
time limit interrupts the kernel and fails the check; a kernel that died fails it with a message saying
so. Nothing here parses the reply: that is :func:`autograder.checks.remote.parse_reply`'s job.
"""

from __future__ import annotations

import asyncio
import json
import queue
import time
from typing import Any

from jupyter_core.utils import ensure_async

from autograder.checks.core import CheckFailed
from autograder.probe import METADATA_KEY, MIME


class KernelGone(CheckFailed):
    """The kernel died (or stopped answering) before the judge could ask it."""


_PROBE_CALL = "__import__('autograder.probe').probe.handle_attached(globals())"


async def ask_kernel(client: Any, text: str, timeout: float) -> str | None:
    """Send one request through nbclient's kernel client; the reply text, or None when none came."""
    kc, km = client.kc, client.km
    if km is not None and not await ensure_async(km.is_alive()):
        raise KernelGone(
            "the kernel is no longer running (it died in an earlier cell), so nothing could be checked"
        )
    content = {
        "code": _PROBE_CALL, "silent": False, "store_history": False, "user_expressions": {},
        "allow_stdin": False, "stop_on_error": False,
    }  # fmt: skip
    msg = kc.session.msg("execute_request", content, metadata={METADATA_KEY: text})
    kc.shell_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    deadline = time.monotonic() + timeout
    payload: str | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if km is not None:
                await ensure_async(km.interrupt_kernel())
                await _wait_idle(kc, msg_id, 10.0)  # so the interrupt cannot reach the next cell
            raise CheckFailed(f"the student's code did not answer within {timeout:.0f} s (an endless loop?)")
        try:
            msg = await ensure_async(kc.get_iopub_msg(timeout=min(remaining, 1.0)))
        except (TimeoutError, queue.Empty):
            if km is not None and not await ensure_async(km.is_alive()):
                raise KernelGone(
                    "the kernel died while the judge was asking it (os._exit, a crash or the memory limit)"
                ) from None
            continue
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = msg.get("msg_type")
        content = msg.get("content", {})
        if kind in ("execute_result", "display_data"):
            data = content.get("data", {})
            if isinstance(data, dict) and MIME in data:
                payload = data[MIME]
        elif kind == "status" and content.get("execution_state") == "idle":
            break
    try:  # consume the matching shell reply so the channel stays clean (nbclient ignores strays anyway)
        while True:
            reply = await ensure_async(kc.get_shell_msg(timeout=5))
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
    except (TimeoutError, queue.Empty):
        pass
    return payload if isinstance(payload, str) else None


async def _wait_idle(kc: Any, msg_id: str, seconds: float) -> None:
    """Drain iopub until the request ``msg_id`` reports idle (or ``seconds`` pass)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            msg = await ensure_async(kc.get_iopub_msg(timeout=1.0))
        except (TimeoutError, queue.Empty):
            continue
        if (
            msg.get("parent_header", {}).get("msg_id") == msg_id
            and msg.get("msg_type") == "status"
            and msg.get("content", {}).get("execution_state") == "idle"
        ):
            return


class KernelTransport:
    """:class:`autograder.checks.remote.Transport` over nbclient's kernel client, from a worker thread."""

    def __init__(
        self, client: Any, loop: asyncio.AbstractEventLoop, request_timeout: float, deadline: float
    ) -> None:
        self.client = client
        self.loop = loop
        self.request_timeout = request_timeout
        self.deadline = deadline  # time.monotonic() after which this test cell gets no more requests
        self.count = 0

    binary = False

    def request(self, request: dict) -> str:
        text = json.dumps(request)
        self.count += 1
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise CheckFailed(
                "the checks of this test cell ran past the judge's time limit for one test cell"
            )
        timeout = min(self.request_timeout, remaining)
        future = asyncio.run_coroutine_threadsafe(ask_kernel(self.client, text, timeout), self.loop)
        reply = future.result(timeout + 30)
        if reply is None:
            raise CheckFailed(
                "the notebook's kernel gave no answer to the grader's request (was the probe replaced, "
                "or the display hook changed?)"
            )
        return reply

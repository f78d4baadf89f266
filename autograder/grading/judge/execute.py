"""``JudgeExecute``: nbgrader's ``Execute`` with test cells judged here instead of in the kernel.

See :mod:`autograder.grading.judge` for the design. The instructor's copies of the cells come from
nbgrader's gradebook (``SourceCell``), never from the submitted notebook.

Cost: the judge imports torch and the checks, scans the notebook and makes its first ``meta``-device
tensor (seconds, the first time in a process) in a thread started before the kernel, so that work
overlaps the kernel's start and the student's cells instead of adding to them. In a fork of the
preloaded zygote (:mod:`~autograder.grading.zygote`) all of that is already loaded, and the warm-up
runs at once, in this thread: no module is ever imported from two threads at once there.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

from jupyter_core.utils import ensure_async
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from traitlets import Float

from .. import phases
from ..cells import grade_id
from ..faults import GRADER_ENAME
from ..nbgrader_plugins import BoundedExecute
from .plan import PlanError, checks_module_name, parse_plan, without_checks_import


def _error(message: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename="CheckFailed", evalue=message, traceback=[f"CheckFailed: {message}"]
    )


def _grader_error(message: str) -> NotebookNode:
    return NotebookNode(
        output_type="error", ename=GRADER_ENAME, evalue=message, traceback=[f"{GRADER_ENAME}: {message}"]
    )


def _passed(names: list[str]) -> NotebookNode:
    return NotebookNode(
        output_type="stream", name="stdout", text=f"judged by the grader: passed ({', '.join(names)})\n"
    )


#: Run in the kernel ahead of the first locked (setup) cell: see :mod:`autograder.probe.lazy_dynamo`.
_DEFER_DYNAMO = "__import__('autograder.probe.lazy_dynamo').probe.lazy_dynamo.defer()\n"


class JudgeExecute(BoundedExecute):
    """Run student cells in the kernel; judge test cells in this process from the instructor's copy."""

    judge_timeout = Float(
        180.0, help="seconds the judge may spend on one test cell (all its checks together)"
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        phases.mark("execute")
        self._kernel_ready = False
        self._prepared = False
        info = resources["nbgrader"]
        self._load_instructor_cells(info["db_url"], info["notebook"], info["assignment"])
        self._dead = False
        self._warm_error: BaseException | None = None
        if "autograder.checks" in sys.modules:
            # Preloaded (a fork of the zygote): the warm-up takes milliseconds, so run it now rather
            # than import anything from two threads at once; the thread joined later has nothing to do.
            self._warm_up(list(nb.cells))
            self._warm = threading.Thread(target=lambda: None, daemon=True)
        else:
            self._warm = threading.Thread(target=self._warm_up, args=(list(nb.cells),), daemon=True)
        self._warm.start()
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            phases.mark("executed")

    def _warm_up(self, cells: list[Any]) -> None:
        """Import the checks, apply the static policy, make a first meta tensor (while the kernel starts)."""
        try:
            import torch

            from autograder import checks

            from .static import scan_notebook

            self._module = checks.ASSIGNMENT_MODULES.get(self._module_name)
            self._static = scan_notebook(cells, set(self._tests) | set(self._locked))
            torch.ones(2, device="meta") + 1  # noqa: B018 - the first meta op loads its kernels
        except BaseException as error:  # noqa: BLE001 - reported when the first test cell is judged
            self._warm_error = error

    def _load_instructor_cells(self, db_url: str, notebook: str, assignment: str) -> None:
        with Gradebook(db_url) as gradebook:
            source_nb = gradebook.find_notebook(notebook, assignment)
            solutions = {cell.name for cell in source_nb.solution_cells}
            grades = {cell.name for cell in source_nb.grade_cells}
            sources = {cell.name: cell.source for cell in source_nb.source_cells}
            locked = {cell.name for cell in source_nb.source_cells if cell.locked}
        self._tests = {name: sources.get(name, "") for name in grades - solutions}
        self._locked = {
            name: sources[name] for name in locked - set(self._tests) - solutions if name in sources
        }
        setup = next(iter(self._locked.values()), "")
        module = checks_module_name("\n".join(self._locked.values()) or setup, assignment)
        self._module_name = module
        self._module: Any = None
        self._graded = set()
        for source in self._tests.values():
            try:
                self._graded |= {name for planned in parse_plan(source) for name in planned.answers}
            except PlanError:
                continue

    async def async_execute_cell(
        self,
        cell: NotebookNode,
        cell_index: int,
        execution_count: int | None = None,
        store_history: bool = True,
    ) -> NotebookNode:
        if not self._kernel_ready:
            self._kernel_ready = True
            phases.mark("kernel ready")
        name = grade_id(cell)
        if cell.get("cell_type") != "code":
            return cell
        if name in self._tests:
            started = time.perf_counter()
            cell.outputs = await self._judge(name)
            phases.mark("judge", time.perf_counter() - started)
            return cell
        if self._dead:
            cell.outputs = [_error("not run: the kernel died or was stopped in an earlier cell")]
            return cell
        original = cell.source
        if name in self._locked:
            cell.source = without_checks_import(self._locked[name])
            if not self._prepared:  # before anything of the student's runs: see .lazy_dynamo's docstring
                self._prepared = True
                cell.source = _DEFER_DYNAMO + cell.source
        started = time.perf_counter()
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except DeadKernelError:
            self._dead = True
            cell.outputs = list(cell.get("outputs", [])) + [
                _error("the kernel died while running this cell (os._exit, a crash or the memory limit)")
            ]
            return cell
        except CellTimeoutError:
            # The cell ran past its time limit and ignored the interrupt: stop the kernel for good. The
            # tests judged before keep their points; the rest fail with a message saying why.
            self._dead = True
            await self._stop_kernel()
            cell.outputs = list(cell.get("outputs", [])) + [
                _error(
                    f"this cell ran past the time limit ({float(self.timeout or 0):.0f} s) and did not "
                    "stop when interrupted, so the kernel was stopped (an endless loop that ignores the "
                    "interrupt?)"
                )
            ]
            return cell
        finally:
            cell.source = original
            if name in self._locked:
                phases.mark("setup cell", time.perf_counter() - started)

    async def _async_cleanup_kernel(self) -> None:
        """End the kernel at once when the notebook is done: terminate, not a polite shutdown request.

        nbclient's graceful shutdown sends ``shutdown_request`` and polls until the kernel has run its
        exit handlers and the sandbox has wound down (about a second per submission, measured with the
        phase profile). Nothing the kernel does after the last cell matters to the grade, so the
        launcher gets SIGTERM, which kills the sandbox's whole process tree and removes its cgroup
        (:mod:`autograder.grading.sandbox.launcher`); SIGKILL follows if it is still there after 5 s.
        nbclient's own clean-up then only releases the connection.
        """
        phases.mark("executed")  # the last cell is done: the kernel's end counts as nbgrader's finish
        km = self.km
        try:
            if km is not None and km.has_kernel and await ensure_async(km.is_alive()):
                await km.provisioner.terminate()
                deadline = time.monotonic() + 5.0
                while await ensure_async(km.is_alive()) and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
        except Exception as error:  # noqa: BLE001 - nbclient's clean-up below still kills it
            self.log.warning("could not terminate the kernel: %s", error)
        await super()._async_cleanup_kernel()

    # nbclient's synchronous ``setup_kernel`` calls this wrapper, bound to its own coroutine: rebind it.
    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    async def _stop_kernel(self) -> None:
        """Kill the kernel (it no longer answers interrupts); never raise."""
        try:
            if self.km is not None:
                await ensure_async(self.km.shutdown_kernel(now=True))
        except Exception as error:  # noqa: BLE001 - already dead or unreachable: nothing left to stop
            self.log.warning("could not stop the kernel: %s", error)

    # nbclient binds its synchronous wrapper to its own coroutine: bind it to this one.
    execute_cell = run_sync(async_execute_cell)

    async def _judge(self, name: str) -> list[NotebookNode]:
        if self._dead:
            return [
                _error("not judged: the kernel died or was stopped in an earlier cell; the answers are gone")
            ]
        await asyncio.to_thread(self._warm.join)
        if self._warm_error is not None:
            return [
                _grader_error(
                    f"the judge could not start: {type(self._warm_error).__name__}: {self._warm_error}"
                )
            ]
        from .kernel import KernelTransport

        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + self.judge_timeout
        transport = KernelTransport(self, loop, float(self.timeout or 30), deadline)
        start = time.perf_counter()
        try:
            outputs = await asyncio.wait_for(
                asyncio.to_thread(self._judge_in_thread, name, transport), self.judge_timeout + 60
            )
            self.log.info(
                "judged %s in %.2f s (%d requests)", name, time.perf_counter() - start, transport.count
            )
            return outputs
        except TimeoutError:
            return [_error("the judge ran past its time limit for this test cell")]

    def _judge_in_thread(self, name: str, transport: Any) -> list[NotebookNode]:
        """Run the cell's plan; the outputs nbgrader will score (an error output fails the cell)."""
        from autograder.checks.core import REGISTRY, CheckFailed
        from autograder.checks.remote import Session
        from autograder.checks.scratch import verdict

        try:
            plan = parse_plan(self._tests[name])
        except PlanError as error:
            return [_grader_error(f"the grader is misconfigured for this test cell: {error}")]
        if self._module is None:
            return [_grader_error("the grader is misconfigured: the setup cell names no known assignment")]
        session = Session(transport)
        passed: list[str] = []
        try:
            with session.active():
                session.reset()
                for planned in plan:
                    info = REGISTRY.get(f"{self._module.__name__.rsplit('.', 1)[-1]}.{planned.function}")
                    function = getattr(self._module, planned.function, None)
                    if info is None or function is None:
                        missing = f"the grader is misconfigured: no check named {planned.function}"
                        return [_grader_error(missing)]
                    reasons = self._static.reasons(
                        planned.answers, self._graded, builtin_allowed=info.builtin_allowed
                    )
                    if reasons:
                        return [_error(verdict(list(planned.answers), reasons))]
                    handles = [session.name(answer) for answer in planned.answers]
                    if planned.seed is None:
                        function(*handles)
                    else:
                        function(*handles, seed=planned.seed)
                    passed.append(planned.function)
        except CheckFailed as error:
            return [_error(str(error))]
        except Exception as error:  # noqa: BLE001 - a verdict, never a crash of the judge
            return [
                _error(f"the judge could not check this cell: {type(error).__name__}: {str(error)[:300]}")
            ]
        return [_passed(passed)]

"""Grade one assignment on SLURM: start Dask workers as SLURM jobs, run ``grade`` on them, stop them.

    pip install dask-jobqueue
    cp deploy/slurm/jobqueue.yaml ~/.config/dask/    # then edit the queue, account and prologue
    python deploy/slurm/grade_on_slurm.py masks --jobs 8 [grade options, e.g. --db-url ...]

The scheduler runs in this process (on the login node, or wherever this script runs); each SLURM job
runs ``cores / processes`` single-threaded workers. Not run by the test suite: only the loopback cluster
of tests/test_cluster.py is.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main() -> int:
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignment")
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs to start (default 4)")
    parser.add_argument("--wait", type=int, default=900, help="seconds to wait for the first worker")
    args, grade_options = parser.parse_known_args()
    with SLURMCluster() as cluster:  # settings from jobqueue.yaml
        cluster.scale(jobs=args.jobs)
        with Client(cluster) as client:
            client.wait_for_workers(1, timeout=args.wait)  # the rest join as SLURM starts them
        command = [sys.executable, "-m", "autograder", "grade", args.assignment,
                   "--scheduler", cluster.scheduler_address, *grade_options]  # fmt: skip
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())

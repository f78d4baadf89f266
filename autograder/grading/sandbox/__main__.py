"""``python -I -m autograder.grading.sandbox``: the kernel launcher (see :mod:`.launcher`)."""

from .launcher import main

raise SystemExit(main())

"""dropout-course: the reference dropout implementation, grading checks and instructor pipeline."""

__version__ = "0.1.0"

"""Tasks: synthetic tasks generated locally from a seed (datasets shipped in packages later)."""

from .teacher_student import Dataset as Dataset, teacher_student as teacher_student

__all__ = ["Dataset", "teacher_student"]

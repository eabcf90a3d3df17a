"""The C extensions on the live feed's path (docs/benchmarks.md); everything else is in pyproject.toml.

Built by `pip install -e .` (`make venv`) with the machine's compiler (gcc and the Python headers).
All are optional: without a compiler (a laptop installing only the `sequence` CLI) the install goes
on without them. Each does work that has a Python twin, the reference it is tested against and the
fallback where the extension was not built (the same results, slower):
- edges.core._fastbook (edges/core/native/fastbook.c): a live book handed to an algo's core in one
  C call (its levels into the core's memory, refuel, the call) instead of two Python layers and a
  ctypes call (edges/core/instance.py `AlgoCore.on_book_levels`).
- venues.live._l2book (venues/live/native/l2book.c): the live feeds' level-2 book
  (venues/live/book.py `L2Book`; `PyL2Book` is the twin).
- venues.live._fastfeed (venues/live/native/fastfeed.c): Kraken's checksum of a book side in one C
  call (venues/kraken/feed.py); Kalshi's NO book mirrored from its YES book (venues/kalshi/feed.py).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "edges.core._fastbook",
            ["edges/core/native/fastbook.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "venues.live._l2book",
            ["venues/live/native/l2book.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
        Extension(
            "venues.live._fastfeed",
            ["venues/live/native/fastfeed.c"],
            extra_compile_args=["-O2"],
            optional=True,
        ),
    ]
)

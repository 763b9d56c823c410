"""`python -m pgcourse COMMAND ...` (or the `pgcourse` console script): the course's tools.

    python -m pgcourse start                       copy the course into work/, your own folder (students)
    python -m pgcourse grade PATH... [--out DIR]   grade submitted exercise notebooks (instructors)
    python -m pgcourse exercisegen [--check]       exercises/ from solutions/ (never overwrites changed ones)
    python -m pgcourse bench ppo --seeds 0-31      steps and seconds to solve, over seeds
    python -m pgcourse site [--lessons 00,01]      the course as a website, executed (build/site/html)
"""

from __future__ import annotations

import sys

COMMANDS = {
    "start": "pgcourse.tools.start",
    "grade": "pgcourse.tools.grade",
    "exercisegen": "pgcourse.tools.exercisegen",
    "bench": "pgcourse.tools.bench",
    "site": "pgcourse.tools.site",
}


def main(argv: list[str] | None = None) -> int:
    import importlib

    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip())
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}")
            return 2
        return 0 if argv else 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())

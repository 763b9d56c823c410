"""Tools built on the whole package: `start` (a student's own copy of the course in work/), `grade` (the
instructor's sandboxed grader of submitted exercise notebooks), `exercisegen` (student notebooks from the
solutions) and `bench` (steps and seconds to solve, over seeds). Run them as `python -m pgcourse COMMAND ...`."""

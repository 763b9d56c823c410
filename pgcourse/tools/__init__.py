"""Tools built on the whole package: `bench` (steps and seconds to solve, over seeds) and `exercisegen`
(student notebooks from the solutions). Run them as `python -m pgcourse bench ...` / `python -m pgcourse exercisegen`."""

"""pgcourse: the helper package of the policy-gradient course.

Each lesson's tested reference code lives here under the name the lesson uses,
so later lessons import what earlier ones built.
"""

from pgcourse.seeding import seed_everything
from pgcourse.env_info import show_versions

__version__ = "0.1.0"
__all__ = ["seed_everything", "show_versions", "__version__"]

"""``python -m course_lib.grading NOTEBOOK`` or ``SUBMISSIONS... --out grades.csv``: see ``cli``."""

import sys

from course_lib.grading.cli import main

sys.exit(main())

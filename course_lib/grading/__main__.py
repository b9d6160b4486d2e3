"""``python -m course_lib.grading NOTEBOOK [--solution PATH] [--timeout S]``: see ``grader``."""

import sys

from course_lib.grading.grader import main

sys.exit(main())

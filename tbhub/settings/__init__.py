"""Settings entry point: picks the mode from the environment.

Team mode is selected by `DATABASE_URL` (PostgreSQL) and `REDIS_URL`; without them tbhub runs
embedded (SQLite, in-process worker, in-memory channel layer). See README.md#configuration.
"""

import os

if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
    from tbhub.settings.team import *
else:
    from tbhub.settings.embedded import *

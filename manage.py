#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

A configuration the settings refuse, or a database that does not answer, ends the command with one
line naming the problem instead of a traceback (`--traceback` shows it).
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galactic.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except Exception as exc:
        problem = None if "--traceback" in sys.argv else startup_problem(exc)
        if problem is None:
            raise
        sys.exit(f"error: {problem}")


def startup_problem(exc: Exception) -> str | None:
    """One line for a refused configuration or an unreachable database; None for anything else."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import OperationalError, connections

    if isinstance(exc, ImproperlyConfigured):
        return " ".join(str(exc).split())
    if not isinstance(exc, OperationalError):
        return None
    try:  # only a failure to connect is summed up; any other database error keeps its traceback
        connections["default"].close()
        connections["default"].ensure_connection()
    except OperationalError as again:
        reason = str(again).strip().splitlines()[0]
        return f"the database does not answer at {database_location()} (DATABASE_URL): {reason}"
    return None


def database_location() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


if __name__ == "__main__":
    main()

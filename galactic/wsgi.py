"""WSGI entry point: `gunicorn galactic.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galactic.settings")

application = get_wsgi_application()

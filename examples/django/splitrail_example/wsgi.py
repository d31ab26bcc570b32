"""WSGI entry point: `gunicorn splitrail_example.wsgi` or any WSGI server."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "splitrail_example.settings")

application = get_wsgi_application()

"""Settings of the Splitrail Django example.

The one database is the proxy: Splitrail sends writes to the primary and reads to the replicas,
and makes reads see earlier writes (routing.consistency, docs/configuration.md). So there is no
'replica' entry in DATABASES and no DATABASE_ROUTERS: the application talks to one MySQL server.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# An example: set DJANGO_SECRET_KEY and DJANGO_DEBUG=0 anywhere that matters.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "splitrail-example-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
# "testserver" is the host name of Django's test Client, used by check_read_your_writes.
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "blog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "splitrail_example.urls"
WSGI_APPLICATION = "splitrail_example.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]

DATABASES = {
    "default": {
        # The proxy speaks the MySQL protocol, so the stock MySQL backend (mysqlclient) is used.
        "ENGINE": "django.db.backends.mysql",
        "HOST": os.environ.get("DB_HOST", "127.0.0.1"),
        "PORT": int(os.environ.get("DB_PORT", "6033")),
        "USER": os.environ.get("DB_USER", "app"),
        "PASSWORD": os.environ.get("DB_PASSWORD", "app"),
        "NAME": os.environ.get("DB_NAME", "app"),
        # A new connection per request, closed at its end. The proxy pools the connections to
        # the servers, so opening one to the proxy is cheap; a persistent connection
        # (CONN_MAX_AGE > 0 or None) works too.
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"charset": "utf8mb4"},
    }
}
# No DATABASE_ROUTERS: the proxy routes each statement.

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"

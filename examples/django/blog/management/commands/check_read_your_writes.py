"""Write-then-read on new connections, the way a browser drives the app: POST a new post, follow
the redirect, and expect the post in the list. Each request runs on a database connection of its
own, opened for it and closed after it (what CONN_MAX_AGE = 0 does between real requests), so
nothing ties the read to the connection that wrote.

    python manage.py check_read_your_writes --iterations 200

Prints `N write-then-read pairs, M stale` and exits 1 when M > 0.
"""

import sys
import time
import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.backends.signals import connection_created
from django.test import Client
from django.urls import reverse


class Command(BaseCommand):
    help = "POST a post then GET the list, each on a new database connection; count stale lists."

    def add_arguments(self, parser):
        parser.add_argument("--iterations", type=int, default=200, help="write-then-read pairs (200)")
        parser.add_argument("--author", default="read-your-writes-check", help="author of the posts")

    def handle(self, *args, iterations, author, **options):
        if iterations < 1:
            raise CommandError("--iterations must be at least 1")
        opened = 0

        def count_connection(sender, connection, **kwargs):
            nonlocal opened
            opened += 1

        connection_created.connect(count_connection, weak=False, dispatch_uid="check_read_your_writes")
        # Django's test Client runs requests in-process, through the middleware, URLs and views.
        # Unlike a real server it keeps the connection after a request, so close it explicitly.
        client = Client()
        run = uuid.uuid4().hex[:12]
        stale = []
        started = time.monotonic()
        for i in range(iterations):
            title = f"check {run} {i:06d}"
            connections.close_all()
            response = client.post(reverse("post_create"), {"author": author, "title": title})
            connections.close_all()
            if response.status_code != 302:
                raise CommandError(f"pair {i}: POST {reverse('post_create')} answered {response.status_code}, not a redirect")
            response = client.get(response["Location"])
            connections.close_all()
            if response.status_code != 200:
                raise CommandError(f"pair {i}: GET {response.request['PATH_INFO']} answered {response.status_code}")
            if f"<strong>{title}</strong>" not in response.content.decode():
                stale.append(i)
        elapsed = time.monotonic() - started
        connection_created.disconnect(dispatch_uid="check_read_your_writes")

        # Two requests a pair, each on a connection of its own: otherwise the check proves less.
        if opened != 2 * iterations:
            raise CommandError(f"expected {2 * iterations} database connections (one a request), saw {opened}")
        settings = connections["default"].settings_dict
        self.stderr.write(
            f"against {settings['HOST']}:{settings['PORT']}, {opened} database connections, {elapsed:.1f}s"
        )
        if stale:
            shown = ", ".join(str(i) for i in stale[:10]) + (" ..." if len(stale) > 10 else "")
            self.stderr.write(f"stale pairs (the list lacked the post just created): {shown}")
        self.stdout.write(f"{iterations} write-then-read pairs, {len(stale)} stale")
        if stale:
            sys.exit(1)

"""`python manage.py rqstats`: django-rq's queue figures, with one line instead of a traceback when
Redis does not answer."""

from django_rq.management.commands import rqstats

from galactic.events.cli import one_line_redis_errors


class Command(rqstats.Command):
    @one_line_redis_errors
    def handle(self, *args, **options) -> None:
        super().handle(*args, **options)

"""What the events machinery tells the apps."""

from django.dispatch import Signal

# Sent once by each GameWorker, the first time it waits with nothing to do (keyword argument:
# worker). An app loads here what its events need and would otherwise load in the first one,
# making that event late (the combat app: its compiled battle engine, about 0.7 s). At an idle
# moment, it delays no job of a worker that starts with work waiting: a restart under load, or a
# crash loop (a job that kills its worker), where each start would otherwise pay for it.
worker_idle = Signal()

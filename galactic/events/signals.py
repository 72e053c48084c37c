"""What the events machinery tells the apps."""

from django.dispatch import Signal

# Sent by each GameWorker as it starts, before it takes a job (keyword argument: worker). An app
# loads here what its events need and would otherwise load in the first one, making it late (the
# combat app: its compiled battle engine).
worker_starting = Signal()

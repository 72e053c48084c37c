"""Running game events on RQ: scheduling, the worker, the scheduler, reconciliation, crash
recovery, stuck events, metrics, /health and /metrics, and the admin's queue figures.

This package knows no game. It schedules dotted job paths with fixed ids and primitive arguments;
the apps tell it what they need through settings (GAME_EVENT_SOURCES, GAME_PERIODIC_JOBS) and
through registries filled in their AppConfig.ready() (batch functions, stuck-event actions).
"""

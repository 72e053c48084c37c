import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class CombatConfig(AppConfig):
    name = "combat"

    def ready(self) -> None:
        from combat.services import NpcBases
        from galactic import timeline
        from galactic.events.signals import worker_idle

        timeline.register(NpcBases)
        worker_idle.connect(load_battle_engine, dispatch_uid="combat.load_battle_engine")


def load_battle_engine(**kwargs) -> None:
    """A worker's first battle should not wait for numba to load (about 0.7 s) or, on a machine that
    has not compiled the engine yet, to compile it (about 10 s): loaded at the worker's first idle
    moment. A worker that never has one (a backlog from its start) loads it in its first battle."""
    from combat import compiled

    logger.info("battle engine ready in %.2f s", compiled.warm_up())

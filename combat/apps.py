from django.apps import AppConfig


class CombatConfig(AppConfig):
    name = "combat"

    def ready(self) -> None:
        from combat.services import NpcBases
        from galactic import timeline

        timeline.register(NpcBases)

from django.apps import AppConfig


class ProbesConfig(AppConfig):
    name = "probes"

    def ready(self) -> None:
        from galactic import timeline
        from galactic.events import find
        from probes import admin, services

        find.register_lookup("probe missions", admin.find_probe_missions)
        # Arrivals and returns are events of the game's timeline (applied in game-time order).
        timeline.register(services.ProbeEvents)

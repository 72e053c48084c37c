from django.apps import AppConfig


class ProbesConfig(AppConfig):
    name = "probes"

    def ready(self) -> None:
        from galactic.events import find
        from probes import admin

        find.register_lookup("probe missions", admin.find_probe_missions)

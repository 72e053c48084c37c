from django.apps import AppConfig


class GalacticConfig(AppConfig):
    name = "galactic"
    verbose_name = "Galaxy"

    def ready(self) -> None:
        from galactic.http import login_gate  # noqa: F401  (connects its signal receivers)

from django.apps import AppConfig


class GalacticConfig(AppConfig):
    name = "galactic"
    verbose_name = "Galaxy"

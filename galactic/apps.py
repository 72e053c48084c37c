from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class GalacticConfig(AppConfig):
    name = "galactic"
    verbose_name = "Galaxy"


class GameAdminConfig(admin_apps.AdminConfig):
    default = False  # named explicitly in INSTALLED_APPS
    default_site = "galactic.admin_site.GameAdminSite"

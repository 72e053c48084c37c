from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class EventsConfig(AppConfig):
    name = "galactic.events"
    label = "events"
    verbose_name = "Game events"


class GameAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin, whose index page shows the game_events queue figures."""

    default = False  # named explicitly in INSTALLED_APPS
    default_site = "galactic.events.admin_site.GameAdminSite"

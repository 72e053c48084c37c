from django.contrib import admin
from django.urls import include, path

from combat.api import router as reports_router
from fleets.api import router as fleets_router
from galactic.events.monitoring import health, metrics_view
from galactic.http import web
from galactic.http.api import api
from galactic.http.api import router as universe_router
from probes.api import router as probes_router

api.add_router("", universe_router)
api.add_router("/fleets", fleets_router)
api.add_router("/reports", reports_router)
api.add_router("/probes", probes_router)

urlpatterns = [
    path("health", health, name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
    path("login/", web.login, name="login"),
    path("logout/", web.logout, name="logout"),
    path("", web.game, name="game"),
]

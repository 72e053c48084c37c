from django.contrib import admin
from django.urls import include, path

from galactic.health import health

urlpatterns = [
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),
]

"""Django's floor for an API call: a minimal Django + django-ninja view, served as `bench.floor`.

`POST /api/fleets` here authenticates the `Authorization: Token <token>` header (one query on the
players' token hashes) and reads one row (the origin planet, if it is the player's), then answers
a small JSON 201. No middleware, nothing else: the same Django, database settings, connection
handling and ninja as the game, without the game. `bench dispatch` serves it with the same gunicorn
command as the game (its second baseline); `bench cpu` calls it in-process.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "galactic.settings")

import django

django.setup(set_prefix=False)

from django.core.handlers.exception import convert_exception_to_response  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from ninja import NinjaAPI, Schema, Status  # noqa: E402
from ninja.security import APIKeyHeader  # noqa: E402

from galactic.models import Planet, Player, hash_token  # noqa: E402


class FloorToken(APIKeyHeader):
    param_name = "Authorization"

    def authenticate(self, request: HttpRequest, key: str | None) -> int | None:
        scheme, _, token = (key or "").partition(" ")
        if scheme != "Token" or not token:
            return None
        return Player.objects.filter(token_hash=hash_token(token)).values_list("pk", flat=True).first()


class Order(Schema):
    origin: int
    target: int


api = NinjaAPI(auth=FloorToken(), urls_namespace="floor", docs_url=None, openapi_url=None)


@api.post("/fleets", response={201: dict})
def post_fleet(request: HttpRequest, order: Order) -> Status:
    origin = Planet.objects.filter(pk=order.origin, owner_id=request.auth).values("pk", "name").first()
    return Status(201, {"origin": origin["pk"] if origin else None, "target": order.target})


def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [path("health", health), path("api/", api.urls)]


class FloorHandler(WSGIHandler):
    """Django's WSGI handler with no middleware, resolving against this module's URLs."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        self._middleware_chain = convert_exception_to_response(self._get_response)

    def get_response(self, request: HttpRequest) -> HttpResponse:
        request.urlconf = __name__
        return super().get_response(request)


application = FloorHandler()

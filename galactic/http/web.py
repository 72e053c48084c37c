"""The players' web page: log in, then one page whose JavaScript plays through the JSON API.

The views here only render templates: galactic/static/game/app.js reads and changes the game
through /api/ with the session cookie (and the CSRF token for POSTs), as any other client would.
This module imports nothing from the mission apps (fleets, probes, combat).
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from galactic.flight import GALAXIES, SPEED_PERCENTS, SYSTEMS
from galactic.models import Planet, Player
from galactic.ships import RESOURCES, SHIPS

login = auth_views.LoginView.as_view(template_name="game/login.html", redirect_authenticated_user=True)
logout = auth_views.LogoutView.as_view(next_page="login")  # POST only (Django's rule)


@login_required
@ensure_csrf_cookie  # app.js sends it back in X-CSRFToken
def game(request: HttpRequest) -> HttpResponse:
    player = Player.objects.filter(user=request.user).first()
    if player is None:  # e.g. a staff account made with createsuperuser
        return render(request, "game/no_player.html", status=403)
    home = Planet.objects.filter(owner=player).order_by("pk").first()
    context = {
        "player": player,
        "home": home,
        "ships": [(name, name.replace("_", " ").capitalize()) for name in SHIPS],
        "resources": RESOURCES,
        "speeds": list(reversed(SPEED_PERCENTS)),
        "galaxies": GALAXIES,
        "systems": SYSTEMS,
    }
    return render(request, "game/game.html", context)

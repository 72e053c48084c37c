"""The players' web page: log in, then one page whose JavaScript plays through the JSON API.

The views here only render templates: galactic/static/game/app.js reads and changes the game
through /api/ with the session cookie (and the CSRF token for POSTs), as any other client would.
This module imports nothing from the mission apps (fleets, probes, combat).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csp import csp_override
from django.views.decorators.csrf import ensure_csrf_cookie

from galactic.flight import GALAXIES, SPEED_PERCENTS, SYSTEMS
from galactic.models import Planet, Player
from galactic.ships import RESOURCES, SHIPS


class LoginView(auth_views.LoginView):
    """Django's login, except that a POST always authenticates what was posted: a browser that
    already holds a session (perhaps one planted by someone else) is not just sent on in it. A
    successful login cycles the session key (Django's `login()`); a failed one ends the session the
    browser held, so nobody stays in an account they did not log in to."""

    template_name = "game/login.html"
    redirect_authenticated_user = True  # for GET: a logged-in player goes straight to the game

    def dispatch(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method == "POST":
            self.redirect_authenticated_user = False  # this request's view instance only
        return super().dispatch(request, *args, **kwargs)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        if self.request.user.is_authenticated:
            auth.logout(self.request)
        return super().form_invalid(form)


login = csp_override(settings.PLAYERS_CSP)(LoginView.as_view())
logout = auth_views.LogoutView.as_view(next_page="login")  # POST only (Django's rule)


@login_required
@ensure_csrf_cookie  # the page's token (in the session): app.js sends it back in X-CSRFToken
@csp_override(settings.PLAYERS_CSP)
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

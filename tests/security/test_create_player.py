"""`create_player` checks the name as the rest of the game would take it, with a clear message.

Before: a 60-character name crashed the command with a database error (its home planet's name,
"<name>'s home", did not fit), though the command claimed to take up to 150 characters.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from galactic.management.commands.create_player import MAX_NAME
from galactic.models import Planet, Player

pytestmark = pytest.mark.django_db


def create(name: str) -> dict:
    out = StringIO()
    call_command("create_player", name, stdout=out)
    return json.loads(out.getvalue())


def nothing_created() -> bool:
    return not (get_user_model().objects.exists() or Player.objects.exists() or Planet.objects.exists())


def test_the_longest_name_makes_a_player_whose_home_fits():
    made = create("n" * MAX_NAME)
    assert made["username"] == "n" * MAX_NAME
    assert Planet.objects.get(pk=made["home_planet_id"]).name == "n" * MAX_NAME + "'s home"


@pytest.mark.parametrize("length", [MAX_NAME + 1, 60, 150, 151, 1000])
def test_a_name_too_long_is_refused_clearly_and_creates_nothing(length):
    with pytest.raises(CommandError, match=rf"NAME must be 1 to {MAX_NAME} characters, not {length}"):
        create("n" * length)
    assert nothing_created()


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_name_is_refused(name):
    with pytest.raises(CommandError, match="NAME must be 1 to"):
        create(name)
    assert nothing_created()


@pytest.mark.parametrize(
    "name", ["two words", "nul\x00byte", "<script>", "semi;colon", "quote'", "tab\there"]
)
def test_a_name_with_other_characters_is_refused_clearly(name):
    with pytest.raises(CommandError, match=r"is not valid\. .*letters, numbers, and @/\./\+/-/_"):
        create(name)
    assert nothing_created()


@pytest.mark.parametrize("name", ["alice", "a.b-c_d+e@f", "Zoë", "星"])
def test_names_the_login_form_takes_are_accepted(name):
    assert create(name)["username"] == name

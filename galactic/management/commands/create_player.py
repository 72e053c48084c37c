import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from galactic.models import Planet
from galactic.services import PlayerExists, player_create

HOME_SUFFIX = "'s home"  # the home planet is named after its player (galactic.services)
# The longest name whose home planet's name still fits its column.
MAX_NAME = min(
    get_user_model()._meta.get_field("username").max_length,
    Planet._meta.get_field("name").max_length - len(HOME_SUFFIX),
)


def checked_name(raw: str) -> str:
    """The player's name, or a CommandError that says what is wrong with it."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise CommandError(f"NAME must be 1 to {MAX_NAME} characters, not {len(name)}")
    try:
        get_user_model()._meta.get_field("username").run_validators(name)
    except ValidationError as error:
        raise CommandError(f"NAME {name!r} is not valid. {' '.join(error.messages)}") from None
    return name


class Command(BaseCommand):
    help = "Create a player with a home planet, starting ships and resources; prints username, token, home."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help=f"1 to {MAX_NAME} letters, digits or @ . + - _")
        parser.add_argument(
            "--password", help="for logging in to the web page; without one, only the token works"
        )

    def handle(self, *args, **options) -> None:
        name = checked_name(options["name"])
        try:
            new = player_create(username=name, password=options["password"])
        except PlayerExists as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            json.dumps(
                {
                    "username": name,
                    "token": new.token,
                    "home_planet_id": new.home.pk,
                    "coords": str(new.home.coords),
                }
            )
        )

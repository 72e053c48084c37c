import json

from django.core.management.base import BaseCommand, CommandError

from galactic.services import PlayerExists, player_create


class Command(BaseCommand):
    help = "Create a player with a home planet, starting ships and resources; prints username, token, home."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--password", help="for logging in to the web page; without one, only the token works"
        )

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name or len(name) > 150:
            raise CommandError("NAME must be 1 to 150 characters")
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

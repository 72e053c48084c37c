import json

from django.core.management.base import BaseCommand, CommandError

from combat.services import npc_seed


class Command(BaseCommand):
    help = 'Create NPC bases to attack (idempotent); prints {"npcs": [{planet_id, coords, tier}, ...]}.'

    def add_arguments(self, parser) -> None:
        parser.add_argument("--npcs", type=int, default=6, help="how many NPC bases should exist (default 6)")

    def handle(self, *args, **options) -> None:
        if options["npcs"] < 0:
            raise CommandError("--npcs must be 0 or more")
        bases = npc_seed(count=options["npcs"])
        npcs = [
            {"planet_id": npc.planet_id, "coords": str(npc.planet.coords), "tier": npc.tier} for npc in bases
        ]
        self.stdout.write(json.dumps({"npcs": npcs}))

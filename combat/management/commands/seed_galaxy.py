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
        # Progress for a person at a terminal only: logs and pipes get the JSON on stdout and nothing else.
        show_progress = self.stderr.isatty() and options["verbosity"] > 0
        shown = False

        def progress(created: int, missing: int) -> None:
            nonlocal shown
            if show_progress:
                self.stderr.write(f"\rcreated {created}/{missing} NPC bases", style_func=str, ending="")
                self.stderr.flush()
                shown = True

        bases = npc_seed(count=options["npcs"], progress=progress)
        if shown:
            self.stderr.write("", style_func=str)
        npcs = [
            {"planet_id": npc.planet_id, "coords": str(npc.planet.coords), "tier": npc.tier} for npc in bases
        ]
        self.stdout.write(json.dumps({"npcs": npcs}))

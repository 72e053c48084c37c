import json

from django.core.management.base import BaseCommand, CommandError

from combat.models import Report
from combat.replay import NotReplayable, battle_replay


class Command(BaseCommand):
    help = (
        "Re-run the battle of a report from its stored starting forces, technology levels and seed; "
        "print whether the outcome, rounds and losses match. Exits 1 if they do not."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "report_id",
            type=int,
            help="the id of a battle report (or of an espionage report whose probes fought)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")

    def handle(self, *args, **options) -> None:
        report = Report.objects.filter(pk=options["report_id"]).first()
        if report is None:
            raise CommandError(f"no report {options['report_id']}")
        try:
            replay = battle_replay(report)
        except NotReplayable as exc:
            raise CommandError(str(exc)) from exc
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "report": report.pk,
                        "seed": replay.seed,
                        "matches": replay.matches,
                        "recorded": replay.recorded,
                        "replayed": replay.replayed,
                    }
                )
            )
        else:
            self._print(replay)
        if not replay.matches:
            raise CommandError(f"the replay differs from report {report.pk}: {', '.join(replay.mismatches)}")

    def _print(self, replay) -> None:
        report = replay.report
        self.stdout.write(f"report {report.pk}: {report.kind} at {report.at.isoformat()}, seed {replay.seed}")
        for name, recorded in replay.recorded.items():
            replayed = replay.replayed[name]
            verdict = "match" if recorded == replayed else "DIFFERS"
            self.stdout.write(f"  {name:8} {verdict:8} recorded {json.dumps(recorded)}")
            if recorded != replayed:
                self.stdout.write(f"  {'':8} {'':8} replayed {json.dumps(replayed)}")
        if replay.matches:
            self.stdout.write("the replay matches the report")

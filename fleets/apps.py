from django.apps import AppConfig


class FleetsConfig(AppConfig):
    name = "fleets"

    def ready(self) -> None:
        from fleets import admin, jobs, schedules, services
        from galactic import timeline
        from galactic.events import find, queue, stuck

        # The GameWorker may run arrivals (and returns) that are due together in one transaction.
        queue.batchable(
            jobs.fleet_arrival, id_prefix=schedules.ARRIVAL_JOB_PREFIX, run_many=jobs.fleet_arrivals
        )
        queue.batchable(jobs.fleet_return, id_prefix=schedules.RETURN_JOB_PREFIX, run_many=jobs.fleet_returns)
        stuck.register_action("fleet-arrival", "Send the fleet home", services.fleet_recall_for_event)
        find.register_lookup("fleets", admin.find_fleets)
        # Arrivals and returns are events of the game's timeline (applied in game-time order).
        timeline.register(services.FleetEvents)

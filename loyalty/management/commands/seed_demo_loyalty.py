from django.core.management.base import BaseCommand

from loyalty.demo import demo_jobs_run, demo_loyalty_seed
from loyalty.demo_wallets import demo_wallets_seed


class Command(BaseCommand):
    help = (
        "Give the demo brand a living loyalty programme (points from its orders, tiers, expired "
        "points, a few adjustments by hand, rewards and coupons) when the ledger is empty, "
        "a few hundred members their wallet cards when there are none, and run the birthday "
        "and unused-points jobs once; `make run` calls it after seed_demo and "
        "seed_demo_campaigns."
    )

    def handle(self, *args: object, **options: object) -> None:
        result = demo_loyalty_seed()
        if result is None:
            self.stdout.write("The ledger holds entries already (or no orders yet): nothing to do.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo programme written: {result.accounts:,} accounts earned "
                    f"{result.earned:,} points ({result.expired:,} expired since), "
                    f"{result.tiered:,} members above the entry tier, "
                    f"{result.adjusted:,} adjustments by hand, {result.coupons:,} coupons."
                )
            )
        wallets = demo_wallets_seed()
        if wallets is None:
            self.stdout.write("Wallet cards exist already (or no members yet): nothing to do.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo wallet cards written: {wallets.cards:,} cards, {wallets.installed:,} "
                    f"in a wallet ({wallets.devices:,} Apple devices), {wallets.removed:,} removed."
                )
            )
        # After the cards: the unused-points reminder reaches wallet holders on their card.
        self._jobs()

    def _jobs(self) -> None:
        for run in demo_jobs_run():
            self.stdout.write(
                f"Job {run.job} {run.period}: {run.status}, "
                f"{run.counts.get('new', 0):,} members reached"
                + (f" ({run.error})" if run.error else "")
            )

"""Bench: issue 12's loyalty figures, one script after the other (each prints its own figures
and its ratio to the reference it names; see each script's docstring for how it measures).

    uv run python bench/loyalty.py [--only earn,nightly,till,overview,rewards]
        [--rows 1000000] [--accounts 1000000]

earn      bench/loyalty_earn.py: a --rows order import with earning off against on (goal < 1.3×)
nightly   bench/loyalty_nightly.py: expiry and the tier review over --accounts accounts
          (goal: minutes, not hours; a second run writes nothing)
till      bench/loyalty_till.py: 8 tills hold → commit against one gunicorn (requests/s, p99,
          0 overspend, balance == ledger sum)
overview  bench/loyalty_overview.py: the /loyalty/ figures and a points history page at
          --accounts accounts and 10 entries each
rewards   bench/loyalty_rewards.py: the nightly coupon expiry over a million coupons, and
          8 redeemers emptying one reward's stock

Each script makes and drops its own PostgreSQL database (names end in "_bench").
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("earn", "nightly", "till", "overview", "rewards")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    args = parser.parse_args()
    arguments = {
        "earn": ["--rows", str(args.rows)],
        "nightly": ["--accounts", str(args.accounts)],
        "till": [],
        "overview": ["--accounts", str(args.accounts)],
        "rewards": [],
    }
    failed = []
    for part in args.only.split(","):
        if part not in PARTS:
            parser.error(f"unknown part {part!r}: one of {', '.join(PARTS)}")
        script = HERE / f"loyalty_{part}.py"
        print(f"\n=== {script.name} {' '.join(arguments[part])}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script), *arguments[part]])
        print(
            f"=== {script.name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True
        )
        if code:
            failed.append(part)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

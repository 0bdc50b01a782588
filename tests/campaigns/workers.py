"""The Celery worker command the worker-kill test and bench/send_campaign.py start."""


def celery_worker_command(
    python: str, *, concurrency: int, queue: str, name: str, loglevel: str
) -> list[str]:
    """`celery worker --pool prefork` on its own queue, named `name@%h`, without gossip and
    mingle (nothing to learn from other workers; they only slow the start)."""
    return [
        python,
        "-m",
        "celery",
        "-A",
        "omnichannel",
        "worker",
        "--pool",
        "prefork",
        "-c",
        str(concurrency),
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        loglevel,
    ]

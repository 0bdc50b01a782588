"""`make run`'s last step: web, worker and beat under honcho (Procfile.dev), quietly.

Prints the URL with the real port once the web process answers (honcho's and Celery's start-up
banners scroll the first one away), and ends without tracebacks or error codes on Ctrl-C: the
terminal's SIGINT reaches honcho, which stops each process; this script only waits for it and
exits 0. Usage: PORT=8105 uv run python scripts/run_dev.py (PROCFILE names another Procfile).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> int:
    port = int(os.environ.get("PORT") or 8000)
    procfile = os.environ.get("PROCFILE") or "Procfile.dev"
    interrupted = False

    def on_interrupt(signum, frame):
        nonlocal interrupted
        interrupted = True  # honcho got the same Ctrl-C and stops the processes

    signal.signal(signal.SIGINT, on_interrupt)
    honcho = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "honcho", "-f", procfile, "start", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port)},
    )
    announced = False
    while honcho.poll() is None:
        if not announced and not interrupted and _answers(port):
            announced = True
            print(f"\n  Omnichannel is running at http://127.0.0.1:{port}/  (Ctrl-C stops it)\n")
            sys.stdout.flush()
        time.sleep(0.5)
    if interrupted:
        print("Omnichannel stopped.")
        return 0
    return honcho.returncode


if __name__ == "__main__":
    sys.exit(main())

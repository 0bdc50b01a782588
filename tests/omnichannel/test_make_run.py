"""`make run` prints the URL with the real port and ends quietly on Ctrl-C."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_passes_the_port_to_the_url_it_prints_and_to_the_processes():
    plan = subprocess.run(
        ["make", "-n", "run", "PORT=8123"],  # noqa: S607 - make from the PATH, as a developer runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "demo_users --url http://127.0.0.1:8123/" in plan
    assert "PORT=8123 " in plan and "scripts/run_dev.py" in plan


def test_ctrl_c_ends_the_processes_quietly(tmp_path):
    # Given a Procfile whose web process serves on $PORT, as runserver does
    port = _free_port()
    procfile = tmp_path / "Procfile"
    procfile.write_text(f"web: {sys.executable} -m http.server $PORT --bind 127.0.0.1\n")
    runner = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "run_dev.py")],
        cwd=ROOT,
        env={**os.environ, "PORT": str(port), "PROCFILE": str(procfile)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        # When it says where it runs, and Ctrl-C reaches the whole group
        banner = f"running at http://127.0.0.1:{port}/"
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = runner.stdout.readline()
            seen.append(line)
            if banner in line or not line:
                break
        assert any(banner in line for line in seen), "".join(seen)
        os.killpg(runner.pid, signal.SIGINT)
        output = "".join(seen) + runner.communicate(timeout=30)[0]
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)

    # Then everything stops with exit status 0 and no traceback
    assert runner.returncode == 0, output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert "Omnichannel stopped." in output

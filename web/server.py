"""The production server `nslab serve` runs: gunicorn, one process, many threads.

Concurrency model: one process holds every lab's state in memory, and each open
websocket (terminal, trainer view, the trainer's terminal presented) occupies one thread
for its whole life, so the thread pool is sized from the configured capacity: two
terminals and the presented one per attendee, a spare, the trainer's own, and room for
ordinary requests.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import sys
import threading
from dataclasses import replace

from gunicorn.app.base import BaseApplication

from labsteps.config import Config


def threads_for(config: Config) -> int:
    return config.capacity * 4 + 16


class _Gunicorn(BaseApplication):
    def __init__(self, app, options: dict):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


def _knows(setting: str) -> bool:
    from gunicorn.config import Config as GunicornConfig

    return setting in GunicornConfig().settings


def serve(config: Config) -> int:
    from web import create_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not config.trainer_token:
        config = replace(config, trainer_token=secrets.token_urlsafe(24))
        # Printed once, to the console of whoever started the lab; never logged again.
        print(f"\n  trainer token: {config.trainer_token}\n"
              f"  (set NSLAB_TRAINER_TOKEN to choose your own)\n", flush=True)
    # create_app runs here, in what becomes gunicorn's master: LabHosts makes this process
    # the subreaper, so lab hosts' pid 1 (and orphans a killed nsenter leaves inside) become
    # the master's children, and gunicorn's master reaps every child it has.
    app = create_app(config)
    # The app's start-up objects (Flask, pyroute2, the steps) live as long as the server:
    # out of the collector's way, a full collection takes under a millisecond instead of
    # some 18 ms, during which no terminal echoes. Before the fork, as Python's docs advise.
    gc.freeze()
    # A thread that waits for the GIL (a typist's key) makes the holder (a flood's framing)
    # let go after this long, not after Python's 5 ms: 40 typists beside a flood, p99 0.9x.
    sys.setswitchinterval(0.001)
    code = app.extensions["nslab"].attendees.code()
    print(f"  nslab on http://{config.host}:{config.port}/"
          f"   trainer console: /trainer"
          f"   workshop code: {code or '(none: anyone who reaches the lab can join)'}\n",
          flush=True)
    lab = app.extensions["nslab"]

    def stop_at_once_on_term(worker) -> None:
        # gunicorn's SIGTERM handler only stops accepting, then waits for open connections
        # (terminals, event streams) until the master kills the worker; the lab stops now.
        # The handler only sets an event: starting a thread in it could deadlock.
        term = threading.Event()

        def stop_when_told() -> None:
            term.wait()
            lab.stop()

        threading.Thread(target=stop_when_told, name="nslab-stop", daemon=True).start()
        gunicorn_exit = signal.getsignal(signal.SIGTERM)

        def on_term(sig, frame) -> None:
            gunicorn_exit(sig, frame)
            term.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn had it

    def stop(_server) -> None:
        # A lab that stops leaves nothing on the machine; the group stays in the state folder.
        try:
            lab.stop()
        except Exception:  # the master must still exit; the next start sweeps again
            logging.getLogger("nslab").exception("stopping")

    def stop_after_worker(server, worker) -> None:
        if os.getppid() != worker.ppid:
            # The master died (killed): a new server may already be starting on this state
            # folder, and its start sweeps what is left; two sweeps must not race.
            logging.getLogger("nslab").warning("the master is gone; the next start sweeps")
            return
        stop(server)

    _Gunicorn(app, {
        "bind": f"{config.host}:{config.port}",
        "workers": 1,  # lab hosts, terminals and progress live in this one process
        "worker_class": "gthread",
        "threads": threads_for(config),
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": None,  # URLs and cookies stay out of logs
        "post_worker_init": stop_at_once_on_term,
        "worker_exit": stop_after_worker,
        # Should the worker have been killed before its sweep, the master sweeps (from the
        # records in the state folder) once it is gone.
        "on_exit": stop,
        # gunicorn 25+ opens a control socket in root's home by default, shared by every
        # gunicorn on the machine and able to add workers (which would split the lab's
        # state): the lab does not use it.
        **({"control_socket_disable": True} if _knows("control_socket_disable") else {}),
        "loglevel": "info",
    }).run()
    return 0

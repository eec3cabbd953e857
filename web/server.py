"""The production server `nslab serve` runs: gunicorn, one process, many threads.

Concurrency model: one process holds every lab's state in memory, and each open
websocket (terminal, trainer view) occupies one thread for its whole life, so the
thread pool is sized from the configured capacity: two terminals per attendee, a
trainer's views, and room for ordinary requests.
"""

from __future__ import annotations

import logging
import secrets
import signal
import threading
from dataclasses import replace

from gunicorn.app.base import BaseApplication

from labsteps.config import Config


def threads_for(config: Config) -> int:
    return config.capacity * 3 + 16


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
    app = create_app(config)
    code = app.extensions["nslab"].attendees.code()
    print(f"  nslab on http://{config.host}:{config.port}/"
          f"   trainer console: /trainer"
          f"   workshop code: {code or '(none: anyone who reaches the lab can join)'}\n",
          flush=True)
    lab = app.extensions["nslab"]

    def on_stop_end_sessions(worker) -> None:
        # gunicorn's SIGTERM handler only stops accepting; the sessions it would wait for
        # are ended here, so the worker reaches worker_exit (the sweep) well in time.
        gunicorn_exit = signal.getsignal(signal.SIGTERM)

        def on_term(sig, frame) -> None:
            gunicorn_exit(sig, frame)
            threading.Thread(target=lab.stop, name="nslab-stop", daemon=True).start()

        signal.signal(signal.SIGTERM, on_term)

    def sweep(_server) -> None:
        # A lab that stops leaves nothing on the machine; the group stays in the state folder.
        lab.sweep()

    def sweep_after_worker(server, _worker) -> None:
        sweep(server)

    _Gunicorn(app, {
        "bind": f"{config.host}:{config.port}",
        "workers": 1,  # lab hosts, terminals and progress live in this one process
        "worker_class": "gthread",
        "threads": threads_for(config),
        "timeout": 120,
        "graceful_timeout": 10,
        "accesslog": None,  # URLs and cookies stay out of logs
        "post_worker_init": on_stop_end_sessions,
        "worker_exit": sweep_after_worker,
        # Should the worker have been killed before its sweep, the master sweeps (from the
        # records in the state folder) once it is gone.
        "on_exit": sweep,
        # gunicorn 25+ opens a control socket in root's home by default, shared by every
        # gunicorn on the machine and able to add workers (which would split the lab's
        # state): the lab does not use it.
        **({"control_socket_disable": True} if _knows("control_socket_disable") else {}),
        "loglevel": "info",
    }).run()
    return 0

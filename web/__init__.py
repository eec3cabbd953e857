"""nslab's web side: pages, the JSON API and the terminal websockets, over labsteps."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask

from labsteps import doctor
from labsteps.cgroup import CgroupError
from labsteps.config import Config
from labsteps.labhost import LabHosts

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("nslab")


@dataclass
class Lab:
    """What one running nslab holds: its configuration and its lab hosts."""

    config: Config
    hosts: LabHosts | None
    problems: list[doctor.Finding] = field(default_factory=list)

    def ready(self) -> bool:
        return self.hosts is not None and not self.problems


def create_app(config: Config | None = None, *, sweep: bool = True) -> Flask:
    """The Flask app for one lab; sweep destroys lab hosts a previous run left behind."""
    config = config or Config.from_env()
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    app.config.update(SECRET_KEY=config.secret_key or secrets.token_hex(32),
                      MAX_CONTENT_LENGTH=64 * 1024)
    problems = doctor.problems(config)
    hosts = None
    try:
        hosts = LabHosts(config)
    except (CgroupError, OSError) as e:
        problems.append(doctor.Finding("lab hosts", False, str(e)))
    if hosts is not None and sweep:
        swept = hosts.sweep()
        if swept:
            log.warning("destroyed %d lab host(s) left by an earlier run: %s",
                        len(swept), ", ".join(swept))
    app.extensions["nslab"] = Lab(config=config, hosts=hosts, problems=problems)

    from web import errors, pages
    errors.register(app)
    app.register_blueprint(pages.bp)
    return app


def lab(app: Flask) -> Lab:
    return app.extensions["nslab"]

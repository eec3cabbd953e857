"""The web skeleton: start page, health check, and the JSON error shape."""

import json
import sqlite3
import urllib.request
from dataclasses import replace

import pytest

from web import create_app
from web.attendees import Attendees


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.mark.root
def test_health_reports_lab_hosts_and_cgroup_version(client, hosts):
    hosts.create("anna")
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json == {"status": "ok", "sandboxes": 1, "cgroup": hosts.layout.version,
                        "kernel_reads": 0}


def test_health_says_why_lab_hosts_cannot_be_made(config, tmp_path):
    broken = replace(config, lib_dir=tmp_path / "nothing-here")
    res = create_app(broken, sweep=False).test_client().get("/healthz")
    assert res.status_code == 503
    assert res.json["error"] == "unavailable"
    assert "make install" in res.json["message"] or "root" in res.json["message"]


@pytest.mark.root
def test_start_page(client):
    res = client.get("/")
    assert res.status_code == 200
    assert "Container" in res.text and "The lab is ready" in res.text


def test_unknown_api_route_answers_in_the_error_shape(config):
    res = create_app(config, sweep=False).test_client().get("/api/nothing")
    assert res.status_code == 404
    assert set(res.json) == {"error", "message"} and res.json["error"] == "not_found"


@pytest.mark.root
def test_real_server_on_loopback(server):
    with urllib.request.urlopen(server + "/healthz", timeout=5) as res:
        body = json.load(res)
    assert body["status"] == "ok"
    with urllib.request.urlopen(server + "/", timeout=5) as res:
        assert b"nslab" in res.read()


def test_a_state_folder_from_before_raised_hands_keeps_its_attendees(tmp_path):
    old = sqlite3.connect(tmp_path / "nslab.db")
    old.executescript("CREATE TABLE attendees (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT "
                      "NOT NULL UNIQUE COLLATE NOCASE, token TEXT NOT NULL, created REAL NOT NULL, "
                      "step TEXT, step_since REAL);"
                      "INSERT INTO attendees (name, token, created) VALUES ('Anna', 't', 1);")
    old.commit()
    old.close()
    attendees = Attendees(tmp_path / "nslab.db")
    anna = attendees.get(1)
    assert (anna.name, anna.hand) == ("Anna", None)
    attendees.raise_hand(1, True)
    assert attendees.get(1).hand

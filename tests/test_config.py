"""Configuration comes from defaults, NSLAB_* variables and flags, in that order."""

from pathlib import Path

import pytest

from labsteps.config import Config, parse_size


def test_defaults_are_safe():
    c = Config.from_env(env={})
    assert c.host == "127.0.0.1" and c.port == 8000
    assert c.state_dir == Path("/var/lib/nslab")
    assert c.image_path == Path("/usr/local/lib/nslab/vorlage.tar")


def test_environment_then_flags():
    env = {"NSLAB_HOST": "0.0.0.0", "NSLAB_PORT": "9000", "NSLAB_STATE_DIR": "/srv/lab",
           "NSLAB_IMAGE": "/srv/alpine.tar", "NSLAB_TRAINER_TOKEN": "t0k"}
    c = Config.from_env(env=env, port=9100)
    assert (c.host, c.port, c.state_dir) == ("0.0.0.0", 9100, Path("/srv/lab"))
    assert c.image_path == Path("/srv/alpine.tar") and c.trainer_token == "t0k"


@pytest.mark.parametrize("var,value,needle", [
    ("NSLAB_PORT", "eighty", "whole number"),
    ("NSLAB_MEMORY_MAX", "lots", "not a size"),
])
def test_bad_values_are_named(var, value, needle):
    with pytest.raises(ValueError, match=needle):
        Config.from_env(env={var: value})


def test_sizes():
    assert parse_size("512m") == 512 << 20 and parse_size("2G") == 2 << 30
    assert parse_size("4096") == 4096

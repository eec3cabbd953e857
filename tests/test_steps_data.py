"""The steps as data: complete, bilingual, covering every command of the talk, validated."""

import re
import tomllib
from pathlib import Path

import pytest

from labsteps.talk.loader import StepFileError, load_step, load_steps

TALK = Path(__file__).resolve().parent / "data" / "talk_commands.toml"
API_IDS = ["intro", "container-vs-vm", "docker", "chroot", "namespaces", "mount", "cgroups",
           "overlay", "network", "nsenter", "conclusion"]


def talk_blocks() -> list[dict]:
    """The talk's code blocks, in talk order, as tests/data/talk_commands.toml keeps them."""
    return tomllib.loads(TALK.read_text())["block"]


@pytest.fixture(scope="module")
def steps():
    return load_steps()


def test_every_command_of_the_talk_is_in_a_step(steps):
    shown = set()
    for s in steps:
        for b in s.blocks:
            shown.update(x for x in (b.command, b.talk, b.docker) if x)
    blocks = talk_blocks()
    assert len(blocks) == 12  # the talk's ~~~ blocks, every one of them
    for block in blocks:
        # The block is its commands, in order, and its remarks: nothing of it is left out.
        rest = block["text"]
        for command in block["commands"]:
            while any(rest.startswith(r + " ") for r in block.get("remarks", [])):
                rest = rest.split(" ", 1)[1]
            assert rest.startswith(command), f"{block['heading']}: {command!r} is not next in {rest!r}"
            rest = rest[len(command):].lstrip()
        assert rest == "", f"{block['heading']}: not listed as a command: {rest!r}"
        for command in block["commands"]:
            assert command in shown, f"no step shows the talk's command: {command}"


DEEPER_IDS = ["pivot-root", "user-namespaces", "capabilities", "memory-cpu", "bridge-nat",
              "your-own-run"]


def test_steps_follow_the_talk_with_the_api_ids(steps):
    assert [s.id for s in steps if s.chapter == "talk"] == API_IDS
    assert [s.id for s in steps if s.chapter == "deeper"] == DEEPER_IDS
    assert [s.id for s in steps] == API_IDS + DEEPER_IDS  # the talk first


def test_every_step_speaks_german_and_english(steps):
    for s in steps:
        assert s.title["de"] and s.title["en"]
        for part in s.parts:
            texts = [part] if isinstance(part, dict) else [part.note] if part.note else []
            for t in texts:
                assert t["de"].strip() and t["en"].strip(), (s.id, t)
        for c in s.checks:
            assert c.hint["de"] and c.hint["en"]


def test_every_check_has_a_title(steps):
    """The page shows a check's title (what it checks), not its slug."""
    for s in steps:
        for c in s.checks:
            assert c.title.get("de") and c.title.get("en"), (s.id, c.name)
            assert c.name not in (c.title["de"], c.title["en"]), (s.id, c.name)


def test_the_talks_own_words_are_there(steps):
    text = " ".join(p["de"] for s in steps for p in s.parts if isinstance(p, dict))
    for phrase in ("Freiberufler", "Alles nur Linux", "Ein Container ist nur ein Prozess",
                   "Ist doch wie eine VM", "quasi keine Isolierung", "¯\\_(ツ)_/¯",
                   "pstree", "Genau das machen", "*vor* dem chroot", "\\o/",
                   "eigenen Layer", "total abgedreht", "noch lange nicht fertig",
                   "Haben wir noch Zeit", "*einen* Prozess", "Von wegen VM",
                   "0815-Linux-Admin-Knowhow"):
        assert phrase in text, phrase


GOOD = """
id = "probe"
order = 99
title.de = "Probe"
title.en = "Probe"
[[part]]
de = "Text"
en = "Text, English"
[[part]]
command = "true"
"""


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.replace('title.en = "Probe"\n', ""), "probe.toml.title.en: missing"),
    (lambda s: s.replace('en = "Text, English"\n', ""), "probe.toml.part[0].en: missing"),
    (lambda s: s.replace('command = "true"', 'command = "true"\nterminal = 3'),
     "probe.toml.part[1].terminal"),
    (lambda s: s.replace('command = "true"', 'command = "kill {nobody}"'),
     "unknown placeholder {nobody}"),
    (lambda s: s + '[[check]]\nname = "x"\nrun = "no_such_check"\n', "probe.toml.check[0].run"),
    (lambda s: s.replace('order = 99', 'order = "first"'), "probe.toml.order"),
    (lambda s: s + "garbage = [", "probe.toml: not valid TOML"),
])
def test_a_broken_step_file_is_named_with_its_field(tmp_path, edit, needle):
    path = tmp_path / "probe.toml"
    path.write_text(GOOD)
    load_step(path)
    path.write_text(edit(GOOD))
    with pytest.raises(StepFileError, match=re.escape(needle)):
        load_step(path)


def test_adding_a_step_is_adding_a_file(tmp_path):
    for p in Path(load_steps()[0].source).parent.glob("*.toml"):
        (tmp_path / p.name).write_text(p.read_text())
    (tmp_path / "12-extra.toml").write_text(GOOD)
    assert load_steps(tmp_path)[-1].id == "probe"

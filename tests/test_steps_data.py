"""The steps as data: complete, bilingual, covering every command of the talk, validated."""

import re
from pathlib import Path

import pytest

from labsteps.talk.loader import StepFileError, load_step, load_steps

SEED = Path(__file__).resolve().parents[2] / "shared/seed/000_11999d4044bf58e1.txt"
API_IDS = ["intro", "container-vs-vm", "docker", "chroot", "namespaces", "mount", "cgroups",
           "overlay", "network", "nsenter", "conclusion"]

# Every command line of the talk. The seed is one flattened line, so the commands inside
# each ~~~ block are listed here one by one; the test below checks each against the seed.
TALK_COMMANDS = [
    "docker container run --rm -ti --name vorlage alpine",
    "mkdir /tmp/container",
    "docker container export vorlage | tar xf - -C /tmp/container",
    "chroot /tmp/container zsh",
    "readlink /proc/self/ns/*",
    "unshare -p -f -m -u -n -i chroot /tmp/container ps ax .. und ein Hups",
    "docker container run --volume /var/tmp:/srv --rm -ti ubuntu",
    "docker container run --rm -ti --pids-limit 5 ubuntu",
    "mkdir /sys/fs/cgroup/pids/lala",
    "echo 5 >/sys/fs/cgroup/pids/lala/pids.max",
    "echo $$ >/sys/fs/cgroup/pids/lala/tasks",
    "echo ContainerPid >/sys/fs/cgroup/pids/lala/tasks",
    "docker container run --rm -d --name www erkules/nginxhostname",
    "docker container ps -s -f name=www",
    "mkdir /tmp/upper1 /tmp/work1 /tmp/runningcontainer1",
    "mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper1,workdir=/tmp/work1 /tmp/runningcontainer1",
    "mkdir /tmp/upper2 /tmp/work2 /tmp/runningcontainer2",
    "mount -t overlay overlay -o lowerdir=/tmp/container,upperdir=/tmp/upper2,workdir=/tmp/work2 /tmp/runningcontainer2",
    "mkdir /var/run/netns <- Falls nicht vorhanden. Braucht iproute2",
    "ln -s /proc/<>/ns/net /var/run/netns/hallo",
    "ip netns exec hallo ip a s",
    "ip link add hostende type veth peer name containerende",
    "ip link set containerende netns hallo",
    "ip netns exec hallo ip link set containerende up",
    "ip netns exec hallo ip a add 172.40.1.1/26 dev containerende",
    "ip link set hostende up",
    "ip a add 172.40.1.2/26 dev hostende",
]


@pytest.fixture(scope="module")
def steps():
    return load_steps()


def test_every_talk_command_is_in_the_seed_and_in_a_step(steps):
    seed = " ".join(SEED.read_text().split())
    code = " ".join(" ".join(re.findall(r"~~~(.*?)~~~", seed)).split())
    shown = set()
    for s in steps:
        for b in s.blocks:
            shown.update(x for x in (b.command, b.talk, b.docker) if x)
    for command in TALK_COMMANDS:
        assert command in code, f"not a command of the talk: {command}"
        assert command in shown, f"no step shows the talk's command: {command}"
    # ... and nothing of the talk's code blocks is left out of the list above.
    rest = code
    for command in sorted(TALK_COMMANDS, key=len, reverse=True):
        rest = rest.replace(command, " ")
    assert rest.replace("besser?", "").split() == []


def test_steps_follow_the_talk_with_the_api_ids(steps):
    assert [s.id for s in steps] == API_IDS


def test_every_step_speaks_german_and_english(steps):
    for s in steps:
        assert s.title["de"] and s.title["en"]
        for part in s.parts:
            texts = [part] if isinstance(part, dict) else [part.note] if part.note else []
            for t in texts:
                assert t["de"].strip() and t["en"].strip(), (s.id, t)
        for c in s.checks:
            assert c.hint["de"] and c.hint["en"]


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

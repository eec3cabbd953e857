"""The talk as steps: one TOML file per step in labsteps/talk/steps/, checked at start.

A step file (see README, "Adding a step") has an id, an order, a title and parts in
both languages. A part is prose ({de, en}) or a code block ({command, ...}); checks name
a function of labsteps/talk/checks.py. A broken file stops the start with file and field
named.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from labsteps.errors import StepFileError
from labsteps.sandbox.features import KNOWN as FEATURES
from labsteps.talk.checks import CHECKS
from labsteps.terminal import TERMINALS

STEPS_DIR = Path(__file__).parent / "steps"
LANGS = ("de", "en")  # every text of a step is in both; the first is the default
ID = re.compile(r"^[a-z][a-z0-9-]{0,40}$")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLACEHOLDERS = {"container_pid"}
VIEWS = ("processes", "mounts", "network", "cgroups")  # of the kernel picture; the first is
# the default
# The chapters, in order: a step names its own (the talk's, unless it says otherwise).
CHAPTERS = {"talk": {"de": "Der Vortrag", "en": "The talk"},
            "deeper": {"de": "Tiefer", "en": "Deeper"}}


@dataclass(frozen=True)
class Block:
    """A command (Run types it) or a task (the attendee does it alone; command is its
    solution, shown on request and run by Catch-up; check names the step's check for it)."""

    index: int
    command: str  # what runs (may hold {placeholders})
    terminal: int = 1
    runnable: bool = True
    expect: int | None = 0  # exit status that counts as success; None: any
    wait: bool = True  # False: type it and return (servers, watch...)
    timeout: float = 30.0
    talk: str | None = None  # the talk's own line, when the lab runs it differently
    docker: str | None = None  # the Docker command this stands for
    needs_docker: bool = False  # shown for comparison; the lab has no Docker
    v2: str | None = None  # the command on a cgroup v2 host
    note: dict = field(default_factory=dict)
    kind: str = "command"  # or "task"
    task: dict = field(default_factory=dict)  # a task's aim, {de, en}
    check: str | None = None  # a task's check (the name of one of the step's checks)
    hint: dict = field(default_factory=dict)  # a task's hint, {de, en}
    starts_container: bool = False  # Run hands over once the container it starts runs

    def for_cgroup(self, version: str) -> str:
        return self.v2 if version == "v2" and self.v2 else self.command


@dataclass(frozen=True)
class Check:
    name: str
    function: str
    args: dict
    hint: dict
    title: dict = field(default_factory=dict)  # what it checks, {de, en}; the name if none


@dataclass(frozen=True)
class Step:
    id: str
    order: int
    title: dict
    parts: tuple  # dict(text) or Block, in reading order
    checks: tuple[Check, ...]
    source: Path
    view: str = VIEWS[0]  # the kernel picture's view the step page opens with
    chapter: str = "talk"
    needs: tuple[str, ...] = ()  # kernel features it cannot run without (sandbox/features.py)

    @property
    def blocks(self) -> list[Block]:
        return [p for p in self.parts if isinstance(p, Block)]


def _lang(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise StepFileError(f"{where}: needs German and English text, e.g. {where}.de = \"...\"")
    for lang in LANGS:
        text = value.get(lang)
        if not isinstance(text, str) or not text.strip():
            raise StepFileError(f"{where}.{lang}: missing or empty")
    extra = set(value) - set(LANGS)
    if extra:
        raise StepFileError(f"{where}: unknown language(s) {sorted(extra)}")
    return {lang: value[lang].strip() for lang in LANGS}


_BLOCK_FIELDS = {"command": str, "terminal": int, "runnable": bool, "expect": (int, str),
                 "wait": bool, "timeout": (int, float), "talk": str, "docker": str,
                 "needs_docker": bool, "v2": str, "note": dict, "task": dict, "check": str,
                 "hint": dict, "starts_container": bool}
_TASK_ONLY = {"task", "check", "hint"}


def _block(raw: dict, index: int, where: str) -> Block:
    unknown = set(raw) - set(_BLOCK_FIELDS)
    if unknown:
        raise StepFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    for name, kind in _BLOCK_FIELDS.items():
        if name in raw and not isinstance(raw[name], kind):
            raise StepFileError(f"{where}.{name}: wrong type {type(raw[name]).__name__}")
    if not raw["command"].strip():
        raise StepFileError(f"{where}.command: empty")
    if raw.get("terminal", 1) not in TERMINALS:
        raise StepFileError(f"{where}.terminal: one of {', '.join(map(str, TERMINALS))}")
    expect = raw.get("expect", 0)
    if isinstance(expect, str) and expect != "any":
        raise StepFileError(f"{where}.expect: an exit status, or \"any\"")
    for text in (raw["command"], raw.get("v2") or ""):
        for name in PLACEHOLDER.findall(text):
            if name not in PLACEHOLDERS:
                raise StepFileError(f"{where}.command: unknown placeholder {{{name}}}")
    values = {k: v for k, v in raw.items() if k not in ("note", *_TASK_ONLY)}
    values["expect"] = None if expect == "any" else expect
    values["runnable"] = raw.get("runnable", not raw.get("needs_docker", False))
    if values["runnable"] and raw.get("needs_docker"):
        raise StepFileError(f"{where}: a block that needs Docker cannot be runnable here")
    note = _lang(raw["note"], f"{where}.note") if "note" in raw else {}
    if "task" not in raw:
        if set(raw) & _TASK_ONLY:
            raise StepFileError(f"{where}: {sorted(set(raw) & _TASK_ONLY)} belong to a task "
                                "(add task.de and task.en)")
        return Block(index=index, note=note, **values)
    if not raw.get("check"):
        raise StepFileError(f"{where}.check: a task names the check that says it is done")
    if raw.get("needs_docker") or raw.get("wait") is False:
        raise StepFileError(f"{where}: a task's solution runs like a command and waits")
    return Block(index=index, note=note, kind="task", task=_lang(raw["task"], f"{where}.task"),
                 check=raw["check"], hint=_lang(raw.get("hint"), f"{where}.hint"), **values)


def load_step(path: Path) -> Step:
    where = path.name
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise StepFileError(f"{where}: not valid TOML: {e}") from None
    unknown = set(raw) - {"id", "order", "title", "view", "chapter", "needs", "part", "check"}
    if unknown:
        raise StepFileError(f"{where}: unknown field(s) {sorted(unknown)}")
    if not isinstance(raw.get("id"), str) or not ID.match(raw["id"]):
        raise StepFileError(f"{where}.id: a lower-case id such as \"chroot\"")
    if not isinstance(raw.get("order"), int):
        raise StepFileError(f"{where}.order: a whole number (the step's place in the talk)")
    title = _lang(raw.get("title"), f"{where}.title")
    view = raw.get("view", VIEWS[0])
    if view not in VIEWS:
        raise StepFileError(f"{where}.view: one of {', '.join(VIEWS)}")
    needs = raw.get("needs", [])
    if not isinstance(needs, list) or any(n not in FEATURES for n in needs):
        raise StepFileError(f"{where}.needs: a list of {', '.join(FEATURES)}")
    chapter = raw.get("chapter", "talk")
    if chapter not in CHAPTERS:
        raise StepFileError(f"{where}.chapter: one of {', '.join(CHAPTERS)}")
    parts, blocks = [], 0
    for i, part in enumerate(raw.get("part", [])):
        if not isinstance(part, dict):
            raise StepFileError(f"{where}.part[{i}]: a table")
        if "command" in part:
            parts.append(_block(part, blocks, f"{where}.part[{i}]"))
            blocks += 1
        else:
            parts.append(_lang(part, f"{where}.part[{i}]"))
    if not parts:
        raise StepFileError(f"{where}.part: a step needs text")
    checks = []
    for i, c in enumerate(raw.get("check", [])):
        w = f"{where}.check[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("name"), str):
            raise StepFileError(f"{w}.name: missing")
        if c.get("run") not in CHECKS:
            raise StepFileError(f"{w}.run: {c.get('run')!r} is not one of {sorted(CHECKS)}")
        args = c.get("args", {})
        if not isinstance(args, dict):
            raise StepFileError(f"{w}.args: a table")
        checks.append(Check(c["name"], c["run"], args, _lang(c.get("hint"), f"{w}.hint"),
                            _lang(c["title"], f"{w}.title") if "title" in c else {}))
    names = {c.name for c in checks}
    for b in parts:
        if isinstance(b, Block) and b.kind == "task" and b.check not in names:
            raise StepFileError(f"{where}: task {b.index}'s check {b.check!r} is not one of "
                                f"the step's checks {sorted(names)}")
    return Step(id=raw["id"], order=raw["order"], title=title, parts=tuple(parts),
                checks=tuple(checks), source=path, view=view, chapter=chapter,
                needs=tuple(needs))


def in_chapters(steps: list[Step], chosen: list[str] | None) -> list[Step]:
    """The steps of the chosen chapters (all of them when none were chosen)."""
    return [s for s in steps if chosen is None or s.chapter in chosen]


def load_steps(directory: Path = STEPS_DIR) -> list[Step]:
    """Every step, in talk order; StepFileError when any file is broken."""
    steps = [load_step(p) for p in sorted(directory.glob("*.toml"))]
    if not steps:
        raise StepFileError(f"{directory}: no step files")
    seen: dict[str, Path] = {}
    for s in steps:
        if s.id in seen:
            raise StepFileError(f"{s.source.name}.id: {s.id!r} is also used by "
                                f"{seen[s.id].name}")
        seen[s.id] = s.source
    return sorted(steps, key=lambda s: (s.order, s.id))

"""The steps: JSON API (list, detail, run, check, solve) and the step page.

Each route serves two: an attendee (/api/steps/..., /step/<id>), and the trainer in their
own lab host (/api/trainer/steps/..., /trainer/lab/<id>; the trainer's credentials are
checked by web/trainer.py before any of it). One view does both, told who asks: an
attendee, or the trainer (web/attendees.py's Trainer, whose progress is kept apart).
"""

from __future__ import annotations

from functools import partial

from flask import (
    Blueprint,
    abort,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from labsteps.errors import BadBlock, LabHostError
from labsteps.talk.loader import CHAPTERS, Block, Step
from web import current_lab
from web.api import json_body
from web.attendees import Attendee, Trainer
from web.markup import render
from web.session import current_attendee, language, require_attendee

bp = Blueprint("steps", __name__)


def _who(kind: str, required: bool) -> Attendee | None:
    if kind == "trainer":
        return current_lab().trainer()
    return require_attendee() if required else current_attendee()


def _call(view, kind: str, required: bool, **args):
    return view(_who(kind, required), **args)


def route(rule: str, methods: tuple[str, ...] = ("GET",), required: bool = True):
    """Register view(who, ...) as the attendee's /api<rule> and the trainer's
    /api/trainer<rule>. required: an attendee without a session gets 401 (else who is
    None for them)."""
    def register(view):
        for kind, prefix, name in (("attendee", "/api", view.__name__),
                                   ("trainer", "/api/trainer", "trainer_" + view.__name__)):
            bp.add_url_rule(prefix + rule, name, partial(_call, view, kind, required),
                            methods=list(methods))
        return view
    return register


def _block(block: Block, lang: str, values: dict, tasks: dict, available: bool) -> dict:
    runner = current_lab().runner
    command = runner.command(block, values)
    shown = {
        "index": block.index, "kind": block.kind,
        "command": command or block.talk or block.command,
        "terminal": block.terminal,
        "runnable": block.runnable and block.kind == "command" and available,
        "ready": command is not None, "expect": block.expect, "wait": block.wait,
        "talk": block.talk, "docker": block.docker, "needs_docker": block.needs_docker,
        "note": block.note.get(lang),
    }
    if block.kind == "task":
        done = tasks.get(block.index, {})
        shown.update(task=str(render(block.task[lang])), check=block.check,
                     hint=block.hint[lang] if done.get("hint") or done.get("solution") else None,
                     solved=done.get("how"))
        if not done.get("solution"):  # the solution stays hidden until asked for
            shown["command"] = None
    return shown


def step_json(step: Step, lang: str, who: Attendee | None) -> dict:
    """The step as the API and the pages show it, to who (None: nobody in particular)."""
    lab = current_lab()
    values = lab.runner.values(who.lab) if who else {}
    steps = lab.steps()
    i = steps.index(step)
    tasks = {block: t for (s, block), t in lab.store(who).tasks(who.id).get(who.id, {})
             .items() if s == step.id} if who else {}
    parts = [{"block": p.index} if isinstance(p, Block) else {"html": str(render(p[lang]))}
             for p in step.parts]
    missing = lab.runner.missing.get(step.id, [])
    return {"id": step.id, "title": step.title[lang], "view": step.view,
            "chapter": step.chapter, "available": not missing, "missing": missing,
            "blocks": [_block(b, lang, values, tasks, not missing) for b in step.blocks],
            "parts": parts,
            "checks": [{"name": c.name, "title": (c.title or {}).get(lang, c.name),
                        "hint": c.hint[lang]} for c in step.checks],
            "prev": steps[i - 1].id if i > 0 else None,
            "next": steps[i + 1].id if i + 1 < len(steps) else None}


@route("/steps", required=False)
def list_steps(who: Attendee | None):
    lang = language()
    done = current_lab().store(who).progress(who.id) if who else {}
    return jsonify([{"id": s.id, "title": s.title[lang], "passed": done.get(s.id)}
                    for s in current_lab().steps()])


@route("/steps/<step_id>", required=False)
def get_step(who: Attendee | None, step_id: str):
    step = current_lab().step(step_id)
    if isinstance(who, Trainer):  # the trainer's current step is the one they opened last
        current_lab().set_step(who, step.id)
    return jsonify(step_json(step, language(), who))


@route("/steps/<step_id>/tasks/<int:index>/<any(hint, solution):what>", ("POST",))
def task_help(who: Attendee, step_id: str, index: int, what: str):
    """A task's hint, or its solution (the commands Catch-up would run), on request."""
    step = current_lab().step(step_id)
    tasks = [b for b in step.blocks if b.kind == "task"]
    block = next((b for b in tasks if b.index == index), None)
    if block is None:
        raise BadBlock(f"Step {step_id!r} has no task {index}; its tasks are "
                       f"{[b.index for b in tasks] or 'none'}.")
    current_lab().store(who).task_help(who.id, step.id, index, what)
    if what == "hint":
        return jsonify(index=index, hint=block.hint[language()])
    values = current_lab().runner.values(who.lab)
    command = current_lab().runner.command(block, values)
    return jsonify(index=index, hint=block.hint[language()],
                   command=command or block.command)


@route("/steps/<step_id>/run", ("POST",))
def run_step(who: Attendee, step_id: str):
    step = current_lab().step(step_id)
    body = json_body() if request.get_data() else {}
    index = body.get("block")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise BadBlock("\"block\" is the number of a code block, from 0.")
    current_lab().labhost(who)
    current_lab().set_step(who, step.id)
    return jsonify(results=current_lab().runner.run(who.lab, step.id, index))


@route("/steps/<step_id>/check", ("POST",))
def check_step(who: Attendee, step_id: str):
    step = current_lab().step(step_id)
    current_lab().labhost(who)
    current_lab().set_step(who, step.id)
    return jsonify(_checked(who, step, current_lab().runner.check(who.lab, step.id),
                            catchup=False))


@route("/steps/<step_id>/solve", ("POST",))
def solve_step(who: Attendee, step_id: str):
    step = current_lab().step(step_id)
    result = current_lab().runner.solve(who.lab, step.id,
                                        lambda: current_lab().reset_labhost(who))
    current_lab().set_step(who, step.id)
    return jsonify(_checked(who, step, result, catchup=True))


def _checked(who: Attendee, step: Step, result: dict, catchup: bool) -> dict:
    lang = language()
    lab = current_lab()
    if result.get("available") is False:  # not available here: no pass, no failure
        return result
    store = lab.store(who)
    store.record_check(who.id, step.id, result["passed"])
    for index in lab.runner.tasks_done(step, result):
        store.task_solved(who.id, step.id, index, catchup)
    failed = {c["name"] for c in result["checks"] if not c["passed"]}
    for b in step.blocks:  # a wrong attempt gets the hint: it counts as asked for
        if b.kind == "task" and b.check in failed and not catchup:
            store.task_help(who.id, step.id, b.index, "hint")
    for c in result["checks"]:
        if c["hint"] is not None:
            c["hint"] = c["hint"][lang]
        c["title"] = c["title"][lang]
        c.pop("problem", None)
    return result


# -- pages -------------------------------------------------------------------------


@bp.get("/lab")
def lab_page():
    attendee = current_attendee()
    if attendee is None:
        return redirect(url_for("pages.index"))
    return redirect(url_for("steps.step_page", step_id=current_lab().current_step(attendee).id))


@bp.get("/trainer/lab")
def trainer_lab_page():
    """The trainer's own step page, at their current step (the trainer's login is checked
    by web/trainer.py)."""
    lab = current_lab()
    return redirect(url_for("steps.trainer_step_page", step_id=lab.current_step(lab.trainer()).id))


@bp.get("/step/<step_id>")
def step_page(step_id: str):
    attendee = current_attendee()
    if attendee is None:
        return redirect(url_for("pages.index"))
    return _page(attendee, step_id, mode="attendee",
                 presenter=current_lab().presenter.for_attendees(),
                 hand_raised=attendee.hand is not None)


@bp.get("/trainer/lab/<step_id>")
def trainer_step_page(step_id: str):
    lab = current_lab()
    return _page(lab.trainer(), step_id, mode="trainer", presenting=lab.presenter.on,
                 hand_raised=False)


def _page(who: Attendee, step_id: str, **context):
    """The step page of who, an attendee or the trainer: the same page, told which."""
    lab = current_lab()
    if step_id not in {s.id for s in lab.steps()}:
        abort(404)
    lang = language()
    step = lab.step(step_id)
    lab.set_step(who, step.id)
    done = lab.store(who).progress(who.id)
    return render_template(
        "step.html", attendee=who, lang=lang, step=step_json(step, lang, who),
        steps=[{"id": s.id, "title": s.title[lang], "chapter": s.chapter,
                "passed": done.get(s.id)} for s in lab.steps()],
        hostname=lab.hostname(who), cgroup=lab.hosts.layout.version,
        restarted=_restarted(who),
        chapters={c: title[lang] for c, title in CHAPTERS.items()},
        trainer={"name": lab.config.trainer_name, "contact": lab.config.trainer_contact}
        if lab.config.trainer_name else None, **context)


def _restarted(who: Attendee) -> str | None:
    """Whether to say, once, that this lab host is a fresh one: "restarted" (the lab was),
    "expired" (its owner was away longer than the lab keeps lab hosts), or None."""
    lab = current_lab()
    if lab.is_starting(who.lab):  # just joined: the page need not wait for it
        return None
    try:
        lab.labhost(who)  # made again now if a restart swept it
    except (LabHostError, OSError):
        pass  # the terminals say so, and Run answers 503 with the reason
    for why, labs in (("expired", lab.expired), ("restarted", lab.restarted)):
        if who.lab in labs:
            labs.discard(who.lab)
            return why
    return None

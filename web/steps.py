"""The steps: JSON API (list, detail, run, check, solve) and the step page."""

from __future__ import annotations

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
from web.markup import render
from web.session import current_attendee, language, require_attendee

bp = Blueprint("steps", __name__)


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


def step_json(step: Step, lang: str, lab: str | None, attendee_id: int | None = None) -> dict:
    values = current_lab().runner.values(lab) if lab else {}
    steps = current_lab().steps()
    i = steps.index(step)
    tasks = {block: t for (s, block), t in current_lab().attendees.tasks(attendee_id)
             .get(attendee_id, {}).items() if s == step.id} if attendee_id else {}
    parts = [{"block": p.index} if isinstance(p, Block) else {"html": str(render(p[lang]))}
             for p in step.parts]
    missing = current_lab().runner.missing.get(step.id, [])
    return {"id": step.id, "title": step.title[lang], "view": step.view,
            "chapter": step.chapter, "available": not missing, "missing": missing,
            "blocks": [_block(b, lang, values, tasks, not missing) for b in step.blocks],
            "parts": parts,
            "checks": [{"name": c.name, "title": (c.title or {}).get(lang, c.name),
                        "hint": c.hint[lang]} for c in step.checks],
            "prev": steps[i - 1].id if i > 0 else None,
            "next": steps[i + 1].id if i + 1 < len(steps) else None}


@bp.get("/api/steps")
def list_steps():
    attendee = current_attendee()
    lang = language()
    done = current_lab().attendees.progress(attendee.id) if attendee else {}
    return jsonify([{"id": s.id, "title": s.title[lang], "passed": done.get(s.id)}
                    for s in current_lab().steps()])


@bp.get("/api/steps/<step_id>")
def get_step(step_id: str):
    attendee = current_attendee()
    step = current_lab().step(step_id)
    return jsonify(step_json(step, language(), attendee.lab if attendee else None,
                             attendee.id if attendee else None))


@bp.post("/api/steps/<step_id>/tasks/<int:index>/<any(hint, solution):what>")
def task_help(step_id: str, index: int, what: str):
    """A task's hint, or its solution (the commands Catch-up would run), on request."""
    attendee = require_attendee()
    step = current_lab().step(step_id)
    tasks = [b for b in step.blocks if b.kind == "task"]
    block = next((b for b in tasks if b.index == index), None)
    if block is None:
        raise BadBlock(f"Step {step_id!r} has no task {index}; its tasks are "
                       f"{[b.index for b in tasks] or 'none'}.")
    current_lab().attendees.task_help(attendee.id, step.id, index, what)
    if what == "hint":
        return jsonify(index=index, hint=block.hint[language()])
    values = current_lab().runner.values(attendee.lab)
    command = current_lab().runner.command(block, values)
    return jsonify(index=index, hint=block.hint[language()],
                   command=command or block.command)


@bp.post("/api/steps/<step_id>/run")
def run_step(step_id: str):
    attendee = require_attendee()
    step = current_lab().step(step_id)
    body = json_body() if request.get_data() else {}
    index = body.get("block")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise BadBlock("\"block\" is the number of a code block, from 0.")
    current_lab().labhost(attendee)
    current_lab().attendees.set_step(attendee.id, step.id)
    return jsonify(results=current_lab().runner.run(attendee.lab, step.id, index))


@bp.post("/api/steps/<step_id>/check")
def check_step(step_id: str):
    attendee = require_attendee()
    step = current_lab().step(step_id)
    current_lab().labhost(attendee)
    current_lab().attendees.set_step(attendee.id, step.id)
    return jsonify(_checked(attendee, step, current_lab().runner.check(attendee.lab, step.id),
                            catchup=False))


@bp.post("/api/steps/<step_id>/solve")
def solve_step(step_id: str):
    attendee = require_attendee()
    step = current_lab().step(step_id)
    result = current_lab().runner.solve(attendee.lab, step.id,
                                        lambda: current_lab().reset_labhost(attendee))
    current_lab().attendees.set_step(attendee.id, step.id)
    return jsonify(_checked(attendee, step, result, catchup=True))


def _checked(attendee, step: Step, result: dict, catchup: bool) -> dict:
    lang = language()
    lab = current_lab()
    if result.get("available") is False:  # not available here: no pass, no failure
        return result
    lab.attendees.record_check(attendee.id, step.id, result["passed"])
    for index in lab.runner.tasks_done(step, result):
        lab.attendees.task_solved(attendee.id, step.id, index, catchup)
    failed = {c["name"] for c in result["checks"] if not c["passed"]}
    for b in step.blocks:  # a wrong attempt gets the hint: it counts as asked for
        if b.kind == "task" and b.check in failed and not catchup:
            lab.attendees.task_help(attendee.id, step.id, b.index, "hint")
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
    current = attendee.step or current_lab().steps()[0].id
    return redirect(url_for("steps.step_page", step_id=current))


@bp.get("/step/<step_id>")
def step_page(step_id: str):
    attendee = current_attendee()
    if attendee is None:
        return redirect(url_for("pages.index"))
    lab = current_lab()
    if step_id not in {s.id for s in lab.steps()}:
        abort(404)
    lang = language()
    step = lab.step(step_id)
    lab.attendees.set_step(attendee.id, step.id)
    done = lab.attendees.progress(attendee.id)
    return render_template("step.html", attendee=attendee, lang=lang, step=step_json(
        step, lang, attendee.lab, attendee.id), steps=[{"id": s.id, "title": s.title[lang],
                                          "chapter": s.chapter, "passed": done.get(s.id)}
                                         for s in lab.steps()],
        hostname=current_lab().hostname(attendee), cgroup=current_lab().hosts.layout.version,
        hand_raised=attendee.hand is not None, restarted=_restarted(attendee),
        chapters={c: title[lang] for c, title in CHAPTERS.items()},
        trainer={"name": lab.config.trainer_name, "contact": lab.config.trainer_contact}
        if lab.config.trainer_name else None)


def _restarted(attendee) -> str | None:
    """Whether to say, once, that this lab host is a fresh one: "restarted" (the lab was),
    "expired" (the attendee was away longer than the lab keeps lab hosts), or None."""
    lab = current_lab()
    if lab.is_starting(attendee.lab):  # just joined: the page need not wait for it
        return None
    try:
        lab.labhost(attendee)  # made again now if a restart swept it
    except (LabHostError, OSError):
        pass  # the terminals say so, and Run answers 503 with the reason
    for why, who in (("expired", lab.expired), ("restarted", lab.restarted)):
        if attendee.id in who:
            who.discard(attendee.id)
            return why
    return None

"""Run, Check and Catch-up for the steps, in an attendee's lab host.

Run types a block into the attendee's own terminal, so they watch it happen, and waits for
the shell's prompt (labsteps/terminal/shell.py reads the marks). Check asks
labsteps/talk/checks.py about the lab host's state. Catch-up (solve) makes the lab host
fresh and runs every block of the talk up to the end of a step, the way an attendee
pressing Run would have.

All three take turns (labsteps/talk/turns.py): a few at work at once, the rest queued, and
the lab host's page told its place in the queue, and then which block (of which step) runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from labsteps.errors import (
    BadBlock,
    NeedsContainer,
    NotRunnable,
    StepUnavailable,
    TerminalBusy,
    TimedOut,
    UnknownStep,
)
from labsteps.talk.checks import run_check
from labsteps.talk.inspect import LabView
from labsteps.talk.loader import PLACEHOLDER, Block, Step
from labsteps.talk.turns import Turns
from labsteps.terminal import pty


class Runner:
    def __init__(self, steps: list[Step], hosts, terminals: pty.Terminals,
                 missing: dict[str, list[str]] | None = None, at_once: int = 4,
                 ahead: Iterable[str] = ()):
        self.steps = steps
        # How many Runs, Checks and Catch-ups work at once; the rest wait their turn, so
        # that under a rush the terminals' keys and echoes stay ahead of batch work. The
        # page hears where its request is over the lab host's terminals.
        # Lab hosts ahead (the trainer's: the room is watching it) go before the queue.
        self.turns = Turns(at_once, terminals.announce if terminals else
                           lambda lab, message: None, ahead)
        self.missing = missing or {}  # step id -> kernel features it needs and this host lacks
        self.by_id = {s.id: s for s in steps}
        self.hosts = hosts
        self.terminals = terminals

    def step(self, step_id: str) -> Step:
        step = self.by_id.get(step_id)
        if step is None:
            raise UnknownStep(f"There is no step {step_id!r}.")
        return step

    # -- placeholders ------------------------------------------------------------

    def values(self, lab: str) -> dict[str, str]:
        """What the placeholders stand for in this lab host right now (missing: unknown)."""
        try:
            container = LabView(self.hosts, lab).newest_container()
        except Exception:  # no lab host: nothing to fill in
            return {}
        return {"container_pid": str(container.labpid)} if container else {}

    def command(self, block: Block, values: dict[str, str]) -> str | None:
        """The block's command for this lab host; None while a placeholder is unknown."""
        text = block.for_cgroup(self.hosts.layout.version)
        missing = [n for n in PLACEHOLDER.findall(text) if n not in values]
        if missing:
            return None
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    # -- run -----------------------------------------------------------------------

    def run(self, lab: str, step_id: str, index: int | None = None) -> list[dict]:
        """Run one block, or every runnable block of the step in order (stopping at the
        first whose exit status is not the expected one)."""
        chosen = self._chosen(step_id, index)  # a wrong request does not wait its turn
        with self.turns.turn(lab, "run", step_id, block=1, blocks=len(chosen)) as work:
            results = []
            for n, block in enumerate(chosen, 1):
                work.report(block=n, blocks=len(chosen))
                result = self.run_block(lab, block)
                results.append(result)
                if block.expect is not None and result["exit_code"] != block.expect \
                        and block.wait:
                    break
            return results

    def _chosen(self, step_id: str, index: int | None) -> list[Block]:
        step = self.step(step_id)
        self._available(step)
        blocks = step.blocks
        if index is None:
            return [b for b in blocks if b.runnable and b.kind == "command"]
        if not 0 <= index < len(blocks):
            raise BadBlock(f"Step {step_id!r} has blocks 0 to {len(blocks) - 1}; there "
                           f"is no block {index}.")
        if blocks[index].kind == "task":
            raise NotRunnable("This is a task: do it yourself in the terminal, then "
                              "Check. The hint and the solution are there if you need them.")
        if not blocks[index].runnable:
            raise NotRunnable("This block is shown for comparison only: it needs Docker, "
                              "which the lab does without.")
        return [blocks[index]]

    def run_block(self, lab: str, block: Block, settle: float = 0.0) -> dict:
        before = self._containers(lab) if block.starts_container else None
        result = self._type(lab, block, settle)
        if before is not None:
            self._await_container(lab, block, before)
        return result

    def _containers(self, lab: str) -> set[tuple[int, int]]:
        return {(c.pid, c.started) for c in LabView(self.hosts, lab).containers()}

    def _await_container(self, lab: str, block: Block, before: set) -> None:
        """Wait until a container the block started runs its own program (no longer the
        unshare, chroot or nsenter that set it up): a placeholder filled in after this
        names it, and its root is the one it will keep. On a busy machine that takes a
        moment after the prompt has come back."""
        deadline = time.monotonic() + block.timeout
        while time.monotonic() < deadline:
            new = [c for c in LabView(self.hosts, lab).containers()
                   if (c.pid, c.started) not in before and c.comm not in _SETTING_UP]
            if new:
                return
            time.sleep(0.05)
        raise TimedOut(f"The container this command starts was not running after "
                       f"{block.timeout:g} s; see terminal {block.terminal} for why.")

    def _type(self, lab: str, block: Block, settle: float = 0.0) -> dict:
        command = self.command(block, self.values(lab))
        if command is None:
            raise NeedsContainer("This command needs the PID of a running container, and "
                                 "none runs yet: run the earlier blocks first.")
        term = self.terminals.get(lab, block.terminal)
        if not term.wait_for(lambda: term.state != "starting", 30):
            raise TimedOut(f"Terminal {block.terminal} did not show a prompt within 30 s.")
        if settle:  # Catch-up: the block before may have just started something in the
            # background on this terminal, whose prompt a busy machine prints a moment later
            term.wait_for(lambda: term.state in ("prompt", "exited"), settle)
        if not block.wait:
            if term.state != "prompt":
                raise _busy(block.terminal, term)
            term.write(b"\x05\x15" + command.encode() + b"\r")
            time.sleep(0.3)
            return {"block": block.index, "exit_code": None, "output": "",
                    "command": command}
        try:
            code, output = term.run(command, block.timeout)
        except TerminalBusy:  # said again, with what the attendee can do about it
            raise _busy(block.terminal, term) from None
        except TimeoutError:
            # Not still running: a shell that marks no prompts waits there (the talk's
            # `exec sh` run before its container, say)
            if other := _other_shell(term.foreground()):
                raise TimedOut(f"Terminal {block.terminal} shows no prompt the lab knows "
                               f"after {block.timeout:g} s: {other}") from None
            raise TimedOut(f"The command is still running after {block.timeout:g} s; see "
                           f"terminal {block.terminal} (Ctrl-C stops it).") from None
        return {"block": block.index, "exit_code": code, "output": output[-65536:],
                "command": command}

    # -- check and solve -----------------------------------------------------------

    def check(self, lab: str, step_id: str) -> dict:
        step = self.step(step_id)
        if self.missing.get(step.id):  # nothing to look at: no turn needed
            return self._check(lab, step_id)
        with self.turns.turn(lab, "check", step_id):
            return self._check(lab, step_id)

    def _check(self, lab: str, step_id: str) -> dict:
        step = self.step(step_id)
        if self.missing.get(step.id):  # not available here: neither passed nor failed
            return {"passed": None, "available": False, "missing": self.missing[step.id],
                    "checks": []}
        view = LabView(self.hosts, lab)
        # A task's check answers with the task's hint: a wrong attempt gets the hint.
        hints = {b.check: b.hint for b in step.blocks if b.kind == "task"}
        checks = []
        for c in step.checks:
            passed, problem = run_check(view, c.function, c.args)
            checks.append({"name": c.name, "title": c.title or {"de": c.name, "en": c.name},
                           "passed": passed,
                           "hint": None if passed else hints.get(c.name, c.hint),
                           "problem": problem})
        return {"passed": all(c["passed"] for c in checks), "checks": checks}

    def solve(self, lab: str, step_id: str, make_fresh: Callable[[], object]) -> dict:
        """Fresh lab host (make_fresh() makes it), then every block up to step_id."""
        target = self.step(step_id)
        plan = self._plan(target)
        # No "at" yet: the page says the lab host is being made afresh.
        with self.turns.turn(lab, "catchup", step_id, steps=plan[-1][0], done=0,
                             total=sum(len(blocks) for _, _, blocks in plan)) as work:
            make_fresh()
            done = 0
            for number, step, blocks in plan:
                for n, block in enumerate(blocks, 1):
                    work.report(at=step.id, title=step.title, step_no=number, block=n,
                                blocks=len(blocks), done=done)
                    self.run_block(lab, block, settle=CATCHUP_SETTLE)
                    done += 1
            work.report(done=done)  # all ran; the check is left: the bar is full
            return self._check(lab, step_id)

    def _plan(self, target: Step) -> list[tuple[int, Step, list[Block]]]:
        """What Catch-up runs: (the step's number in the talk, from 1; the step; its blocks,
        a task's solution too) for every step up to target that has something to run. The
        last entry is the target, so the page can say "step 4 of 9" as the sidebar counts."""
        plan = []
        for number, step in enumerate(self.steps, 1):
            if step.order > target.order:
                break
            runs = [] if self.missing.get(step.id) else [b for b in step.blocks if b.runnable]
            if runs or step is target:
                plan.append((number, step, runs))
        return plan

    def _available(self, step: Step) -> None:
        if self.missing.get(step.id):
            raise _unavailable(step, self.missing[step.id])

    @staticmethod
    def tasks_done(step: Step, result: dict) -> list[int]:
        """The indexes of step's tasks whose check passed in result (of check or solve)."""
        passed = {c["name"] for c in result["checks"] if c["passed"]}
        return [b.index for b in step.blocks if b.kind == "task" and b.check in passed]


CATCHUP_SETTLE = 10.0  # seconds Catch-up waits for a terminal's prompt before a block
_SETTING_UP = {"unshare", "chroot", "nsenter", "setpriv"}  # a container's pid 1 before its exec


def _unavailable(step: Step, missing: list[str]) -> StepUnavailable:
    return StepUnavailable(f"Step {step.id!r} needs {', '.join(missing)}, which this lab's "
                           "kernel does not offer (or the trainer turned off): its commands "
                           "are shown to read, not to run.")


SHELLS = {"sh", "ash", "dash", "bash", "busybox", "zsh", "ksh", "mksh"}


def _other_shell(running: tuple[str, bool] | None) -> str:
    """When a shell other than the terminal's own waits in its foreground (running, as
    Terminal.foreground says: one started by hand, or exec'd in place of bash), what to do
    about it; else "". Such a shell does not mark its prompts as the lab's shells do, so
    Run cannot tell it is waiting, and Ctrl-C does not end it."""
    if running is None or running[0] not in SHELLS or (running[0] == "bash" and running[1]):
        return ""
    return (f"a shell of its own runs there ({running[0]}), whose prompt the lab cannot "
            "see. Type exit there to leave it (or Ctrl-C, should it still run something), "
            "then Run again.")


def _busy(n: int, term) -> TerminalBusy:
    running = term.foreground()
    if other := _other_shell(running):
        return TerminalBusy(f"Terminal {n} is busy: {other}")
    what = f"{running[0]} runs there. Wait" if running and not running[1] else "wait"
    return TerminalBusy(f"Terminal {n} is busy: {what} for the prompt, or press Ctrl-C "
                        "there first.")

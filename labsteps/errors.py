"""Every error the lab raises on purpose, as one tree; the message says what a person can do.

    LabError
    ├── LabHostError         a lab host could not be made or used
    │   ├── CgroupError      the host's cgroups cannot hold a lab host
    │   ├── LabFull          no room for another lab host (capacity, memory, uid ranges)
    │   └── LeftBehind       a destroyed lab host left something on the machine
    ├── TerminalGone         the terminal's shell has exited, or was closed
    ├── TerminalBusy         the shell is not waiting at a prompt
    ├── StepError            a Run, Check or Catch-up that cannot happen
    │   ├── UnknownStep, BadBlock, NotRunnable, NeedsContainer, TimedOut
    ├── StepFileError        a step file is broken (also a ValueError)
    └── JoinRefused          a join that cannot happen
        └── WrongCode, BadName, NameTaken

Nothing here knows HTTP: web/errors.py says, once per class, which status and code
an answer has. Catch the class that matters to you; raise the most precise one.
"""

from __future__ import annotations


class LabError(Exception):
    """Something the lab cannot do; str(e) says what, and how to fix it where it can."""


class LabHostError(LabError):
    """A lab host could not be made or used; the message says why."""


class CgroupError(LabHostError):
    """The host's cgroups cannot hold a lab host; the message says why."""


class LabFull(LabHostError):
    """No room for another lab host: the capacity, the memory or the uid ranges are used up."""


class LeftBehind(LabHostError):
    """A lab host that was to be destroyed left processes, cgroups or its record behind."""


class TerminalGone(LabError):
    """The terminal's shell has exited, or the terminal was closed (a reset, a stop)."""


class TerminalBusy(LabError):
    """The shell is not waiting at a prompt (a command runs, or it is still starting)."""


class HandshakeError(LabError):
    """A request to a websocket address that is no upgrade wsproto can accept."""


class StepError(LabError):
    """A Run, Check or Catch-up of a step that cannot happen."""


class UnknownStep(StepError):
    """No step has that id."""


class BadBlock(StepError):
    """No code block of the step has that number."""


class NotRunnable(StepError):
    """The block is shown for comparison only (it needs Docker)."""


class StepUnavailable(StepError):
    """The step needs a kernel feature this host does not offer (see sandbox/features.py)."""


class NeedsContainer(StepError):
    """The block's command names a running container's PID, and none runs yet."""


class TimedOut(StepError):
    """No prompt came back in time; the command may still be running."""


class StepFileError(LabError, ValueError):
    """A step file is broken; the message names the file and the field."""


class JoinRefused(LabError):
    """A join that cannot happen."""


class WrongCode(JoinRefused):
    """The workshop code given is not the group's."""


class BadName(JoinRefused):
    """The name is not one a person can be called in the lab."""


class NameTaken(JoinRefused):
    """Someone in the group already has that name."""

"""A shell on a pty inside a lab host, and its lifetime: spawn, read, resize, terminate.

The shell outlives any browser: whoever attaches gets the screen replayed, then live
output. One reader thread per terminal reads the pty in big chunks and hands each to
every subscriber (the websocket bridges, labsteps/terminal/bridge.py). The reader stops
reading while a subscriber has more than HIGH bytes unacknowledged and resumes below
LOW, so a flood costs bounded memory and a Ctrl-C reaches the shell at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from labsteps.errors import LabHostError, TerminalBusy, TerminalGone
from labsteps.sandbox import proc
from labsteps.terminal.screen import Screen
from labsteps.terminal.shell import ShellMarks

HIGH = 512 * 1024
LOW = 128 * 1024
CHUNK = 64 * 1024  # the most read at once; also the largest websocket frame
DETACHED_RATE = 4 * 1024 * 1024  # bytes/s read while nobody watches, so a flood idles
STREAMING = 4000  # a read this big found the pty's buffer full: there is more
SMALL = 4096  # a frame below this costs about what a full one does (see _read_chunk)
STREAM_GAP = 0.002  # output that follows a chunk of 1 KiB or more this soon is streaming
STREAM_PAUSE = 0.00025  # how long a small chunk of streaming output waits for more
ECHO = 0.1  # output at the prompt this soon after a key is its echo: nothing for on_output


class Subscriber(Protocol):
    unacked: int
    role: str

    def output(self, data: bytes) -> None: ...

    def event(self, message: dict) -> None: ...


_ESCAPES = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC
                      rb"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
                      rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78cM]")  # charsets, keypad, others


def clean_output(raw: bytes) -> str:
    """A command's output as text: no escape sequences, no echo of the command line."""
    text = _ESCAPES.sub(b"", raw).decode("utf-8", errors="replace")
    _echo, _, text = text.partition("\n")
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        lines.append(line.rsplit("\r", 1)[-1] if "\r" in line.rstrip("\r") else line.rstrip("\r"))
    return "\n".join(lines).rstrip("\n") + ("\n" if lines and any(lines) else "")


class Terminal:
    """One shell on one pty. Verbs: write, resize, close; attach/detach for viewers."""

    def __init__(self, argv: list[str], env: dict[str, str], *,
                 rows: int = 24, cols: int = 80, scrollback: int = 1 << 20,
                 processes: Callable[[], Iterable[int]] = lambda: (),
                 on_output: Callable[[], None] | None = None):
        self.master, slave = os.openpty()
        self.on_output = on_output  # told of output but the echo of typing (the kernel
        self._keys_at = 0.0  # model's cue), and when keys were last typed, to tell an echo
        self._set_size(rows, cols)
        self.rows, self.cols = rows, cols
        self.tty_nr = _tty_nr(os.fstat(slave).st_rdev)  # as /proc/PID/stat shows it
        self._processes = processes
        self._lock = threading.Lock()
        self._subs: list[Subscriber] = []
        self._wakeup = WakeUp()  # pause, resume and close reach the reader through it
        self.screen = Screen(scrollback)
        self._marks = ShellMarks()
        self.state = "starting"  # then "prompt" / "busy"; "exited" at the end
        self.last_status: int | None = None
        self.commands = 0  # commands finished so far, to tell one end from the next
        self.prompts = 0  # prompts shown so far
        self.last_done_at = 0  # stream offset where the last command's status was marked
        self._typed = False
        self.exit_code: int | None = None
        self._changed = threading.Condition(self._lock)
        self._paused = False
        self._closed = False
        self.closed_why: str | None = None  # what close() said: "reset" or "stopping"
        # Held by writers and by whoever closes the pty: a closed fd's number may be reused
        # at once. The reader reads without it; the pty is closed only when it has stopped.
        self._fds = threading.Lock()
        self._last_size, self._last_at = 0, 0.0  # the last chunk read, to tell a stream
        try:
            # The spawner (nsenter, then setsid -f) exits at once; the shell it leaves is
            # adopted by the lab host's init and takes this pty as its controlling tty.
            spawner = subprocess.Popen(argv, env=env, stdin=slave, stdout=slave, stderr=slave,
                                       start_new_session=True, close_fds=True)
        finally:
            os.close(slave)
        os.set_blocking(self.master, False)
        threading.Thread(target=spawner.wait, daemon=True, name="terminal-spawner").start()
        self._reader = threading.Thread(target=self._read_loop, daemon=True,
                                        name=f"terminal-reader-{self.master}")
        self._reader.start()

    # -- verbs -------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Type data into the shell (keystrokes, paste); blocks while the pty is full."""
        view = memoryview(data)
        while view:
            with self._fds:  # a closed terminal's fd number may already be someone else's
                if self._closed:
                    raise TerminalGone("the terminal was closed")
                try:
                    view = view[os.write(self.master, view):]
                    self._keys_at = time.monotonic()
                    continue
                except BlockingIOError:
                    pass
                except OSError as e:
                    raise TerminalGone(str(e)) from None
            try:  # the shell has not read its input yet: wait outside the lock, where
                # a closed or reused fd number can only end the wait early
                waiting = select.poll()
                waiting.register(self.master, select.POLLOUT)
                waiting.poll(100)
            except (OSError, ValueError):
                pass

    def write_some(self, data: bytes) -> int:
        """Type as much of data as the pty takes now; how many bytes that was."""
        with self._fds:  # a closed terminal's fd number may already be someone else's
            if self._closed:
                raise TerminalGone("the terminal was closed")
            try:
                written = os.write(self.master, data)
            except BlockingIOError:
                return 0
            except OSError as e:
                raise TerminalGone(str(e)) from None
            self._keys_at = time.monotonic()
            return written

    def resize(self, rows: int, cols: int) -> None:
        with self._fds:
            if self._closed:
                raise TerminalGone("the terminal was closed")
            if (rows, cols) == (self.rows, self.cols):
                return
            self._set_size(rows, cols)
            self.rows, self.cols = rows, cols
        # Whoever shows this terminal to others (labsteps/terminal/broadcast.py) tells
        # them, so that their screens wrap lines where this one does.
        self.announce({"type": "size", "cols": cols, "rows": rows}, role="presenter")

    def close(self, grace: float = 2.0, why: str = "reset") -> None:
        """Hang up, then SIGKILL whatever of this terminal is still running after grace.

        Viewers get a "closed" event with why: "reset" (a new lab host or shell follows)
        or "stopping" (the server is going away)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.closed_why = why
            subs = list(self._subs)
            self.state = "exited"  # a Run waiting for a prompt stops waiting
            self._changed.notify_all()
        victims = self._own_processes()
        for sub in subs:
            sub.event({"type": "closed", "why": why})
        self._wakeup.wake()
        self._reader.join(2)
        if not self._reader.is_alive():  # else the reader releases them on its way out
            self._release()
        if victims:
            threading.Thread(target=_kill_later, args=(victims, grace), daemon=True).start()

    # -- viewers -----------------------------------------------------------------

    def attach(self, sub: Subscriber) -> bytes:
        """Register sub and return the replay it must show before any live output.
        TerminalGone if the terminal was closed meanwhile (a reset raced the connect).
        Output read after the replay was taken goes to sub.output."""
        with self._lock:
            if self._closed or self.state == "exited":
                raise TerminalGone("the terminal was closed")
            self._subs.append(sub)
            return self.screen.replay()

    def detach(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        self._wakeup.wake()

    def acked(self) -> None:
        """A subscriber's unacknowledged count went down: maybe resume reading. Always a
        wake-up (acks are rare): the reader may be deciding to pause at this very moment."""
        self._wakeup.wake()

    def run(self, command: str, timeout: float) -> tuple[int | None, str]:
        """Type command at the prompt, as if typed by hand, and wait for the next prompt.

        Returns (exit status, output without the echo and escape sequences). The status is
        None when the command started a shell of its own (a container's), whose first
        prompt ends the wait. Raises TerminalBusy when no prompt is waiting for input,
        TimeoutError when no prompt came back in time (the command keeps running)."""
        with self._lock:
            if self.state != "prompt":
                raise TerminalBusy("busy" if self.state == "busy" else self.state)
            self.state = "busy"  # until the next prompt, whatever the shell marks
            start, prompts, commands = self.screen.end, self.prompts, self.commands
        # Ctrl-E Ctrl-U first: whatever was half-typed at the prompt must not prefix it.
        self.write(b"\x05\x15" + command.encode() + b"\r")
        if not self.wait_for(lambda: self.prompts > prompts or self.state == "exited",
                             timeout):
            raise TimeoutError(f"no prompt after {timeout:g} s")
        with self._lock:
            finished = self.commands > commands
            end = self.last_done_at if finished else self.screen.end
            raw = self.screen.slice(start, end)
            return (self.last_status if finished else None), clean_output(raw)

    def foreground(self) -> tuple[str, bool] | None:
        """What runs in the terminal's foreground: (its command name, whether it is this
        terminal's own shell), or None when that cannot be told (closed, or it is gone)."""
        with self._fds:
            if self._closed:
                return None
            try:  # the pid as this process sees it: the server's view of every namespace
                group = os.tcgetpgrp(self.master)
            except OSError:
                return None
        leader = proc.stat(group)
        if leader is None or leader.tty_nr != self.tty_nr:
            return None
        return leader.comm, leader.session == group  # the login shell leads the session

    @property
    def alive(self) -> bool:
        return self.state != "exited"

    def roles(self) -> list[str]:
        """Who watches: "attendee", "watch" or "takeover", one per attached viewer."""
        with self._lock:
            return [getattr(s, "role", "attendee") for s in self._subs]

    def announce(self, message: dict, role: str | None = "attendee") -> None:
        """An event to every viewer of one role (the attendee's pages, say), or to all."""
        with self._lock:
            subs = [s for s in self._subs if role is None or getattr(s, "role", "attendee") == role]
        for sub in subs:
            sub.event(message)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until predicate() (checked under the terminal's lock) holds."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout)

    # -- the reader --------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            self._read_until_closed()
        finally:
            if self._closed:
                self._release()
            elif self.state != "exited":  # an error ended the reader: no shell to reach
                self._exited()

    def _release(self) -> None:
        """Close the pty (the hang-up: SIGHUP to the shell's session) and the wake-up pipe."""
        with self._fds:  # no write or resize is half done with this number
            if self.master >= 0:
                try:
                    os.close(self.master)
                except OSError:
                    pass
                self.master = -1
        self._wakeup.close()

    def _read_until_closed(self) -> None:
        poller = select.poll()
        poller.register(self._wakeup.fd, select.POLLIN)
        watching_pty = False
        while not self._closed:
            self._update_pause()
            if self._paused == watching_pty:  # flip pty polling on or off
                if watching_pty:
                    poller.unregister(self.master)
                else:
                    poller.register(self.master, select.POLLIN)
                watching_pty = not watching_pty
            for fd, _events in poller.poll():
                if fd != self.master:
                    self._wakeup.drain()
                    continue
                data = self._read_chunk()
                if data is None:
                    if not self._closed:  # else close() has told the viewers already
                        self._exited()
                    return
                if data:
                    self._deliver(data)
                    if not self._subs and len(data) >= CHUNK // 2:
                        time.sleep(len(data) / DETACHED_RATE)

    def _read_chunk(self) -> bytes | None:
        """Up to CHUNK bytes; the pty hands out at most 4 KiB per read. None: shell gone.

        A frame costs a send, a wake-up of the browser and often an ack, whatever its size,
        and a flood of short lines (yes) leaves the pty a few hundred bytes at a time. So
        while output streams (the last chunk had 1 KiB or more and went out moments ago), a
        chunk still smaller than SMALL waits STREAM_PAUSE once for more. A keystroke's echo
        follows no such chunk and goes out at once."""
        streaming = self._last_size >= 1024 and time.monotonic() - self._last_at < STREAM_GAP
        data = self._read_pty(CHUNK)
        parts, size, waited = [], 0, False
        while True:
            if data is None:
                return b"".join(parts) or None
            if data:
                parts.append(data)
                size += len(data)
            if size >= CHUNK:
                break
            if len(data) < STREAMING:  # the pty has no more just now
                if not streaming or size >= SMALL or waited:
                    break
                waited = True
                time.sleep(STREAM_PAUSE)
            data = self._read_pty(CHUNK - size)
        self._last_size, self._last_at = size, time.monotonic()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _read_pty(self, n: int) -> bytes | None:
        """b"" when the pty has nothing just now, None when every process has closed it."""
        try:  # without a lock: only this thread reads, and the fd outlives it
            return os.read(self.master, n) or None
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno == errno.EIO:
                return None
            raise

    def _deliver(self, data: bytes) -> None:
        # Marks start with ESC ]. Look for a lone ESC first: a one-byte search is a memchr,
        # the two-byte one costs some 80 us per 64 KiB, and a flood has no ESC at all.
        osc = b"\x1b" in data and b"\x1b]" in data
        # Told first, so that whoever sees the prompt below finds the cue given. Typing at
        # the prompt changes nothing in the lab host: its echo is no cue.
        if self.on_output is not None and (osc or self.state != "prompt" or
                                           time.monotonic() - self._keys_at > ECHO):
            self.on_output()
        events = self._marks.feed(data) if osc or self._marks.pending else []
        with self._lock:
            base = self.screen.end
            self.screen.feed(data)
            subs = list(self._subs)
            finished = [status for kind, status, where in events
                        if self._note(kind, status, base + where)]
            if events:
                self._changed.notify_all()
        for sub in subs:
            sub.output(data)
        for status in finished:
            for sub in subs:
                sub.event({"type": "command", "exit_code": status})

    def _note(self, kind: str, status: int | None, at: int) -> bool:
        """Track the shell's state; True when a command typed at a prompt has finished.

        The container image's busybox sh marks prompts (A, B) and statuses (D) but not
        command starts (C), so a D counts when input (B) came before it."""
        if kind == "prompt":
            self.state = "prompt"
            self.prompts += 1
        elif kind == "input":
            self.state = "prompt"
            self._typed = True
        elif kind == "busy":
            self.state = "busy"
        elif kind == "done" and self._typed:
            self._typed = False
            self.last_status, self.last_done_at = status, at
            self.commands += 1
            return True
        elif kind == "exit":
            self.exit_code = status
        return False

    def _exited(self) -> None:
        with self._lock:
            self.state = "exited"
            subs = list(self._subs)
            self._changed.notify_all()
        for sub in subs:
            sub.event({"type": "exit", "code": self.exit_code})

    def _update_pause(self) -> None:
        worst = max((s.unacked for s in list(self._subs)), default=0)
        if self._paused and worst <= LOW:
            self._paused = False
        elif not self._paused and worst > HIGH:
            self._paused = True

    def _set_size(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _own_processes(self) -> list[tuple[int, int]]:
        """(pid, start time) of every process whose controlling tty is this pty."""
        found = []
        for pid in self._processes():
            stat = proc.stat(pid)
            if stat is not None and stat.tty_nr == self.tty_nr:
                found.append((pid, stat.started))
        return found


class WakeUp:
    """A pipe that wakes a thread out of poll(); wake() after close() is a no-op."""

    def __init__(self) -> None:
        self.fd, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._lock = threading.Lock()  # a closed pipe's fd numbers may be reused
        self._closed = False

    def wake(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                os.write(self._w, b"x")
            except OSError:  # full: a wake-up is pending anyway
                pass

    def drain(self) -> None:
        try:
            while os.read(self.fd, 4096):
                pass
        except OSError:  # empty (or closed meanwhile)
            pass

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._w)
                os.close(self.fd)


def _tty_nr(rdev: int) -> int:
    """A device number as /proc/PID/stat's tty_nr field encodes it."""
    major, minor = os.major(rdev), os.minor(rdev)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def _kill_later(victims: list[tuple[int, int]], grace: float) -> None:
    deadline = time.monotonic() + grace
    while victims and time.monotonic() < deadline:
        time.sleep(0.05)
        victims = [v for v in victims if proc.is_running(*v)]
    for pid, started in victims:
        if proc.is_running(pid, started):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Terminals:
    """Every lab host's terminals, by (lab host name, number); a dead one is replaced on use."""

    def __init__(self, hosts, on_output: Callable[[str], None] | None = None):
        self.hosts = hosts  # labsteps.sandbox.labhost.LabHosts
        self.on_output = on_output  # told the lab host's name when a terminal of it shows output
        self._lock = threading.Lock()
        self._terms: dict[tuple[str, int], Terminal] = {}
        self._stopped = False

    def get(self, name: str, n: int, rows: int = 24, cols: int = 80) -> Terminal:
        """The live terminal n of lab host name, spawning a login shell if there is none."""
        with self._lock:
            if self._stopped:
                raise TerminalGone("the lab server is stopping")
            term = self._terms.get((name, n))
            if term is not None and term.alive:
                return term
            if term is not None:
                term.close(grace=0)
            host = self.hosts.require(name)
            argv, env = self.hosts.command(host, ["/usr/bin/setsid", "-f", "-c",
                                                  "/bin/bash", "-l"])
            try:
                term = Terminal(argv, env, rows=rows, cols=cols,
                                processes=lambda: self.hosts.processes(name),
                                on_output=(lambda: self.on_output(name)) if self.on_output
                                else None)
            except OSError as e:  # no pty, or no process, to be had
                raise LabHostError(f"could not start a shell in lab host {name}: {e}") from e
            self._terms[(name, n)] = term
            return term

    def existing(self, name: str, n: int) -> Terminal | None:
        with self._lock:
            return self._terms.get((name, n))

    def of(self, name: str) -> dict[int, Terminal]:
        """Lab host name's terminals by number."""
        with self._lock:
            return {n: t for (lab, n), t in self._terms.items() if lab == name}

    def announce(self, name: str, message: dict, role: str | None = None) -> None:
        """An event to everyone viewing a terminal of lab host name (or to one role)."""
        for term in self.of(name).values():
            term.announce(message, role=role)

    def watched(self, name: str) -> bool:
        """Whether anyone has a terminal of lab host name open."""
        return any(term.roles() for term in self.of(name).values())

    def close_all(self, name: str, grace: float = 0.0) -> None:
        with self._lock:
            doomed = [k for k in self._terms if k[0] == name]
            terms = [self._terms.pop(k) for k in doomed]
        for term in terms:
            term.close(grace)

    def shutdown(self) -> None:
        """Close every terminal, for good: the server is stopping."""
        with self._lock:
            self._stopped = True
            terms = list(self._terms.values())
            self._terms.clear()
        for term in terms:
            term.close(grace=0, why="stopping")

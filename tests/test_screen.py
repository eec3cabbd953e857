"""Screen replay and shell marks, fed by hand (no lab host needed)."""

from labsteps.terminal.screen import Screen
from labsteps.terminal.shell import ShellMarks


def test_replay_starts_at_the_last_clear():
    s = Screen()
    s.feed(b"old stuff\r\n\x1b[H\x1b[2Jnew screen\r\n")
    assert s.replay() == b"\x1b[2Jnew screen\r\n"


def test_a_trimmed_history_replays_from_a_line_start():
    s = Screen(limit=100)
    for i in range(50):
        s.feed(b"line %02d\r\n" % i)
    out = s.replay()
    assert out.startswith(b"line ") and out.endswith(b"line 49\r\n") and len(out) <= 100


def test_alternate_screen_keeps_the_normal_screen_below_and_the_modes():
    s = Screen()
    s.feed(b"$ vi\r\n\x1b[?1049h\x1b[?1h\x1b[2J~\r\n~\r\n")
    out = s.replay()
    assert out.startswith(b"$ vi\r\n\x1b[?1049h") and out.endswith(b"\x1b[?1h")


def test_a_long_alternate_screen_stretch_replays_from_the_last_home():
    s = Screen(limit=4096)
    s.feed(b"prompt\r\n\x1b[?1049h\x1b[2J")
    for i in range(200):
        s.feed(b"\x1b[Hframe %03d" % i + b" " * 40)
    out = s.replay()
    assert out.startswith(b"\x1b[?1049h\x1b[Hframe 199") and b"frame 198" not in out


def test_leaving_the_alternate_screen_restores_the_normal_replay():
    s = Screen()
    s.feed(b"vorher\r\n\x1b[?1049h\x1b[2Jvoll\x1b[?1049l")
    s.feed(b"nachher\r\n")
    assert s.replay() == b"vorher\r\n\x1b[?1049h\x1b[2Jvoll\x1b[?1049lnachher\r\n"


def test_shell_marks_split_across_reads():
    marks = ShellMarks()
    assert marks.feed(b"output\x1b]133;D") == []
    assert marks.feed(b";7\x07\x1b]133;A\x07root@lab:~# \x1b]13") == \
        [("done", 7, -7), ("prompt", None, 3)]
    assert marks.feed(b"3;B\x07") == [("input", None, -4)]
    assert marks.feed(b"\x1b]6973;exit;3\x07") == [("exit", 3, 0)]

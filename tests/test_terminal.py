"""The browser terminal, as a browser uses it: a real server on 127.0.0.1, real websockets."""

import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from labsteps.terminal.pty import HIGH
from tests.wsclient import RawSocket, Term, join

pytestmark = pytest.mark.root
PROMPT = "root@lab-"


@pytest.fixture
def anna(server):
    return join(server, "Anna")


@pytest.fixture
def term(server, anna):
    t = Term(server, anna)
    t.until(PROMPT)
    yield t
    t.close()


def test_typing_reaches_the_shell_and_resize_reaches_stty(term):
    assert "hallo-42" in term.run("echo hallo-$((6*7))")
    term.control({"type": "resize", "cols": 101, "rows": 33})
    assert "33 101" in term.run("stty size")
    assert term.run("echo $TERM $LANG")[-200:].count("xterm-256color C.UTF-8") >= 1


def test_a_paste_bigger_than_the_pty_buffer_arrives_whole(term):
    # Pasted before stty has run, the bytes would meet a canonical-mode line (4 KiB at most).
    term.send("stty raw -echo; echo RAW''-ON; head -c 200000 | wc -c | sed s/^/got=/; stty sane\r")
    term.until(b"RAW-ON")
    term.send(b"y" * 200_000)  # the pty takes a few KiB at a time
    assert b"got=200000" in term.until(b"got=200000", timeout=20)


def test_prompt_and_command_events(term):
    term.until("root@lab-anna:~# ")
    term.send("false\r")
    assert term.event("command") == {"type": "command", "exit_code": 1}


def test_a_utf8_character_split_across_two_reads_arrives_intact(term):
    term.out.clear()
    term.send("printf '\\303'; sleep 0.3; printf '\\244\\n'\r")
    data = term.until("\xe4".encode())  # ä, whose two bytes left the pty 0.3 s apart
    assert "ä".encode() in data


def test_reconnect_returns_to_the_same_shell_and_screen(server, anna, term):
    pid = term.run("echo pid=$$").split("pid=")[-1].split()[0]
    term.send("echo vor-dem-''abbruch\r")
    term.until("vor-dem-abbruch\r\n")
    term.close()
    again = Term(server, anna)
    hello = again.event("hello")
    assert hello["replay"] > 0
    again.until("vor-dem-abbruch")  # the old screen comes first...
    assert f"pid={pid}" in again.run("echo pid=$$")  # ...and the shell is the same
    again.close()


def test_reconnect_while_top_runs_shows_tops_screen(server, anna, term):
    term.send("top -d 0.5\r")
    term.until("load average")
    term.close()
    again = Term(server, anna)
    replay = again.event("hello")["replay"]
    screen = again.until("load average")
    # The replay starts at top's last full redraw, not with the whole history.
    assert screen.startswith(b"\x1b[") and PROMPT.encode() not in screen[:replay]
    again.send("q")
    again.out.clear()
    again.until(PROMPT)
    again.close()


def test_reconnect_restores_a_full_screen_program_on_the_alternate_screen(server, anna, term):
    term.send("echo davor; printf '\\e[?1049h\\e[2J\\e[?1h%s' voll''bild; sleep 60\r")
    term.until("vollbild")  # printed, not the echo of the typed line
    term.close()
    again = Term(server, anna)
    replay = again.event("hello")["replay"]
    again.until("vollbild")
    screen = bytes(again.out[:replay])
    assert b"davor" in screen  # the normal screen below, as it was
    assert screen.index(b"\x1b[?1049h") < screen.rindex(b"vollbild")
    assert screen.endswith(b"\x1b[?1h\x1b[?2004l") or b"\x1b[?1h" in screen[-40:]
    again.send(b"\x03")
    again.close()


def test_two_tabs_on_one_terminal_both_see_output(server, anna, term):
    other = Term(server, anna)
    other.until(PROMPT)
    term.send("echo fuer-''beide\r")
    term.until("fuer-beide\r\n")
    other.until("fuer-beide\r\n")
    other.close()


def test_a_flood_without_acks_stays_bounded_and_ctrl_c_stops_it(server, anna):
    t = Term(server, anna, ack=False)
    t.until(PROMPT)
    before = server.rss()
    t.send("yes nslab-flut\r")
    end = time.monotonic() + 3
    while time.monotonic() < end:
        t.pump(0.2)
    assert t.received < HIGH + 256 * 1024, t.received  # the server stopped at the window
    assert server.rss() - before < 32 * 1024 * 1024
    t.out.clear()
    t.send(b"\x03")
    time.sleep(0.2)  # the interrupt reaches yes (the kernel hands keys on a moment later)
    t.ack = True
    t.control({"type": "ack", "bytes": t.received})
    t.until(PROMPT, timeout=30)
    # At once: what came between the interrupt and the prompt is what was already in
    # flight, not a backlog of the flood.
    assert len(t.out) < HIGH + 256 * 1024, len(t.out)
    t.close()


def test_acks_in_any_json_spelling_let_a_paused_flood_go_on(server, anna):
    t = Term(server, anna, ack=False)
    t.until(PROMPT)
    t.send("yes nslab-flut\r")
    acked = 0
    for spelling in ('{"type":"ack","bytes":%d}', '{ "type" : "ack" ,\n "bytes" : %d }',
                     '{"bytes": %d, "type": "ack"}'):
        end = time.monotonic() + 30
        # The server stops once a window of output is unacknowledged; then nothing comes.
        while (t.received <= acked + HIGH or t.pump(0.5)) and time.monotonic() < end:
            t.pump(0.5)
        assert t.received > acked + HIGH, "the flood never filled the window"
        acked = t.received
        t.ws.send(spelling % acked)
        while t.received < acked + 64 * 1024 and time.monotonic() < end:
            t.pump(0.5)
        assert t.received >= acked + 64 * 1024, spelling  # the ack let it go on
    t.out.clear()
    t.send(b"\x03")
    t.ack = True
    t.control({"type": "ack", "bytes": t.received})
    t.until(PROMPT, timeout=30)
    t.close()


def test_a_flood_arrives_whole_in_order_and_in_frames_of_at_most_64_kib(server, anna):
    # The reader sends a flood's chunks as it reads them and the bridge thread sends what a
    # socket did not take; the "command" event must come after the output it follows.
    raw = RawSocket(server, anna)
    raw.output_until(PROMPT.encode(), timeout=30)
    raw.frame(0x2, b"head -c 3000000 /dev/zero | tr '\\0' a; echo flut-''ende\r")
    out, frames, received, acked, event_at = bytearray(), [], 0, 0, None
    for op, payload in raw.frames(timeout=120):
        frames.append((op, len(payload)))
        if op == 0x2:
            out += payload
            received += len(payload)
            if received - acked >= 64 * 1024:
                acked = received
                raw.frame(0x1, b'{"type":"ack","bytes":%d}' % acked)
        elif op == 0x1 and b'"command"' in payload:
            event_at = len(out)
            break
    assert max(n for op, n in frames if op == 0x2) <= 64 * 1024
    first = out.find(b"a" * 100)
    flood, rest = out[first:first + 3_000_000], out[first + 3_000_000:]
    assert flood == b"a" * 3_000_000 and rest.startswith((b"flut-ende", b"\r\nflut-ende"))
    assert event_at is not None and event_at > out.find(b"flut-ende")  # after the output
    raw.sock.close()


def test_keys_sent_in_one_packet_with_an_ack_reach_the_shell(server, anna):
    raw = RawSocket(server, anna)
    assert raw.status == 101
    raw.output_until(PROMPT.encode(), timeout=30)
    # What a browser sends after rendering an echo and typing on at once.
    raw.sock.sendall(raw.encode(0x1, b'{"type":"ack","bytes":1}') +
                     raw.encode(0x2, b"echo raw-$((40+2))\r") +
                     raw.encode(0x1, b'{"type": "ack", "bytes": 2}'))
    assert b"raw-42" in raw.output_until(b"raw-42\r\n")
    raw.sock.close()


def test_shell_exit_is_announced_and_a_new_shell_follows(server, anna, term):
    old = term.run("echo pid=$$").split("pid=")[-1].split()[0]
    term.send("exit 7\r")
    assert term.event("exit")["code"] == 7
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            term.pump(5)
    assert closed.value.rcvd.code == 1000
    again = Term(server, anna)
    again.until(PROMPT)
    assert f"pid={old}" not in again.run("echo pid=$$")
    again.close()


def test_each_attendee_reaches_only_their_own_lab_host(server, anna, term):
    bert = Term(server, join(server, "Bert"))
    bert.until(PROMPT)
    assert "lab-bert" in bert.run("hostname")
    assert "lab-anna" in term.run("hostname")
    bert.close()


@pytest.mark.parametrize("cookie,origin,n,status", [
    (None, None, 1, 403),  # no session
    ("nslab_session=forged.value.here", None, 1, 403),  # a cookie that is not ours
    ("ANNA", "http://evil.example", 1, 403),  # a foreign page
    ("ANNA", None, 3, 404),  # no such terminal
])
def test_refused_before_any_shell_starts(server, anna, cookie, origin, n, status):
    with pytest.raises(InvalidStatus) as refused:
        Term(server, anna if cookie == "ANNA" else cookie, n=n, origin=origin)
    assert refused.value.response.status_code == status


def test_plain_get_of_the_websocket_address_is_a_json_error(server):
    import json
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server + "/ws/terminal/1", timeout=5)
    assert e.value.code in (400, 403)
    assert set(json.load(e.value)) == {"error", "message"}


def test_oversized_input_closes_with_1009(server, anna):
    t = Term(server, anna)
    t.until(PROMPT)
    t.send(b"x" * (300 * 1024))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            t.pump(5)
    assert closed.value.rcvd.code == 1009


def test_malformed_control_messages_are_answered_not_fatal(term):
    for bad in ("not json", '{"type": "resize", "cols": "wide"}', '[1, 2]', '{"type": "zap"}',
                '{"type": "ack", "bytes": -5}', '{"type": "resize", "cols": 99999, "rows": 9}'):
        term.ws.send(bad)
        assert term.event("error")["message"]
    assert "still-here" in term.run("echo still-here")


def test_invalid_utf8_in_a_text_frame_closes_with_1007(server, anna):
    raw = RawSocket(server, anna)
    assert raw.status == 101
    raw.frame(0x1, b'{"type": "\xff\xfe"}')
    assert raw.close_code() == 1007


def test_unmasked_frames_close_with_1002(server, anna):
    raw = RawSocket(server, anna)
    raw.sock.sendall(b"\x82\x01a")  # a binary frame without a mask
    assert raw.close_code() == 1002


def test_of_two_protocol_errors_in_one_read_the_first_closes(server, anna):
    raw = RawSocket(server, anna)
    raw.output_until(PROMPT.encode(), timeout=30)
    raw.sock.sendall(raw.encode(0x2, b"echo vor-''dem-fehler\r") +
                     raw.encode(0x1, b'{"type": "\xff\xfe"}') + b"\x82\x01a")
    assert raw.close_code() == 1007
    t = Term(server, anna)  # the keys before the errors reached the shell
    assert b"vor-dem-fehler" in t.until("vor-dem-fehler\r\n")
    t.close()


@pytest.fixture
def quick_pings(server_env):
    server_env["NSLAB_WS_PING"] = "1"  # a peer silent for 2.5 s is gone


def test_a_silent_peer_is_dropped(quick_pings, server, anna):
    raw = RawSocket(server, anna)  # handshakes, then never answers a ping
    started = time.monotonic()
    assert raw.close_code(timeout=30) is None  # no close frame: the peer is taken for gone
    assert 2 <= time.monotonic() - started < 25  # not at once


def test_a_paste_the_shell_reads_late_is_no_silence(quick_pings, server, anna):
    # The bridge waits in write() until the shell reads the paste, longer than 2.5 pings;
    # the client was not silent, the bridge was busy.
    term = Term(server, anna)
    term.until(PROMPT)
    term.send("stty raw -echo; echo RAW''-ON; sleep 4; head -c 100000 | wc -c | sed s/^/got=/;"
              " stty sane\r")
    term.until(b"RAW-ON")
    term.send(b"y" * 100_000)
    assert b"got=100000" in term.until(b"got=100000", timeout=30)
    assert "alive" in term.run("echo al''ive")


def test_more_tabs_at_once_than_allowed_are_refused_before_the_upgrade(server, anna):
    # Each open websocket holds one of the server's threads: opened all at once, only
    # MAX_TABS may pass the check, however quickly they come.
    import threading

    from web.terminal import MAX_TABS
    results, lock = [], threading.Lock()

    def open_one():
        try:
            t = Term(server, anna)
            outcome = t
        except InvalidStatus as e:
            outcome = e.response.status_code
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=open_one) for _ in range(MAX_TABS + 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    opened = [r for r in results if isinstance(r, Term)]
    assert len(opened) == MAX_TABS and sorted(r for r in results if isinstance(r, int)) == [409] * 3
    for t in opened:
        t.close()
    deadline = time.monotonic() + 10  # closed tabs free their places once their bridges end
    while True:
        try:
            again = Term(server, anna)
            break
        except InvalidStatus as e:
            assert e.response.status_code == 409 and time.monotonic() < deadline
            time.sleep(0.1)
    again.until(PROMPT, timeout=30)
    again.close()

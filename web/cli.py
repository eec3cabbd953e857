"""The ``nslab`` command: serve the lab, check the host, and handle lab hosts by hand."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from labsteps.config import Config
from labsteps.errors import LabError, LabHostError
from labsteps.sandbox import doctor
from labsteps.sandbox.labhost import LabHosts


def _config(args: argparse.Namespace) -> Config:
    return Config.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None),
                           state_dir=getattr(args, "state_dir", None))


def cmd_serve(args: argparse.Namespace) -> int:
    from web.server import serve

    return serve(_config(args))


def cmd_doctor(args: argparse.Namespace) -> int:
    config = _config(args)
    findings = doctor.check(config)
    for f in findings:
        print(f.line())
    if all(f.ok for f in findings) and not args.no_probe:
        for f in doctor.probe(LabHosts(config)):
            findings.append(f)
            print(f.line())
    bad = [f for f in findings if not f.ok]
    print(f"\n{len(bad)} problem(s)" if bad else "\nthis machine can run nslab")
    return 1 if bad else 0


def cmd_image(args: argparse.Namespace) -> int:
    from labsteps.sandbox.image import build

    config = _config(args)
    target = Path(args.output) if args.output else config.lib_dir / "vorlage.tar"
    print(build(target))
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    hosts = LabHosts(_config(args))
    if args.action == "create":
        host = hosts.create(args.name, hostname=args.hostname)
        print(f"{host.name}: hostname {host.hostname}, pid {host.pid}, uids {host.uid}-"
              f"{host.uid + 65535}")
    elif args.action == "exec":
        if not args.command:
            raise LabHostError("nothing to run: nslab sandbox exec NAME -- CMD...")
        code, out = hosts.run(args.name, shlex.join(args.command), timeout=args.timeout)
        sys.stdout.buffer.write(out)
        return code
    elif args.action == "list":
        for h in hosts.list():
            state = "running" if h.alive() else "stopped"
            print(f"{h.name}\t{h.hostname}\t{state}\tpid {h.pid}\tuids {h.uid}+65536")
    elif args.action == "destroy":
        if args.all:
            for name in hosts.sweep():
                print(f"destroyed {name}")
        elif args.name:
            hosts.destroy(args.name)
            print(f"destroyed {args.name}")
        else:
            raise LabHostError("name a lab host, or --all")
    return 0


def _classroom(config: Config):
    from web.attendees import Attendees
    from web.classroom import Classroom

    config.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Classroom(Attendees(config.state_dir / "nslab.db"), LabHosts(config),
                     trainer=Attendees(config.state_dir / "trainer.db"))


def cmd_attendees(args: argparse.Namespace) -> int:
    room = _classroom(_config(args))
    rows = room.snapshot()
    code = room.attendees.code()
    print(f"workshop code: {code or '(none)'}   attendees: {len(rows)}")
    for r in rows:
        hand = "  hand raised" if r["hand_raised"] else ""
        print(f"{r['id']:>4}  {r['name']:<24} step {r['step'] or '-':<16} "
              f"passed {len(r['passed']):>2}{hand}")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    config = _config(args)
    room = _classroom(config)
    if args.all:
        code = room.new_group(code_enabled=config.workshop_code != "")
        print(f"new group: every lab host ended, attendees and progress cleared, "
              f"workshop code {code or '(none)'}")
        return 0
    if args.trainer:
        room.reset_trainer()
        print("the trainer: lab host destroyed, nothing left, progress cleared; "
              "a fresh one starts on the next visit")
        return 0
    if not args.attendee:
        raise LabHostError("name an attendee (id or name), --trainer, or --all")
    who = room.attendees.get(int(args.attendee)) if args.attendee.isdigit() else \
        room.attendees.by_name(args.attendee)
    if who is None:
        raise LabHostError(f"no attendee {args.attendee!r} (see nslab attendees)")
    room.reset(who)
    print(f"{who.name}: lab host destroyed, nothing left; a fresh one starts on the next visit")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nslab", description=__doc__)
    p.add_argument("--state-dir", help="state folder (NSLAB_STATE_DIR, default /var/lib/nslab)")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("serve", help="start the lab's web server")
    s.add_argument("--host", help="address to bind (NSLAB_HOST, default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (NSLAB_PORT, default 8000)")
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("doctor", help="check that this machine can run lab hosts")
    d.add_argument("--no-probe", action="store_true", help="skip starting a real lab host")
    d.set_defaults(func=cmd_doctor)

    a = sub.add_parser("attendees", help="who is in the group, on which step")
    a.set_defaults(func=cmd_attendees)

    r = sub.add_parser("reset", help="a fresh lab host for one attendee or the trainer, "
                       "or a new group")
    r.add_argument("attendee", nargs="?", help="id or name")
    r.add_argument("--trainer", action="store_true",
                   help="the trainer's own lab host and progress, afresh")
    r.add_argument("--all", action="store_true",
                   help="new group: end every lab host, clear attendees, new workshop code")
    r.set_defaults(func=cmd_reset)

    i = sub.add_parser("image", help="build the vorlage template image")
    i.add_argument("action", choices=["build"])
    i.add_argument("--output", help="where to write it (default NSLAB_LIB_DIR/vorlage.tar)")
    i.set_defaults(func=cmd_image)

    b = sub.add_parser("sandbox", help="create, use, list and destroy lab hosts by hand")
    b.add_argument("action", choices=["create", "exec", "list", "destroy"])
    b.add_argument("name", nargs="?")
    b.add_argument("--hostname", help="create: hostname inside (default lab-NAME)")
    b.add_argument("--all", action="store_true", help="destroy: every lab host")
    b.add_argument("--timeout", type=float, default=300, help="exec: seconds (default 300)")
    b.set_defaults(func=cmd_sandbox)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:  # sandbox exec NAME -- CMD...: everything after -- is the command
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    args = parser().parse_args(argv)
    args.command = command
    if args.cmd == "sandbox" and args.action in ("create", "exec") and not args.name:
        parser().error(f"sandbox {args.action} needs a NAME")
    try:
        return args.func(args)
    except (LabError, ValueError, OSError) as e:
        print(f"nslab: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

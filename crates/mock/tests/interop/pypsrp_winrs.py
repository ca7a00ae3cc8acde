#!/usr/bin/env python3
"""Drive a WinRM remote shell with pypsrp (`WSMan` + `WinRS` + `Process`, Basic).

crates/mock/tests/interop_winrs.rs runs this against Touchstone's mock with the default
scenario (mocks/default.toml):

    python3 pypsrp_winrs.py http://127.0.0.1:5985/wsman

Steps: a command that echoes stdin (`more`), the shell environment, Ctrl+C and
terminate of a command that runs until signalled (`ping -t 127.0.0.1`), and the
faults for a terminated command and a closed shell. One `ok <step> <detail>` line per
step; the first mismatch prints `FAIL <step>: <why>` on stderr and exits 1; a missing
pypsrp exits 2.
"""

from __future__ import annotations

import os
import sys
import urllib.parse

try:
    from pypsrp.exceptions import WSManFaultError
    from pypsrp.shell import CommandState, Process, SignalCode, WinRS
    from pypsrp.wsman import WSMan
except ImportError as err:  # pragma: no cover - depends on the machine
    print(f"FAIL import: pypsrp is not installed (pip install pypsrp): {err}", file=sys.stderr)
    sys.exit(2)

REPLY = b"Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n"
CTRL_C_EXIT = -1073741510
SHELL_NOT_FOUND = 2150858843


class Mismatch(Exception):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Mismatch(message)


def poll_until(p: Process, cond, what: str, limit: int = 50) -> None:
    for _ in range(limit):
        p.poll_invoke()
        if cond():
            return
    raise Mismatch(f"{what}: not after {limit} Receives (stdout {p.stdout!r}, state {p.state})")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = urllib.parse.urlparse(sys.argv[1])
    wsman = WSMan(
        url.hostname,
        port=url.port,
        path=url.path.lstrip("/") or "wsman",
        username="admin",
        password="admin",
        ssl=url.scheme == "https",
        # TOUCHSTONE_AUTH: "basic" (the default here) or "ntlm"/"negotiate", which
        # seal every message over plain HTTP.
        auth=os.environ.get("TOUCHSTONE_AUTH", "basic"),
        encryption="never" if os.environ.get("TOUCHSTONE_AUTH", "basic") == "basic" else "auto",
        cert_validation=False,
        operation_timeout=5,
    )
    try:
        with WinRS(wsman, environment={"GREETING": "hello from pypsrp"}) as shell:
            p = Process(shell, "more")
            p.begin_invoke()
            p.send(b"line one\r\n", end=False)
            p.send(b"line two\r\n", end=True)
            p.end_invoke()
            expect(p.rc == 0 and p.stdout == b"line one\r\nline two\r\n", f"stdin echo: {p.rc} {p.stdout!r}")
            print("ok stdin more 2")

            p = Process(shell, "echo", ["%GREETING%"])
            p.invoke()
            expect(p.stdout == b"hello from pypsrp\r\n", f"environment: {p.stdout!r}")
            print("ok environment GREETING")

            p = Process(shell, "ping", ["-t", "127.0.0.1"])
            p.begin_invoke()
            poll_until(p, lambda: p.stdout.count(REPLY) >= 2, "ping -t output")
            expect(p.state == CommandState.RUNNING, f"ping -t state {p.state}")
            p.signal(SignalCode.CTRL_C)
            poll_until(p, lambda: p.state == CommandState.DONE, "ping -t after ctrl_c")
            expect(p.rc == CTRL_C_EXIT, f"ctrl_c exit code {p.rc}")
            print(f"ok ctrl_c {p.rc}")

            p = Process(shell, "ping", ["-t", "127.0.0.1"])
            p.begin_invoke()
            poll_until(p, lambda: REPLY in p.stdout, "second ping -t output")
            p.signal(SignalCode.TERMINATE)
            try:
                shell.receive("stdout stderr", p.id)
            except WSManFaultError as e:
                print(f"ok terminate receive-fault {e.code}")
            else:
                raise Mismatch("a Receive of a terminated command succeeded")
            selector = shell._selector_set
        # The shell is closed: a Receive on it names a shell that is gone.
        closed = WinRS(wsman)
        closed._selector_set = selector
        try:
            closed.receive("stdout stderr", "00000000-0000-0000-0000-000000000000")
        except WSManFaultError as e:
            expect(e.code == SHELL_NOT_FOUND, f"closed shell fault code {e.code}")
            print(f"ok closed-shell {e.code}")
        else:
            raise Mismatch("a Receive on a closed shell succeeded")
    except Mismatch as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Drive a WinRM remote shell with pywinrm (`winrm.Session`, Basic authentication).

crates/mock/tests/interop_winrs.rs runs this against Touchstone's mock with the default
scenario (mocks/default.toml), one group of steps per run so that the test can read the
journal of each group on its own:

    python3 pywinrm_winrs.py URL basics      # run_cmd / run_ps, environment, code pages
    python3 pywinrm_winrs.py URL stream      # ping 127.0.0.1: output over several Receives
    python3 pywinrm_winrs.py URL timeout     # output after the OperationTimeout: TimedOut, retry

URL is http://HOST:PORT/wsman or https://... (the certificate is not checked). One
`ok <step> <detail>` line per step goes to stdout; the first mismatch prints
`FAIL <step>: <why>` on stderr and exits 1; a missing pywinrm exits 2.
"""

from __future__ import annotations

import os
import sys

try:
    import winrm
except ImportError as err:  # pragma: no cover - depends on the machine
    print(f"FAIL import: pywinrm is not installed (pip install pywinrm): {err}", file=sys.stderr)
    sys.exit(2)

NOT_RECOGNIZED = (
    b"'nosuchcmd' is not recognized as an internal or external command,\r\n"
    b"operable program or batch file.\r\n"
)
REPLY = b"Reply from 127.0.0.1: bytes=32 time<1ms TTL=128\r\n"


class Mismatch(Exception):
    pass


def expect(cond: bool, message: str) -> None:
    if not cond:
        raise Mismatch(message)


# TOUCHSTONE_TRANSPORT picks pywinrm's transport: "basic" (the default here) or "ntlm"
# (pywinrm's own default), which seals every message over plain HTTP.
TRANSPORT = os.environ.get("TOUCHSTONE_TRANSPORT", "basic")


def session(url: str, **kw) -> winrm.Session:
    if TRANSPORT == "ntlm":
        kw.setdefault("message_encryption", "auto")
    return winrm.Session(
        url,
        auth=("admin", "admin"),
        transport=TRANSPORT,
        server_cert_validation="ignore",
        **kw,
    )


def run_in_shell(s: winrm.Session, command: str, args: list[str], **shell_kw) -> tuple[bytes, bytes, int]:
    p = s.protocol
    shell = p.open_shell(**shell_kw)
    try:
        cid = p.run_command(shell, command, args)
        out = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
        return out
    finally:
        p.close_shell(shell)


def basics(url: str) -> None:
    s = session(url)
    r = s.run_cmd("echo", ["hello"])
    expect(r.std_out == b"hello\r\n" and r.status_code == 0 and r.std_err == b"", f"echo: {r!r} {r.std_out!r}")
    print("ok echo hello")

    r = s.run_cmd("hostname")
    expect(r.std_out == b"touchstone-sim\r\n" and r.status_code == 0, f"hostname: {r.std_out!r}")
    print("ok hostname touchstone-sim")

    r = s.run_cmd("whoami")
    expect(r.std_out == b"touchstone-sim\\admin\r\n", f"whoami: {r.std_out!r}")
    print("ok whoami touchstone-sim\\admin")

    r = s.run_cmd("ipconfig")
    expect(b"Windows IP Configuration" in r.std_out and b"127.0.0.1" in r.std_out and r.status_code == 0, f"ipconfig: {r.std_out!r}")
    print("ok ipconfig 127.0.0.1")

    r = s.run_cmd("ver")
    expect(r.std_out.startswith(b"\r\nMicrosoft Windows [Version 10.0.20348."), f"ver: {r.std_out!r}")
    print("ok ver 10.0.20348")

    r = s.run_cmd("nosuchcmd", ["--flag"])
    expect(r.std_out == b"" and r.std_err == NOT_RECOGNIZED and r.status_code == 9009, f"unknown: {r.std_err!r} {r.status_code}")
    print("ok unknown-command 9009")

    r = s.run_ps("Get-Service WinRM")
    expect(b"Running  WinRM" in r.std_out and r.status_code == 0, f"run_ps matched: {r.std_out!r} {r.std_err!r}")
    print("ok run_ps Get-Service")

    r = s.run_ps("Write-Output 'hi there'; $env:COMPUTERNAME")
    expect(r.std_out == b"hi there\r\nTOUCHSTONE-SIM\r\n" and r.status_code == 0, f"run_ps builtins: {r.std_out!r}")
    print("ok run_ps builtins")

    r = s.run_ps("Get-Nothing -Now")
    expect(r.status_code == 1, f"run_ps unmatched status: {r.status_code}")
    # pywinrm turned the CLIXML on stderr into text.
    expect(
        r.std_err.startswith(b"Get-Nothing : The term 'Get-Nothing' is not recognized as the name of a cmdlet")
        and b"CommandNotFoundException" in r.std_err,
        f"run_ps unmatched stderr: {r.std_err!r}",
    )
    print("ok run_ps unmatched 1")

    out, err, rc = run_in_shell(s, "echo", ["%FOO%"], env_vars={"FOO": "bar"})
    expect(out == b"bar\r\n" and rc == 0, f"environment: {out!r}")
    print("ok environment %FOO%")

    out, _, _ = run_in_shell(s, "echo", ["h\u00e9llo"], codepage=437)
    expect(out == b"h\x82llo\r\n", f"codepage 437: {out!r}")
    out, _, _ = run_in_shell(s, "echo", ["h\u00e9llo"], codepage=65001)
    expect(out == "h\u00e9llo\r\n".encode("utf-8"), f"codepage 65001: {out!r}")
    print("ok codepage 437 65001")


def stream(url: str) -> None:
    s = session(url)
    p = s.protocol
    shell = p.open_shell()
    cid = p.run_command(shell, "ping", ["127.0.0.1"])
    pieces = []
    done = False
    rc = None
    receives = 0
    while not done:
        out, err, rc, done = p.get_command_output_raw(shell, cid)
        receives += 1
        if out:
            pieces.append(out)
        expect(receives < 100, "no end after 100 Receives")
    p.cleanup_command(shell, cid)
    p.close_shell(shell)
    joined = b"".join(pieces)
    expect(joined.startswith(b"\r\nPinging 127.0.0.1 with 32 bytes of data:\r\n"), f"ping start: {joined!r}")
    expect(joined.count(REPLY) == 4 and b"Lost = 0 (0% loss)" in joined, f"ping body: {joined!r}")
    expect(rc == 0, f"ping exit code {rc}")
    expect(len(pieces) >= 3, f"ping output came in {len(pieces)} Receives")
    print(f"ok stream receives-with-output {len(pieces)}")
    print(f"ok stream receives {receives}")


def timeout(url: str) -> None:
    s = session(url, operation_timeout_sec=1, read_timeout_sec=3)
    r = s.run_cmd("waitfor", ["/t", "2", "touchstone"])
    expect(r.std_err == b"ERROR: Timed out waiting for 'touchstone'.\r\n" and r.status_code == 1, f"waitfor: {r.std_err!r} {r.status_code}")
    print("ok timeout waitfor 1")


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[2] not in ("basics", "stream", "timeout"):
        print(__doc__, file=sys.stderr)
        return 2
    url, group = sys.argv[1], sys.argv[2]
    try:
        {"basics": basics, "stream": stream, "timeout": timeout}[group](url)
    except Mismatch as e:
        print(f"FAIL {group}: {e}", file=sys.stderr)
        return 1
    print(f"done {group}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

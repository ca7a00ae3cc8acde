"""Drive a Serial over LAN console client (ipmitool sol activate, ipmiconsole) in a
pseudo-terminal: wait for the scripted console's prompt, type a line, wait for its echo,
then type the client's escape sequence and wait for the client to exit.

usage: ipmi_sol.py PROMPT LINE ESCAPE -- COMMAND...
Prints `prompt ok`, `echo ok`, `exit N` as it goes; every wait has a deadline (exit 3 on
a timeout), and the client is killed if it has not exited at the end.
"""
import os
import pty
import select
import signal
import sys
import time

WAIT = 10.0


def main():
    sep = sys.argv.index("--")
    prompt, line, escape = sys.argv[1:sep]
    cmd = sys.argv[sep + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    seen = b""

    def wait_for(needle):
        nonlocal seen
        deadline = time.monotonic() + WAIT
        while needle.encode() not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    return False
                if not chunk:
                    return False
                seen += chunk
        return True

    def finish(code):
        sys.stdout.write("--- transcript\n" + seen.decode("utf-8", "replace") + "\n---\n")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        sys.exit(code)

    if not wait_for(prompt):
        print("prompt missing")
        finish(3)
    print("prompt ok")
    start = len(seen)
    os.write(fd, line.encode() + b"\r")
    if not wait_for(line):
        print("echo missing")
        finish(3)
    print("echo ok")
    time.sleep(0.05)
    os.write(fd, b"\r")
    time.sleep(0.05)
    os.write(fd, escape.encode())
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("exit", os.waitstatus_to_exitcode(status))
            sys.stdout.write("--- transcript\n" + seen.decode("utf-8", "replace") + "\n---\n")
            sys.exit(0)
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                pass
    print("client did not exit after the escape")
    finish(3)


main()

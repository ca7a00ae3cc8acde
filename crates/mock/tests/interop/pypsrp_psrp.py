"""PSRP interop: pypsrp's RunspacePool, PowerShell and Client.execute_ps, unmodified,
against the Touchstone mock's PowerShell endpoint.

Usage: pypsrp_psrp.py HOST PORT AUTH [--ssl CACERT] [--jea NAME | --broken NAME]

AUTH is pypsrp's `auth` (`basic`, `ntlm`); over plain HTTP with NTLM, pypsrp seals
every message (encryption `auto`); Basic over HTTP runs with encryption `never`, over
HTTPS it validates the mock's certificate against CACERT. The scenario the Rust test
starts the mock with has a `Get-Widget` cmdlet and, with --jea, a restricted session
configuration NAME that shows only `Get-Widget`. With --broken, the scenario's
`[[psrp.rules]]` break a pool on `Get-Process` and every pool of the configuration NAME
as it opens: the first surfaces as the pipeline's error, the second as the error pypsrp
raises for a Broken runspace pool.

Steps, one `ok <step> <detail>` line each; the first mismatch prints `FAIL ...` and
exits 1.
"""

import argparse
import sys

from pypsrp.client import Client
from pypsrp.complex_objects import PSInvocationState, RunspacePoolState
from pypsrp.exceptions import InvalidPSRPOperation
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def ok(step, detail):
    print("ok %s %s" % (step, detail), flush=True)


def wsman(args):
    kwargs = dict(
        port=args.port,
        username="admin",
        password="admin",
        auth=args.auth,
        ssl=args.ssl is not None,
        operation_timeout=10,
    )
    if args.ssl is not None:
        kwargs["cert_validation"] = args.ssl
    elif args.auth == "basic":
        kwargs["encryption"] = "never"
    return WSMan(args.host, **kwargs)


def prop(obj, name):
    for attr in ("adapted_properties", "extended_properties"):
        props = getattr(obj, attr, None) or {}
        if name in props:
            return props[name]
    raise Fail("no property %s on %r" % (name, obj))


def full(args):
    with RunspacePool(wsman(args)) as pool:
        check(pool.state == RunspacePoolState.OPENED, "pool state %s" % pool.state)
        apd = pool.application_private_data
        check(apd is not None, "no APPLICATION_PRIVATE_DATA")
        ok("open", "%s protocol %s" % (pool.state, pool.protocol_version))

        # A cmdlet with a parameter.
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Service").add_parameter("Name", "WinRM")
        out = ps.invoke()
        check(len(out) == 1, "Get-Service output %r" % out)
        status = prop(out[0], "Status")
        ok("cmdlet", "%s %s %s" % (prop(out[0], "Name"), status, ps.state))

        # The scenario's cmdlet table: matched on its parameter, objects as tables say.
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Widget").add_parameter("Name", "gear")
        out = ps.invoke()
        check(len(out) == 2, "Get-Widget output %r" % out)
        ok("table", "%s %s %s" % (prop(out[0], "Name"), prop(out[0], "Teeth"), out[1]))

        # A script.
        ps = PowerShell(pool)
        ps.add_script("Write-Output one two; hostname; $PSVersionTable.PSVersion")
        out = ps.invoke()
        check(ps.state == PSInvocationState.COMPLETED, "script state %s" % ps.state)
        ok("script", " ".join(str(o) for o in out))

        # A command that does not exist fails the pipeline, as PowerShell does.
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Nothing")
        ps.invoke()
        check(ps.state == PSInvocationState.FAILED, "unknown command state %s" % ps.state)
        check(ps.had_errors, "had_errors not set")
        err = ps.streams.error[0]
        ok("error", "%s %s %s" % (ps.state, err.fq_error, err.reason))

        # Inside a script the error is written and the script goes on.
        ps = PowerShell(pool)
        ps.add_script("Get-Nothing; Write-Output after")
        out = ps.invoke()
        check(ps.state == PSInvocationState.COMPLETED, "script error state %s" % ps.state)
        ok("script-error", "%s %d %s" % (ps.state, len(ps.streams.error), out))

        # All five streams, and information/progress.
        ps = PowerShell(pool)
        ps.add_script(
            "Write-Output out; Write-Error err; Write-Warning warn; "
            "Write-Verbose verb -Verbose; Write-Debug dbg -Debug; "
            "Write-Information info; Write-Progress -Activity act -PercentComplete 40"
        )
        out = ps.invoke()
        s = ps.streams
        got = (
            out,
            [str(e) for e in s.error],
            [w.message for w in s.warning],
            [v.message for v in s.verbose],
            [d.message for d in s.debug],
            [i.message_data for i in s.information],
            [(p.activity, p.percent_complete) for p in s.progress],
        )
        want = (["out"], ["err"], ["warn"], ["verb"], ["dbg"], ["info"], [("act", 40)])
        check(got == want, "streams %r" % (got,))
        ok("streams", "output error warning verbose debug information progress")

        # Stop: begin, see the first output, stop; the pool goes on.
        ps = PowerShell(pool)
        ps.add_script("Write-Output started; Start-Sleep -Seconds 120; Write-Output never")
        ps.begin_invoke()
        while not ps.output:
            ps.poll_invoke()
        check(ps.state == PSInvocationState.RUNNING, "before stop %s" % ps.state)
        ps.stop()
        check(ps.state == PSInvocationState.STOPPED, "after stop %s" % ps.state)
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument("still-open")
        out = ps.invoke()
        ok("stop", "%s then %s" % (PSInvocationState.STOPPED, out[0]))

        # SET_MAX_RUNSPACES answered with RUNSPACE_AVAILABILITY.
        pool.max_runspaces = 4
        ok("max-runspaces", pool.max_runspaces)

    client = Client(
        args.host,
        port=args.port,
        username="admin",
        password="admin",
        auth=args.auth,
        ssl=args.ssl is not None,
        cert_validation=args.ssl if args.ssl is not None else False,
        encryption="never" if (args.auth == "basic" and args.ssl is None) else "auto",
        operation_timeout=10,
    )
    output, streams, had_errors = client.execute_ps("Get-Process -Name lsass; Get-Process -Name nope")
    check(len(streams.error) == 1, "execute_ps errors %r" % streams.error)
    ok("execute_ps", "%s errors %d" % (output.splitlines()[0], len(streams.error)))


def jea(args):
    with RunspacePool(wsman(args), configuration_name=args.jea) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Command")
        names = sorted(str(prop(o, "Name")) for o in ps.invoke())
        check("Get-Widget" in names and "Get-Process" not in names, "Get-Command %r" % names)
        ps = PowerShell(pool)
        ps.add_cmdlet("Get-Process")
        ps.invoke()
        check(ps.state == PSInvocationState.FAILED, "hidden cmdlet state %s" % ps.state)
        hidden = ps.streams.error[0].fq_error
        ps = PowerShell(pool)
        ps.add_script("Get-Widget")
        ps.invoke()
        check(ps.state == PSInvocationState.FAILED, "script state %s" % ps.state)
        ok("jea", "%d %s %s" % (len(names), hidden, ps.streams.error[0].fq_error))


def broken(args):
    pool = RunspacePool(wsman(args))
    pool.open()
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Process")
    ps.invoke()
    check(ps.state == PSInvocationState.STOPPED, "pipeline state %s" % ps.state)
    check(len(ps.streams.error) == 1, "errors %r" % ps.streams.error)
    err = ps.streams.error[0]
    check("broke it on CREATE_PIPELINE" in str(err), "error %s" % err)
    ok("broken-pipeline", "%s %s" % (ps.state, err.fq_error))
    pool.close()

    pool = RunspacePool(wsman(args), configuration_name=args.broken)
    try:
        pool.open()
    except InvalidPSRPOperation as e:
        check("broken RunspacePoolState" in str(e), "error %s" % e)
        check("INIT_RUNSPACEPOOL" in str(e), "error %s" % e)
        ok("broken-pool", "%s %s" % (type(e).__name__, pool.state))
        return
    raise Fail("a pool of %s opened (state %s)" % (args.broken, pool.state))


def reconnect(args):
    pool = RunspacePool(wsman(args))
    pool.open()
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", "before")
    first = ps.invoke()
    pool.disconnect()
    check(pool.state == RunspacePoolState.DISCONNECTED, "state after disconnect %s" % pool.state)
    # A disconnected pool refuses pipelines until it is reconnected.
    try:
        PowerShell(pool).add_cmdlet("Get-Date").invoke()
        refused = "no"
    except Exception as e:  # pypsrp raises its WSManFaultError
        refused = type(e).__name__
    pool.connect()
    check(pool.state == RunspacePoolState.OPENED, "state after connect %s" % pool.state)
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", "after")
    second = ps.invoke()
    pool.close()
    ok("reconnect", "%s %s %s %s" % (first, refused, second, pool.state))


def pools(args):
    first = RunspacePool(wsman(args))
    first.open()
    alive = first.is_alive()
    ps = PowerShell(first)
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", "one")
    ps.invoke()
    first.disconnect()
    # Another client finds the pool by enumerating shells and connects to it.
    found = [p for p in RunspacePool.get_runspace_pools(wsman(args)) if p.id.upper() == first.id.upper()]
    check(len(found) == 1, "pools listed %r" % [p.id for p in RunspacePool.get_runspace_pools(wsman(args))])
    pool = found[0]
    pool.connect()
    check(pool.state == RunspacePoolState.OPENED, "state after connect %s" % pool.state)
    check(pool.application_private_data is not None, "no APPLICATION_PRIVATE_DATA after connect")
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", "two")
    out = ps.invoke()
    pool.close()
    gone = first.is_alive()
    ok("pools", "alive %s listed %d connected %s max %d gone-alive %s" % (alive, len(found), out, pool._max_runspaces, gone))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("auth")
    p.add_argument("--ssl")
    p.add_argument("--jea")
    p.add_argument("--broken")
    p.add_argument("--reconnect", action="store_true")
    p.add_argument("--pools", action="store_true")
    args = p.parse_args()
    try:
        if args.pools:
            pools(args)
        elif args.reconnect:
            reconnect(args)
        elif args.broken:
            broken(args)
        elif args.jea:
            jea(args)
        else:
            full(args)
    except Fail as e:
        print("FAIL %s" % e, flush=True)
        return 1
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

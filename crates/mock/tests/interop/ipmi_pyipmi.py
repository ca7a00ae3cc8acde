"""python-ipmi (pyipmi) against the mock over IPMI 1.5 (RMCP, MD5 or straight password
as the BMC offers): prints one JSON object per line, `{"step": ..., ...}`.

usage: ipmi_pyipmi.py HOST PORT USER PASSWORD
"""
import json
import sys
import time

import pyipmi
import pyipmi.interfaces


def out(step, started, **kw):
    kw["step"] = step
    kw["ms"] = round((time.monotonic() - started) * 1000, 1)
    print(json.dumps(kw, default=str), flush=True)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    intf = pyipmi.interfaces.create_interface(
        "rmcp", slave_address=0x81, host_target_address=0x20, keep_alive_interval=0)
    ipmi = pyipmi.create_connection(intf)
    ipmi.session.set_session_type_rmcp(host=host, port=port)
    ipmi.session.set_auth_type_user(username=user, password=password)
    ipmi.target = pyipmi.Target(ipmb_address=0x20)
    intf.open()
    t = time.monotonic()
    try:
        ipmi.session.establish()
    except Exception as e:
        out("login_failed", t, error=repr(e))
        return 0
    out("login", t, auth_type=ipmi.session.auth_type)
    t = time.monotonic()
    d = ipmi.get_device_id()
    out("device_id", t, device_id=d.device_id, fw=str(d.fw_revision))
    t = time.monotonic()
    out("chassis", t, power_on=ipmi.get_chassis_status().power_on)
    t = time.monotonic()
    ipmi.chassis_control_power_down()
    out("power_down", t, power_on=ipmi.get_chassis_status().power_on)
    t = time.monotonic()
    ipmi.chassis_control_power_up()
    out("power_up", t, power_on=ipmi.get_chassis_status().power_on)
    t = time.monotonic()
    names = [getattr(s, "device_id_string", None) for s in ipmi.sdr_repository_entries()]
    out("sdr", t, names=[n.decode() if isinstance(n, bytes) else n for n in names])
    t = time.monotonic()
    out("sel", t, count=len(ipmi.get_sel_entries()))
    t = time.monotonic()
    ipmi.session.close()
    out("close", t)
    return 0


sys.exit(main())

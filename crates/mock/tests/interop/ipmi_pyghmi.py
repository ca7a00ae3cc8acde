"""pyghmi against the mock: prints one JSON object per line, `{"step": ..., ...}`.

usage: ipmi_pyghmi.py HOST PORT USER PASSWORD
"""
import json
import sys
import time

from pyghmi.ipmi import command


def out(step, started, **kw):
    kw["step"] = step
    kw["ms"] = round((time.monotonic() - started) * 1000, 1)
    print(json.dumps(kw, default=str), flush=True)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    t = time.monotonic()
    try:
        c = command.Command(bmc=host, userid=user, password=password, port=port)
    except Exception as e:  # pyghmi raises IpmiException on a failed login
        out("login_failed", t, error=str(e))
        return 0
    out("login", t)
    t = time.monotonic()
    out("power", t, state=c.get_power()["powerstate"])
    t = time.monotonic()
    c.set_power("off")
    out("set_power_off", t)
    t = time.monotonic()
    out("power_after_off", t, state=c.get_power()["powerstate"])
    t = time.monotonic()
    c.set_power("on")
    out("set_power_on", t)
    t = time.monotonic()
    sensors = [
        {"name": r.name, "value": r.value, "units": r.units, "health": r.health}
        for r in c.get_sensor_data()
    ]
    out("sensors", t, sensors=sensors)
    t = time.monotonic()
    inventory = {name: data for name, data in c.get_inventory()}
    system = inventory.get("System") or {}
    out("inventory", t, names=list(inventory), serial=system.get("Chassis serial number"),
        board=system.get("Board manufacturer"))
    t = time.monotonic()
    events = list(c.get_event_log())
    out("event_log", t, count=len(events))
    t = time.monotonic()
    users = c.get_users()
    out("users", t, users={str(k): v["name"] for k, v in users.items()})
    return 0


sys.exit(main())

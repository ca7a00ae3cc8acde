#!/usr/bin/env python3
"""Drive a WS-Management endpoint with pypsrp's generic client, `pypsrp.wsman.WSMan`.

crates/mock/tests/interop_pypsrp.rs runs this against Touchstone's mock with the default
scenario, but the script talks to its subject only over the wire: any endpoint that
serves the DMTF CIM classes under http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/
with Basic authentication will do.

    python3 pypsrp_generic.py http://127.0.0.1:5985/wsman
    python3 pypsrp_generic.py https://127.0.0.1:5986/wsman --cacert mock.pem

The client is used unmodified (auth="basic", encryption="never"); every request body is
built here with ElementTree. One `ok <step> <detail>` line per step goes to stdout. The
first mismatch prints `FAIL <step>: <why>` on stderr and exits 1; a usage error or a
missing pypsrp exits 2. The endpoint is left as it was found: the renamed sensor is
renamed back, the created instance deleted, the system powered on again.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import NoReturn

try:
    from pypsrp.exceptions import WinRMError, WSManFaultError
    from pypsrp.wsman import WSMan, SelectorSet
except ImportError as err:  # pragma: no cover - depends on the machine
    print(f"FAIL import: pypsrp is not installed (pip install pypsrp): {err}", file=sys.stderr)
    sys.exit(2)

# Namespaces, spelled out rather than borrowed from pypsrp so that a change there cannot
# silently change what this script checks.
CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
WSEN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WXF = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
SOAP = "http://www.w3.org/2003/05/soap-envelope"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"

SYSTEM = CIM + "CIM_ComputerSystem"
SENSOR = CIM + "CIM_NumericSensor"
NOTE_CLASS = "Touchstone_Note"
NOTE = CIM + NOTE_CLASS
# Outside every namespace the endpoint serves, so it must not resolve to anything.
UNKNOWN_URI = "http://schemas.example.org/touchstone/interop/NoSuchResource"

SENSOR_KEYS = ("SystemCreationClassName", "SystemName", "CreationClassName", "DeviceID")
# CIM_NumericSensor.SettableThresholds value for UpperThresholdNonCritical.
UPPER_NON_CRITICAL = "1"
# Upper bound on Pull round trips, so that a server that never ends a sequence fails
# the run instead of hanging it.
MAX_PULLS = 1000


class Mismatch(Exception):
    """The endpoint answered, but not what was expected."""


def q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


def local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def child(parent: ET.Element, ns: str, local: str, what: str) -> ET.Element:
    found = parent.find(q(ns, local))
    if found is None:
        raise Mismatch(f"{what}: no {local} in {local_name(parent.tag)}")
    return found


def prop(instance: ET.Element, class_uri: str, name: str) -> str | None:
    """The text of a single-valued property (None when nil); Mismatch when absent."""
    el = child(instance, class_uri, name, local_name(instance.tag))
    if el.get(XSI_NIL) == "true":
        return None
    return (el.text or "").strip()


def values(instance: ET.Element, class_uri: str, name: str) -> list[str]:
    """The texts of an array property (repeated elements)."""
    return [(el.text or "").strip() for el in instance.findall(q(class_uri, name))]


def selectors(pairs: list[tuple[str, str]]) -> SelectorSet:
    s = SelectorSet()
    for name, value in pairs:
        s.add_option(name, value)
    return s


def instance_body(class_uri: str, class_name: str, props: list[tuple[str, str]]) -> ET.Element:
    root = ET.Element(q(class_uri, class_name))
    for name, value in props:
        ET.SubElement(root, q(class_uri, name)).text = value
    return root


def fault_subcode(err: WSManFaultError) -> str:
    """The fault's subcode local name (pypsrp reports the prefixed text, `w:Name`)."""
    if isinstance(err.code, int):
        raise Mismatch(
            f"fault carries WinRM error code {err.code} instead of a subcode "
            f"(reason: {err.reason}); this script expects DMTF-style subcodes"
        )
    return str(err.code or "").rsplit(":", 1)[-1]


class Session:
    def __init__(self, args: argparse.Namespace) -> None:
        url = urllib.parse.urlsplit(args.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            usage(f"URL must be http://HOST[:PORT]/PATH or https://..., not {args.url!r}")
        https = url.scheme == "https"
        if args.cacert and not https:
            usage("--cacert only applies to an https:// URL")
        cert_validation: bool | str = True
        if args.cacert:
            cert_validation = args.cacert
        elif args.insecure:
            cert_validation = False
        self.steps = 0
        self.client = WSMan(
            url.hostname,
            port=url.port or (5986 if https else 5985),
            path=url.path.lstrip("/") or "wsman",
            username=args.user,
            password=args.password,
            ssl=https,
            cert_validation=cert_validation,
            auth="basic",
            encryption="never",
            # The subject is named explicitly: proxies from the environment must not
            # carry the traffic elsewhere.
            no_proxy=True,
            operation_timeout=args.timeout,
            connection_timeout=args.timeout,
            read_timeout=args.timeout + 5,
        )

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Runs one step; any error ends the run with `FAIL <name>: ...`."""
        try:
            yield
        except Mismatch as err:
            fail(name, str(err))
        except WSManFaultError as err:
            fail(name, f"unexpected fault {err.code}: {err.reason}")
        except WinRMError as err:
            fail(name, f"{type(err).__name__}: {err}")
        except Exception as err:  # connection refused, TLS, malformed XML, ...
            fail(name, f"{type(err).__name__}: {err}")
        self.steps += 1

    def ok(self, name: str, detail: str) -> None:
        print(f"ok {name} {detail}", flush=True)

    # --- Enumeration ---------------------------------------------------------------------

    def enumerate_all(
        self, uri: str, optimize: bool, max_elements: int
    ) -> tuple[list[ET.Element], int]:
        """All items of an enumeration, and how many the Enumerate response itself held."""
        enum = ET.Element(q(WSEN, "Enumerate"))
        if optimize:
            ET.SubElement(enum, q(WSMAN, "OptimizeEnumeration"))
            ET.SubElement(enum, q(WSMAN, "MaxElements")).text = str(max_elements)
        body = self.client.enumerate(uri, enum)
        response = child(body, WSEN, "EnumerateResponse", "Enumerate")
        items: list[ET.Element] = []
        first = 0
        ended = False
        if optimize:
            # DSP0226: optimized items and their EndOfSequence are in the wsman namespace.
            batch = response.find(q(WSMAN, "Items"))
            if batch is not None:
                items.extend(batch)
                first = len(batch)
            ended = response.find(q(WSMAN, "EndOfSequence")) is not None
        else:
            expect(
                response.find(q(WSMAN, "Items")) is None,
                "a plain Enumerate (no OptimizeEnumeration) answered with items",
            )
        context = response.findtext(q(WSEN, "EnumerationContext"))
        for _ in range(MAX_PULLS):
            if ended:
                return items, first
            expect(bool(context), "no EnumerationContext to pull with")
            pull = ET.Element(q(WSEN, "Pull"))
            ET.SubElement(pull, q(WSEN, "EnumerationContext")).text = context
            ET.SubElement(pull, q(WSEN, "MaxElements")).text = str(max_elements)
            answer = child(self.client.pull(uri, pull), WSEN, "PullResponse", "Pull")
            batch = answer.find(q(WSEN, "Items"))
            got = list(batch) if batch is not None else []
            expect(len(got) <= max_elements, f"Pull returned {len(got)} items, MaxElements was {max_elements}")
            items.extend(got)
            ended = answer.find(q(WSEN, "EndOfSequence")) is not None
            # A service may hand out a new context with each response.
            context = answer.findtext(q(WSEN, "EnumerationContext")) or context
        raise Mismatch(f"no EndOfSequence after {MAX_PULLS} pulls")

    def check_sensors(self, items: list[ET.Element], expected: int) -> None:
        names = {local_name(i.tag) for i in items}
        expect(names <= {"CIM_NumericSensor"}, f"items are not all CIM_NumericSensor: {sorted(names)}")
        expect(len(items) == expected, f"{len(items)} CIM_NumericSensor items, expected {expected}")
        ids = [prop(i, SENSOR, "DeviceID") for i in items]
        expect(len(set(ids)) == len(ids), f"duplicate DeviceIDs in the enumeration: {ids}")

    # --- Helpers over Get / Invoke -----------------------------------------------------

    def get_instance(self, uri: str, class_name: str, keys: list[tuple[str, str]]) -> ET.Element:
        body = self.client.get(uri, selector_set=selectors(keys))
        inst = child(body, uri, class_name, f"Get {class_name}")
        return inst

    def request_state_change(self, system_keys: list[tuple[str, str]], state: int) -> str:
        action = SYSTEM + "/RequestStateChange"
        body = ET.Element(q(SYSTEM, "RequestStateChange_INPUT"))
        ET.SubElement(body, q(SYSTEM, "RequestedState")).text = str(state)
        envelope = self.client.invoke(action, SYSTEM, body, selector_set=selectors(system_keys))
        got_action = envelope.findtext(f"{q(SOAP, 'Header')}/{q(WSA, 'Action')}")
        expect(
            (got_action or "").strip() == action + "Response",
            f"response action is {got_action!r}, expected {action + 'Response'!r}",
        )
        out = envelope.find(f"{q(SOAP, 'Body')}/{q(SYSTEM, 'RequestStateChange_OUTPUT')}")
        expect(out is not None, "no RequestStateChange_OUTPUT in the response body")
        assert out is not None
        return prop(out, SYSTEM, "ReturnValue") or ""

    def wait_enabled_state(
        self, system_keys: list[tuple[str, str]], wanted: str, settle: float
    ) -> None:
        """Polls EnabledState until it is `wanted` (a real machine takes its time)."""
        deadline = time.monotonic() + settle
        while True:
            state = prop(self.get_instance(SYSTEM, "CIM_ComputerSystem", system_keys), SYSTEM, "EnabledState")
            if state == wanted:
                return
            if time.monotonic() >= deadline:
                raise Mismatch(f"EnabledState is {state}, expected {wanted} within {settle} s")
            time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    s = Session(args)
    system_keys = [("CreationClassName", "CIM_ComputerSystem"), ("Name", args.system_name)]

    with s.step("enumerate"):
        items, first = s.enumerate_all(SENSOR, optimize=False, max_elements=4)
        expect(first == 0, "plain Enumerate returned items")
        s.check_sensors(items, args.sensors)
    s.ok("enumerate", str(len(items)))

    with s.step("enumerate-optimized"):
        optimized, first = s.enumerate_all(SENSOR, optimize=True, max_elements=5)
        expect(
            1 <= first <= 5,
            f"optimized Enumerate with MaxElements 5 returned {first} items in its response",
        )
        s.check_sensors(optimized, args.sensors)
    s.ok("enumerate-optimized", str(len(optimized)))

    with s.step("get"):
        system = s.get_instance(SYSTEM, "CIM_ComputerSystem", system_keys)
        name = prop(system, SYSTEM, "Name")
        expect(name == args.system_name, f"Name is {name!r}, expected {args.system_name!r}")
        expect(prop(system, SYSTEM, "CreationClassName") == "CIM_ComputerSystem", "wrong CreationClassName")
    s.ok("get", f"CIM_ComputerSystem {name}")

    # Put: rename a sensor and lower its upper non-critical threshold by one, read both
    # back, then put the old values back. The body holds the keys and the changed
    # properties only, not the whole representation from a Get: the sensor's reading may
    # change between the Get and the Put, and resending it would then be a change to a
    # read-only property.
    with s.step("put"):
        target = next(
            (
                i
                for i in items
                if UPPER_NON_CRITICAL in values(i, SENSOR, "SettableThresholds")
                and prop(i, SENSOR, "UpperThresholdNonCritical") is not None
            ),
            None,
        )
        expect(target is not None, "no sensor with a settable UpperThresholdNonCritical")
        assert target is not None
        keys = [(k, prop(target, SENSOR, k) or "") for k in SENSOR_KEYS]
        before = s.get_instance(SENSOR, "CIM_NumericSensor", keys)
        old_name = prop(before, SENSOR, "ElementName") or ""
        old_threshold = prop(before, SENSOR, "UpperThresholdNonCritical") or ""
        new_name = "pypsrp renamed" if old_name != "pypsrp renamed" else "pypsrp renamed 2"
        new_threshold = str(int(old_threshold) - 1)
        change = [("ElementName", new_name), ("UpperThresholdNonCritical", new_threshold)]
        answer = s.client.put(SENSOR, instance_body(SENSOR, "CIM_NumericSensor", keys + change), selector_set=selectors(keys))
        # A service may answer a Put with the new representation or with nothing.
        returned = answer.find(q(SENSOR, "CIM_NumericSensor"))
        if returned is not None:
            for name, value in change:
                got = prop(returned, SENSOR, name)
                expect(got == value, f"PutResponse has {name} = {got!r}, expected {value!r}")
        after = s.get_instance(SENSOR, "CIM_NumericSensor", keys)
        for name, value in change:
            got = prop(after, SENSOR, name)
            expect(got == value, f"Get after Put: {name} = {got!r}, expected {value!r}")
    s.ok("put", "CIM_NumericSensor ElementName UpperThresholdNonCritical")

    with s.step("put-restore"):
        restore = [("ElementName", old_name), ("UpperThresholdNonCritical", old_threshold)]
        s.client.put(SENSOR, instance_body(SENSOR, "CIM_NumericSensor", keys + restore), selector_set=selectors(keys))
        again = s.get_instance(SENSOR, "CIM_NumericSensor", keys)
        for name, value in restore:
            got = prop(again, SENSOR, name)
            expect(got == value, f"Get after restoring Put: {name} = {got!r}, expected {value!r}")
    s.ok("put-restore", "CIM_NumericSensor")

    if args.full_put:
        # What most clients do: Get, change one property in what came back, Put all of
        # it. Unchanged read-only properties (arrays, nils, datetimes included) must not
        # count as changes. CIM_ComputerSystem has no property that drifts between the
        # two requests, unlike a sensor's reading.
        with s.step("put-full"):
            whole = s.get_instance(SYSTEM, "CIM_ComputerSystem", system_keys)
            old_element = prop(whole, SYSTEM, "ElementName") or ""
            renamed = "pypsrp full put" if old_element != "pypsrp full put" else "pypsrp full put 2"
            child(whole, SYSTEM, "ElementName", "CIM_ComputerSystem").text = renamed
            s.client.put(SYSTEM, whole, selector_set=selectors(system_keys))
            got = prop(s.get_instance(SYSTEM, "CIM_ComputerSystem", system_keys), SYSTEM, "ElementName")
            expect(got == renamed, f"Get after a full Put: ElementName = {got!r}, expected {renamed!r}")
            child(whole, SYSTEM, "ElementName", "CIM_ComputerSystem").text = old_element
            s.client.put(SYSTEM, whole, selector_set=selectors(system_keys))
            got = prop(s.get_instance(SYSTEM, "CIM_ComputerSystem", system_keys), SYSTEM, "ElementName")
            expect(got == old_element, f"Get after restoring: ElementName = {got!r}, expected {old_element!r}")
        s.ok("put-full", "CIM_ComputerSystem ElementName")

    note_id = f"pypsrp-{uuid.uuid4().hex[:12]}"
    note_text = "written by pypsrp"
    note_keys = [("InstanceID", note_id)]

    with s.step("create"):
        body = instance_body(NOTE, NOTE_CLASS, [("InstanceID", note_id), ("Text", note_text)])
        answer = s.client.create(NOTE, body)
        created = child(answer, WXF, "ResourceCreated", "Create")
        params = child(created, WSA, "ReferenceParameters", "ResourceCreated")
        uri = (params.findtext(q(WSMAN, "ResourceURI")) or "").strip()
        expect(uri == NOTE, f"ResourceCreated names {uri!r}, expected {NOTE!r}")
        got = {
            sel.get("Name"): (sel.text or "").strip()
            for sel in params.findall(f"{q(WSMAN, 'SelectorSet')}/{q(WSMAN, 'Selector')}")
        }
        got.pop("__cimnamespace", None)
        expect(got == dict(note_keys), f"ResourceCreated selectors are {got}, expected {dict(note_keys)}")
    s.ok("create", f"{NOTE_CLASS} InstanceID")

    with s.step("get-created"):
        note = s.get_instance(NOTE, NOTE_CLASS, note_keys)
        expect(prop(note, NOTE, "InstanceID") == note_id, "InstanceID differs from the one created")
        text = prop(note, NOTE, "Text")
        expect(text == note_text, f"Text is {text!r}, expected {note_text!r}")
    s.ok("get-created", NOTE_CLASS)

    with s.step("delete"):
        s.client.delete(NOTE, selector_set=selectors(note_keys))
    s.ok("delete", NOTE_CLASS)

    with s.step("get-deleted"):
        try:
            s.client.get(NOTE, selector_set=selectors(note_keys))
        except WSManFaultError as err:
            code = fault_subcode(err)
            expect(code == args.deleted_fault, f"fault {err.code} ({err.reason}), expected {args.deleted_fault}")
        else:
            raise Mismatch("Get of the deleted instance succeeded")
    s.ok("get-deleted", f"fault {code}")

    for state, label in ((3, "power-off"), (2, "power-on")):
        with s.step(f"invoke-{state}"):
            rv = s.request_state_change(system_keys, state)
            expect(rv == "0", f"RequestStateChange({state}) ReturnValue is {rv}, expected 0")
        s.ok(f"invoke RequestStateChange {state}", f"ReturnValue {rv}")
        with s.step(label):
            s.wait_enabled_state(system_keys, str(state), args.settle)
        s.ok(label, f"EnabledState {state}")

    with s.step("fault"):
        try:
            s.client.get(UNKNOWN_URI)
        except WSManFaultError as err:
            code = fault_subcode(err)
            expect(code == "DestinationUnreachable", f"fault {err.code} ({err.reason}), expected DestinationUnreachable")
        else:
            raise Mismatch(f"Get of {UNKNOWN_URI} succeeded")
    s.ok("fault", code)

    s.client.close()
    print(f"done {s.steps} steps", flush=True)
    return 0


def fail(step: str, why: str) -> NoReturn:
    print(f"FAIL {step}: {why}", file=sys.stderr, flush=True)
    sys.exit(1)


def usage(why: str) -> NoReturn:
    print(f"pypsrp_generic.py: {why}", file=sys.stderr, flush=True)
    sys.exit(2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("url", help="the WS-Man endpoint, e.g. http://127.0.0.1:5985/wsman")
    p.add_argument("--cacert", metavar="PEM", help="trust this certificate (https only)")
    p.add_argument("--insecure", action="store_true", help="do not verify the https certificate")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", default="admin")
    p.add_argument("--sensors", type=int, default=11, help="expected CIM_NumericSensor count (default 11)")
    p.add_argument("--system-name", default="touchstone-sim", help="CIM_ComputerSystem Name key")
    p.add_argument(
        "--deleted-fault",
        default="InvalidSelectors",
        help="subcode expected from a Get of a deleted instance (default InvalidSelectors)",
    )
    p.add_argument(
        "--full-put",
        action="store_true",
        help="also Put a whole CIM_ComputerSystem representation as returned by Get, one property changed",
    )
    p.add_argument("--timeout", type=int, default=20, help="per-request timeout in seconds")
    p.add_argument("--settle", type=float, default=5.0, help="seconds a power change may take")
    return run(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())

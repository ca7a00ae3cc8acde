#!/usr/bin/env python3
"""Regenerates the corpus files that are too large or not plain UTF-8 to write by hand.

Run from anywhere: python3 crates/wsman/tests/documents/tools/generate.py
Output is deterministic (fixed seed), so re-running does not change the files.

Writes:
  requests/winrm-get-utf16le.xml                 UTF-16LE with BOM
  requests/winrm-enumerate-utf16be.xml           UTF-16BE with BOM
  responses/bench-get-response-numeric-sensor.xml  ~3 KB
  responses/bench-pull-response-100-sensors.xml    ~150 KB
  responses/bench-receive-response-64k.xml         64 KiB of base64 stdout
  invalid/deep-nesting-40000.xml
  invalid/invalid-utf8.bin, invalid/invalid-utf8-overlong.bin, invalid/utf16-odd-length.bin
"""
import base64
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
NS_ENV = ('xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
          'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
          'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
          'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
          'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"')
SENSOR_URI = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_NumericSensor"


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)
    print(f"{len(data):>8}  {rel}")


def request(action, resource, msg_id, extra_headers, body, to="http://fs01.corp.example.com:5985/wsman",
            decl='<?xml version="1.0" encoding="UTF-8"?>\n'):
    return f"""{decl}<s:Envelope {NS_ENV}>
  <s:Header>
    <a:To s:mustUnderstand="true">{to}</a:To>
    <w:ResourceURI s:mustUnderstand="true">{resource}</w:ResourceURI>
    <a:ReplyTo>
      <a:Address s:mustUnderstand="true">{ANON}</a:Address>
    </a:ReplyTo>
    <a:Action s:mustUnderstand="true">{action}</a:Action>
    <w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>
    <a:MessageID>uuid:{msg_id}</a:MessageID>
    <w:Locale xml:lang="en-US" s:mustUnderstand="false"/>
    <p:DataLocale xml:lang="en-US" s:mustUnderstand="false"/>
{extra_headers}    <w:OperationTimeout>PT60.000S</w:OperationTimeout>
  </s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>
"""


def response_header(action, relates_to, msg_id, op_id=None, seq=1):
    op = (f'    <p:OperationID s:mustUnderstand="false">uuid:{op_id}</p:OperationID>\n'
          f'    <p:SequenceId>{seq}</p:SequenceId>\n') if op_id else ""
    return f"""<s:Envelope xml:lang="en-US" {NS_ENV} xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer">
  <s:Header>
    <a:Action>{action}</a:Action>
    <a:MessageID>uuid:{msg_id}</a:MessageID>
{op}    <a:To>{ANON}</a:To>
    <a:RelatesTo>uuid:{relates_to}</a:RelatesTo>
  </s:Header>
"""


# ---------------------------------------------------------------- UTF-16 requests
def utf16_requests():
    get = request(
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service",
        "B8AA41DC-842D-44AF-A2E9-6692DF0BF3E3",
        '    <p:SessionId s:mustUnderstand="false">uuid:F796EB65-5338-49AF-8EFD-965C9BEDCED2</p:SessionId>\n'
        '    <p:OperationID s:mustUnderstand="false">uuid:87B9DA14-716A-41E7-AD53-2BC0D53BE4CD</p:OperationID>\n'
        '    <p:SequenceId s:mustUnderstand="false">1</p:SequenceId>\n'
        '    <w:SelectorSet>\n      <w:Selector Name="Name">WinRM</w:Selector>\n    </w:SelectorSet>\n',
        "",
        decl='<?xml version="1.0" encoding="UTF-16"?>\n')
    write("requests/winrm-get-utf16le.xml", b"\xff\xfe" + get.encode("utf-16-le"))

    enum = request(
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate",
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process",
        "BABB3D6B-22DD-4831-B13A-638B861AF4AA",
        '    <p:SessionId s:mustUnderstand="false">uuid:F796EB65-5338-49AF-8EFD-965C9BEDCED2</p:SessionId>\n',
        "\n    <n:Enumerate>\n      <w:OptimizeEnumeration/>\n      <w:MaxElements>32000</w:MaxElements>\n"
        "      <w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">"
        "SELECT Name, ProcessId FROM Win32_Process WHERE Name = 'w\u00e9bsvc-\u65e5\u672c.exe'</w:Filter>\n"
        "    </n:Enumerate>\n  ",
        decl='<?xml version="1.0" encoding="UTF-16"?>\n')
    write("requests/winrm-enumerate-utf16be.xml", b"\xfe\xff" + enum.encode("utf-16-be"))


# ---------------------------------------------------------------- numeric sensors
POSSIBLE_STATES = ["Unknown", "Normal", "Upper Non-Critical", "Upper Critical", "Upper Fatal",
                   "Lower Non-Critical", "Lower Critical", "Lower Fatal"]


def sensor_props(idx, name, kind, reading, rng):
    """Returns an ordered list of (property, value) pairs; value None means xsi:nil,
    a list means an array property (repeated elements)."""
    # kind: (SensorType, BaseUnits, UnitModifier, nominal, lnc, lc, lf, unc, uc, uf, min, max, res, acc)
    st, bu, um, nom, lnc, lc, lf, unc, uc, uf, mn, mx, res, acc = kind
    state = "Normal"
    if unc is not None and reading >= unc:
        state = "Upper Non-Critical"
    if lnc is not None and reading <= lnc:
        state = "Lower Non-Critical"
    supported = [i for i, t in enumerate((lnc, unc, lc, uc, lf, uf)) if t is not None]
    # the states a sensor can report follow from the thresholds it supports
    possible = POSSIBLE_STATES[:2] + [POSSIBLE_STATES[2 + j] for j, t in enumerate((unc, uc, uf, lnc, lc, lf))
                                      if t is not None]
    return [
        ("Accuracy", acc),
        ("BaseUnits", bu),
        ("Caption", "Numeric Sensor"),
        ("CreationClassName", "CIM_NumericSensor"),
        ("CurrentReading", reading),
        ("CurrentState", state),
        ("Description", f"{name} sensor, IPMI sensor number {idx}"),
        ("DeviceID", f"10.0.{idx}"),
        ("ElementName", name),
        ("EnabledState", 2),
        ("HealthState", 5 if state == "Normal" else 10),
        ("IsLinear", "true"),
        ("LowerThresholdCritical", lc),
        ("LowerThresholdFatal", lf),
        ("LowerThresholdNonCritical", lnc),
        ("MaxReadable", mx),
        ("MinReadable", mn),
        ("NominalReading", nom),
        ("NormalMax", unc if unc is not None else mx),
        ("NormalMin", lnc if lnc is not None else mn),
        ("OperationalStatus", [2] if state == "Normal" else [2, 3]),
        ("OtherSensorTypeDescription", "Power" if st == 1 else None),
        ("PollingInterval", 0),
        ("PossibleStates", possible),
        ("RateUnits", 0),
        ("Resolution", res),
        ("SensorType", st),
        ("SettableThresholds", [s for s in supported if s < 2]),
        ("SupportedThresholds", supported),
        ("SystemCreationClassName", "CIM_ComputerSystem"),
        ("SystemName", "IPMI Controller 32"),
        ("UnitModifier", um),
        ("UpperThresholdCritical", uc),
        ("UpperThresholdFatal", uf),
        ("UpperThresholdNonCritical", unc),
    ]


def sensor_xml(props, indent, sep, style="winrm"):
    """WinRM writes every property (nulls as xsi:nil) under a p: prefix with xsi:type;
    openwsman (sfcb/sblim providers) uses n1:, and leaves null properties out."""
    if style == "winrm":
        pfx = "p"
        lines = [f'<p:CIM_NumericSensor xmlns:p="{SENSOR_URI}" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" '
                 f'xsi:type="p:CIM_NumericSensor_Type" xml:lang="en-US">']
    else:
        pfx = "n1"
        lines = [f'<n1:CIM_NumericSensor xmlns:n1="{SENSOR_URI}">']
    for k, v in props:
        if v is None:
            if style == "winrm":
                lines.append(f'{indent}<{pfx}:{k} xsi:nil="true"/>')
        elif isinstance(v, list):
            lines.extend(f"{indent}<{pfx}:{k}>{x}</{pfx}:{k}>" for x in v)
        else:
            lines.append(f"{indent}<{pfx}:{k}>{v}</{pfx}:{k}>")
    lines.append(f"</{pfx}:CIM_NumericSensor>")
    return sep.join(lines)


# (SensorType, BaseUnits, UnitModifier, nominal, lnc, lc, lf, unc, uc, uf, min, max, resolution, accuracy)
TEMP = lambda hi: (2, 2, 0, 40, None, None, None, hi - 5, hi, hi + 5, 0, 127, 100, 200)
FAN = (5, 19, 0, 7200, 1200, 840, 600, None, None, None, 0, 25500, 100, 500)
VOLT = lambda nomv: (3, 5, -3, nomv, round(nomv * .95), round(nomv * .9), None, round(nomv * 1.05), round(nomv * 1.1), None, 0, round(nomv * 1.3), 10, 50)
AMPS = (4, 6, -1, 40, None, None, None, 140, 160, None, 0, 255, 2, 10)
WATTS = (1, 7, 0, 350, None, None, None, 900, 1000, None, 0, 2040, 1, 5)


def sensor_catalog():
    rng = random.Random(20240611)
    out = []
    temps = (["CPU1 Temp", "CPU2 Temp", "Inlet Temp", "Exhaust Temp", "PCH Temp", "VR CPU1 Temp", "VR CPU2 Temp"]
             + [f"DIMM {b}{n} Temp" for b in "ABCD" for n in (1, 2, 3)] + [f"PSU{i} Temp" for i in (1, 2)]
             + [f"NVMe{i} Temp" for i in range(8)])
    for t in temps:
        hi = 95 if "CPU" in t else 85 if ("DIMM" in t or "VR" in t) else 70 if "NVMe" in t else 45 if "Inlet" in t else 80
        base = 22 if "Inlet" in t else 38 if "NVMe" in t else 45
        out.append((t, TEMP(hi), base + rng.randint(0, 25)))
    for i in range(1, 9):
        for ab in "AB":
            out.append((f"FAN{i}{ab}", FAN, rng.choice(range(5400, 11400, 120))))
    volts = [("12V", 12000), ("5V", 5000), ("3.3V", 3300), ("VBAT", 3000), ("5V Standby", 5000), ("3.3V Standby", 3300),
             ("CPU1 VCORE", 1800), ("CPU2 VCORE", 1800), ("CPU1 VSA", 1050), ("CPU2 VSA", 1050), ("PVCCIO", 1050),
             ("DIMM AB VDDQ", 1200), ("DIMM CD VDDQ", 1200), ("PVNN PCH", 1000), ("P1V8 PCH", 1800),
             ("PSU1 Input Voltage", 230000), ("PSU2 Input Voltage", 230000)]
    for v, nomv in volts:
        out.append((v, VOLT(nomv), int(nomv * rng.uniform(0.97, 1.03))))
    for i in (1, 2):
        out.append((f"PSU{i} Current", AMPS, rng.randint(8, 30)))
        out.append((f"PSU{i} Input Power", WATTS, rng.randint(180, 420)))
        out.append((f"PSU{i} Output Power", WATTS, rng.randint(160, 390)))
    out.append(("System Board Pwr Consumption", WATTS, rng.randint(340, 780)))
    out.append(("CPU Power", WATTS, rng.randint(120, 330)))
    out.append(("Memory Power", WATTS, rng.randint(30, 90)))
    i = 0
    while len(out) < 100:
        i += 1
        out.append((f"Riser{i} Temp", TEMP(80), 30 + rng.randint(0, 20)))
    return [(idx, name, kind, reading, rng) for idx, (name, kind, reading) in enumerate(out[:100])]


def bench_sensor_get():
    idx, name, kind, reading, rng = sensor_catalog()[0]
    props = sensor_props(32, name, kind, reading, rng)
    doc = (response_header("http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse",
                           "781E9F91-8790-4D9E-8016-65CD3E4F5281", "D3F1A2B4-6C7D-4E8F-9A0B-1C2D3E4F5A6B")
           + '  <s:Body>\n    '
           + sensor_xml(props, "  ", "\n    ").replace("xml:lang=", 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xml:lang=')
           + "\n  </s:Body>\n</s:Envelope>\n")
    write("responses/bench-get-response-numeric-sensor.xml", doc)


def bench_sensor_pull():
    """openwsman-style PullResponse (answers an Enumerate of CIM_NumericSensor on an sfcb host)."""
    # this provider leaves Accuracy, Caption, Description, PollingInterval, RateUnits, Resolution
    # unset, and openwsman omits unset properties
    unset = {"Accuracy", "Caption", "Description", "PollingInterval", "RateUnits", "Resolution"}
    items = [sensor_xml([(k, None if k in unset else v) for k, v in sensor_props(idx, name, kind, reading, rng)],
                        "", "", style="openwsman")
             for idx, name, kind, reading, rng in sensor_catalog()]
    doc = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
           'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
           'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
           'xmlns:wsen="http://schemas.xmlsoap.org/ws/2004/09/enumeration">\n'
           "  <s:Header>\n"
           f"    <wsa:To>{ANON}</wsa:To>\n"
           "    <wsa:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse</wsa:Action>\n"
           "    <wsa:RelatesTo>uuid:e4a2b3c5-7d8e-1f90-8b1c-2d3e4f5a6b7c</wsa:RelatesTo>\n"
           "    <wsa:MessageID>uuid:f5b3c4d6-8e9f-1a01-8c2d-3e4f5a6b7c8d</wsa:MessageID>\n"
           "  </s:Header>\n"
           "  <s:Body>\n    <wsen:PullResponse>\n      <wsen:Items>\n"
           + "".join(f"        {it}\n" for it in items)
           + "      </wsen:Items>\n      <wsen:EndOfSequence/>\n    </wsen:PullResponse>\n  </s:Body>\n</s:Envelope>\n")
    write("responses/bench-pull-response-100-sensors.xml", doc)


# ---------------------------------------------------------------- 64 KiB receive
def bench_receive():
    rng = random.Random(7)
    lines = [" Volume in drive C has no label.", " Volume Serial Number is 7A3E-41C2", "",
             " Directory of C:\\Windows\\System32", ""]
    words = ["Microsoft", "Windows", "Storage", "Network", "Diagnostics", "Telemetry", "Print", "Shell",
             "Security", "Update", "Cred", "Dism", "Hyper", "Wmi", "Media", "Sync", "Audio", "Crypt"]
    exts = ["dll", "exe", "sys", "mui", "cpl", "msc", "xml", "ini"]
    while sum(len(x) + 2 for x in lines) < 49152 + 200:
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        hour, minute = rng.randint(1, 12), rng.randint(0, 59)
        name = "".join(rng.sample(words, rng.randint(1, 3))) + "." + rng.choice(exts)
        if rng.random() < 0.08:
            size = "<DIR>         "
            name = name.rsplit(".", 1)[0]
        else:
            size = f"{rng.randint(1024, 48_000_000):>14,}"
        lines.append(f"{month:02d}/{day:02d}/2024  {hour:02d}:{minute:02d} {'AM' if rng.random() < .5 else 'PM'}"
                     f"    {size} {name}")
    raw = ("\r\n".join(lines) + "\r\n").encode("ascii")[:49152]
    b64 = base64.b64encode(raw).decode()
    assert len(b64) == 65536
    cid = "9C0E2A4B-6D8F-4A1B-B3C5-D7E9F1A3B5C7"
    doc = (response_header("http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse",
                           "B7D5E6F8-A0B1-4C23-9E4F-5A6B7C8D9EAF", "C8E6F7A9-B1C2-4D34-AF50-6B7C8D9EAFB0")
           + '  <s:Body>\n    <rsp:ReceiveResponse xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">\n'
           + f'      <rsp:Stream Name="stdout" CommandId="{cid}">{b64}</rsp:Stream>\n'
           + f'      <rsp:Stream Name="stderr" CommandId="{cid}"></rsp:Stream>\n'
           + f'      <rsp:CommandState CommandId="{cid}" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"/>\n'
           + "    </rsp:ReceiveResponse>\n  </s:Body>\n</s:Envelope>\n")
    write("responses/bench-receive-response-64k.xml", doc)


# ---------------------------------------------------------------- negative corpus
def get_with_name(value):
    return request("http://schemas.xmlsoap.org/ws/2004/09/transfer/Get",
                   "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service",
                   "0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0",
                   f'    <w:SelectorSet>\n      <w:Selector Name="Name">{value}</w:Selector>\n    </w:SelectorSet>\n', "")


def invalid():
    depth = 40000
    body = '\n    <i xmlns="urn:example:deep">' + "<i>" * (depth - 1) + "x" + "</i>" * depth + "\n  "
    write("invalid/deep-nesting-40000.xml",
          request("http://schemas.xmlsoap.org/ws/2004/09/transfer/Put",
                  "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_IndicationFilter",
                  "1A2B3C4D-5E6F-4071-8293-A4B5C6D7E8F9",
                  '    <w:SelectorSet>\n      <w:Selector Name="Name">deep</w:Selector>\n    </w:SelectorSet>\n', body))
    # 0xC3 must be followed by a continuation byte (0x80-0xBF); 0x28 is '('.
    write("invalid/invalid-utf8.bin", get_with_name("WinRM").encode().replace(b">WinRM<", b">Win\xc3\x28RM<"))
    # overlong two-byte encoding of '/' (U+002F) is forbidden in UTF-8.
    write("invalid/invalid-utf8-overlong.bin", get_with_name("WinRM").encode().replace(b">WinRM<", b">Win\xc0\xafRM<"))
    doc16 = get_with_name("WinRM").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    write("invalid/utf16-odd-length.bin", b"\xff\xfe" + doc16.encode("utf-16-le") + b"\x0a")


if __name__ == "__main__":
    utf16_requests()
    bench_sensor_get()
    bench_sensor_pull()
    bench_receive()
    invalid()

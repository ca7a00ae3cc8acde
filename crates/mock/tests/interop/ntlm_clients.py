"""NTLM interop: pywinrm and pypsrp, unmodified, against the Touchstone mock.

Usage: ntlm_clients.py CLIENT URL USER PASSWORD ENCRYPTION AUTH

CLIENT is `pywinrm` (winrm.protocol.Protocol.send_message) or `pypsrp`
(pypsrp.wsman.WSMan's transport); ENCRYPTION is the client's own setting (`auto`,
`always`, `never`); AUTH is pywinrm's `transport` (`ntlm`, `basic`) or pypsrp's `auth`
(`ntlm`, `negotiate`, `basic`). Certificates are not validated (the mock's is
self-signed).

Steps, one `ok <step> <detail>` line each: Identify (product vendor), Get of
CIM_ComputerSystem (its Name), Enumerate + Pull of CIM_NumericSensor (how many).
A refused login prints `refused <exception class>` and exits 3; any other failure
prints `FAIL ...` and exits 1.
"""

import sys
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
WSEN = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMID = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
SYSTEM = CIM + "CIM_ComputerSystem"
SENSOR = CIM + "CIM_NumericSensor"
GET = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
ENUMERATE = WSEN + "/Enumerate"
PULL = WSEN + "/Pull"


def q(ns, local):
    return "{%s}%s" % (ns, local)


def envelope(url, action, resource, body, selectors=()):
    sel = "".join('<w:Selector Name="%s">%s</w:Selector>' % kv for kv in selectors)
    if sel:
        sel = "<w:SelectorSet>%s</w:SelectorSet>" % sel
    head = ""
    if action:
        head = (
            '<a:To>%s</a:To><w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>'
            '<a:ReplyTo><a:Address s:mustUnderstand="true">'
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"
            '<a:Action s:mustUnderstand="true">%s</a:Action>'
            '<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>'
            "<a:MessageID>uuid:%s</a:MessageID>"
            '<w:OperationTimeout>PT20S</w:OperationTimeout>%s'
        ) % (url, resource, action, uuid.uuid4(), sel)
    return (
        '<s:Envelope xmlns:s="%s" xmlns:a="%s" xmlns:w="%s" xmlns:n="%s" xmlns:wsmid="%s">'
        "<s:Header>%s</s:Header><s:Body>%s</s:Body></s:Envelope>"
    ) % (SOAP, WSA, WSMAN, WSEN, WSMID, head, body)


class Fail(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Fail(what)


def run_pywinrm(url, user, password, encryption, auth):
    from winrm.protocol import Protocol

    p = Protocol(
        endpoint=url,
        transport=auth,
        username=user,
        password=password,
        server_cert_validation="ignore",
        message_encryption=encryption,
    )

    def send(xml):
        return ET.fromstring(p.send_message(xml))

    return send


def run_pypsrp(url, user, password, encryption, auth):
    from pypsrp.wsman import WSMan

    u = urllib.parse.urlsplit(url)
    w = WSMan(
        u.hostname,
        port=u.port,
        path=u.path.lstrip("/"),
        username=user,
        password=password,
        ssl=u.scheme == "https",
        cert_validation=False,
        auth=auth,
        encryption=encryption,
        no_proxy=True,
        operation_timeout=20,
        connection_timeout=20,
        read_timeout=30,
    )

    def send(xml):
        # The transport underneath WSMan: it authenticates, seals and unseals.
        return ET.fromstring(w.transport.send(xml.encode()))

    return send


def main():
    client, url, user, password, encryption, auth = sys.argv[1:7]
    if client == "pywinrm":
        send = run_pywinrm(url, user, password, encryption, auth)
    else:
        send = run_pypsrp(url, user, password, encryption, auth)
    try:
        ident = send(envelope(url, None, None, "<wsmid:Identify/>"))
    except Exception as e:  # the first exchange is where a login fails
        name = type(e).__name__
        if "Auth" in name or "401" in str(e) or "Unauthorized" in str(e) or "credentials" in str(e).lower():
            print("refused %s" % name)
            return 3
        raise
    vendor = ident.findtext(".//" + q(WSMID, "ProductVendor"))
    expect(vendor, "no ProductVendor in IdentifyResponse")
    print("ok identify %s" % vendor)

    got = send(envelope(url, GET, SYSTEM, "", [("CreationClassName", "CIM_ComputerSystem"), ("Name", "touchstone-sim")]))
    name = got.findtext(".//" + q(SYSTEM, "Name"))
    expect(name, "no Name in the Get response")
    print("ok get CIM_ComputerSystem %s" % name)

    resp = send(envelope(url, ENUMERATE, SENSOR, "<n:Enumerate/>"))
    context = resp.findtext(".//" + q(WSEN, "EnumerationContext"))
    items = []
    for _ in range(100):
        expect(context, "no EnumerationContext")
        pulled = send(envelope(url, PULL, SENSOR, "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>" % context))
        batch = pulled.find(".//" + q(WSEN, "Items"))
        items.extend(list(batch) if batch is not None else [])
        if pulled.find(".//" + q(WSEN, "EndOfSequence")) is not None:
            break
        context = pulled.findtext(".//" + q(WSEN, "EnumerationContext")) or context
    else:
        raise Fail("no EndOfSequence")
    print("ok enumerate CIM_NumericSensor %d" % len(items))
    print("done")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print("FAIL %s" % e)
        sys.exit(1)

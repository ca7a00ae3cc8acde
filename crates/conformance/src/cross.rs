//! Cross-protocol cases (profile `cross`): a BMC that speaks WS-Management and IPMI
//! must tell the same story through each. Every case reads one fact both ways (CIM
//! through the WS-Man client, IPMI through a session) and compares.

use crate::code::{CodeFn, Ctx, Finding, Instance, enumerate_all, first, reg, verdict};
use crate::eval::Mismatch;
use crate::eventing::sel_entry_event;
use crate::ipmi::{Handle, Role};
use crate::ipmi_cases::{chassis_control, power_round_trip, sel_count, sel_entries, wait_power};

/// The cross-protocol code cases.
pub const REGISTRY: &[CodeFn] = reg![
    "cross.sensor.readings" => sensor_readings,
    "cross.power.ipmi-to-wsman" => power_ipmi_to_wsman,
    "cross.power.wsman-to-ipmi" => power_wsman_to_ipmi,
    "cross.sel.count" => sel_counts,
    "cross.sel.contents" => sel_contents,
    "cross.identity.guid" => guid,
    "cross.identity.firmware" => firmware,
    "cross.eventing.sel-entry" => sel_entry_event,
];

async fn all(ctx: &mut Ctx, class: &str) -> Result<Vec<Instance>, Finding> {
    Ok(enumerate_all(ctx, class, 50).await?.0)
}

/// Sensor name → (IPMI value, resolution) of every full sensor record.
async fn ipmi_readings(ctx: &mut Ctx, h: Handle) -> Result<Vec<(String, f64, f64)>, Finding> {
    let mut out = Vec::new();
    let recs = crate::ipmi_cases::sdr_records(ctx, h).await?;
    for sdr in recs {
        let ipmi::sdr::Record::Full(f) = sdr.record else {
            continue;
        };
        let d = ctx
            .ipmi_ok(h, "Get Sensor Reading", 0x04, 0x2D, &[f.key.number])
            .await?;
        if let Some(raw) = d.first() {
            let lin = f.linear();
            out.push((
                f.id.text().trim().to_owned(),
                lin.value(*raw),
                lin.resolution().abs(),
            ));
        }
    }
    Ok(out)
}

fn cim_value(inst: &Instance, prop: &str) -> Option<f64> {
    let v: f64 = first(inst, prop)?.trim().parse().ok()?;
    let m: i32 = first(inst, "UnitModifier")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Some(v * 10f64.powi(m))
}

async fn sensor_readings(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut misses = Vec::new();
    // A random-walk reading may move between the two reads: compare twice.
    for attempt in 0..2 {
        misses.clear();
        let ipmi = ipmi_readings(ctx, h).await?;
        let cim = all(ctx, "CIM_NumericSensor").await?;
        let mut matched = 0;
        for (name, value, res) in &ipmi {
            let Some(inst) = cim
                .iter()
                .find(|i| first(i, "ElementName").is_some_and(|n| n.trim() == name))
            else {
                continue;
            };
            matched += 1;
            let Some(c) = cim_value(inst, "CurrentReading") else {
                misses.push(Mismatch {
                    what: format!("CIM_NumericSensor {name} CurrentReading"),
                    expected: "a number".into(),
                    got: "absent".into(),
                });
                continue;
            };
            if (c - value).abs() > res + 1e-6 {
                misses.push(Mismatch {
                    what: format!("sensor {name}"),
                    expected: format!("CIM {c} within the SDR resolution {res} of IPMI"),
                    got: format!("IPMI {value}"),
                });
            }
        }
        if matched == 0 {
            return Err(Finding::mismatch(
                "sensors",
                "IPMI full sensor records whose ID string is a CIM_NumericSensor ElementName",
                format!("none of {} IPMI and {} CIM sensors", ipmi.len(), cim.len()),
            ));
        }
        if misses.is_empty() || attempt == 1 {
            break;
        }
    }
    verdict(misses)
}

async fn enabled_state(ctx: &mut Ctx) -> Result<String, Finding> {
    let cs = all(ctx, "CIM_ComputerSystem").await?;
    cs.first()
        .and_then(|i| first(i, "EnabledState"))
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| Finding::mismatch("CIM_ComputerSystem", "EnabledState", "absent"))
}

async fn power_ipmi_to_wsman(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    for (action, on) in power_round_trip(ctx, h).await? {
        chassis_control(ctx, h, action, on).await?;
        let want = if on { "2" } else { "3" };
        let got = enabled_state(ctx).await?;
        if got != want {
            return Err(Finding::mismatch(
                format!(
                    "CIM_ComputerSystem EnabledState after IPMI power {}",
                    if on { "up" } else { "down" }
                ),
                format!("{want} ({})", if on { "Enabled" } else { "Disabled" }),
                got,
            ));
        }
    }
    Ok(())
}

/// RequestStateChange of the (first) CIM_ComputerSystem to `state` (2 Enabled, 3
/// Disabled); a non-zero ReturnValue other than 4096 (job started) is a mismatch.
pub(crate) async fn request_state(
    ctx: &mut Ctx,
    system: &Instance,
    state: u16,
) -> Result<(), Finding> {
    let (mut r, _) = ctx.request("CIM_ComputerSystem");
    for key in ["CreationClassName", "Name"] {
        let Some(v) = first(system, key) else {
            return Err(Finding::mismatch(
                "CIM_ComputerSystem keys",
                format!("a {key} property"),
                "absent",
            ));
        };
        r = r.selector(key, v.trim());
    }
    let env = r.invoke(
        "RequestStateChange",
        [("RequestedState", state.to_string())],
    );
    let ex = ctx.send(&env).await?;
    if let Some(f) = ex.fault() {
        return Err(Finding::mismatch(
            format!("RequestStateChange({state})"),
            "a RequestStateChange_OUTPUT",
            format!("fault {}", f.subcode.unwrap_or(f.code)),
        ));
    }
    let rv =
        crate::eval::Answer::new(&ex).value("s:Body/*:RequestStateChange_OUTPUT/*:ReturnValue");
    match rv.as_deref().map(str::trim) {
        Some("0") | Some("4096") => Ok(()),
        other => Err(Finding::mismatch(
            format!("RequestStateChange({state}) ReturnValue"),
            "0 (or 4096, job started)",
            other.unwrap_or("absent"),
        )),
    }
}

async fn power_wsman_to_ipmi(ctx: &mut Ctx) -> Result<(), Finding> {
    let systems = all(ctx, "CIM_ComputerSystem").await?;
    let Some(system) = systems.first().cloned() else {
        return Err(Finding::mismatch(
            "CIM_ComputerSystem instances",
            "at least one",
            "none",
        ));
    };
    let h = ctx.ipmi_login(Role::Admin).await?;
    for (_, on) in power_round_trip(ctx, h).await? {
        // 2 Enabled, 3 Disabled.
        request_state(ctx, &system, if on { 2 } else { 3 }).await?;
        // Get Chassis Status is polled until the change shows (or 10 s pass).
        wait_power(ctx, h, on).await?;
    }
    Ok(())
}

async fn sel_counts(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let n = sel_count(ctx, h).await?;
    let logs = all(ctx, "CIM_RecordLog").await?;
    let records = all(ctx, "CIM_LogRecord").await?;
    let cim = logs
        .iter()
        .find_map(|l| first(l, "CurrentNumberOfRecords"))
        .map(|s| s.trim().to_owned());
    if cim.as_deref() != Some(&n.to_string()) || records.len() != usize::from(n) {
        return Err(Finding::mismatch(
            "SEL entries (IPMI Get SEL Info; CIM_RecordLog; CIM_LogRecord instances)",
            format!("{n}; {n}; {n}"),
            format!(
                "{n}; {}; {}",
                cim.unwrap_or_else(|| "absent".into()),
                records.len()
            ),
        ));
    }
    Ok(())
}

async fn sel_contents(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let entries = sel_entries(ctx, h).await?;
    let records = all(ctx, "CIM_LogRecord").await?;
    let mut misses = Vec::new();
    for e in &entries {
        let id = u16::from_le_bytes([e[0], e[1]]);
        let hex: String = e.iter().map(|b| format!("{b:02X}")).collect();
        let rec = records.iter().find(|r| {
            first(r, "RecordID")
                .is_some_and(|v| v.trim().parse::<u32>().ok() == Some(u32::from(id)))
        });
        match rec.and_then(|r| first(r, "RecordData")) {
            Some(d) if d.trim().eq_ignore_ascii_case(&hex) => {}
            got => misses.push(Mismatch {
                what: format!("SEL entry {id:#06x}"),
                expected: format!("a CIM_LogRecord with RecordData {hex}"),
                got: got.unwrap_or("none").to_owned(),
            }),
        }
    }
    verdict(misses)
}

/// The byte orders a BMC's 16 GUID bytes are found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuidOrder {
    /// IPMI v2.0 section 20.8 (Get Device GUID; Get System GUID, 22.14, uses the same
    /// format): least significant byte first, the node field first and time_low last,
    /// so the 16 bytes are the GUID's text order reversed. ipmitool (lib/ipmi_mc.c,
    /// `ipmi_guid_t`) and freeipmi (bmc-info, its default decoding) read it so.
    Ipmi,
    /// SMBIOS (7.2.1): time_low, time_mid and time_hi_and_version little endian, the
    /// clock sequence and node as written.
    Smbios,
    /// RFC 4122 (4.1.2): every field most significant byte first, as written.
    Rfc4122,
}

impl GuidOrder {
    /// The order's name, as an engineer says it.
    pub fn name(self) -> &'static str {
        match self {
            GuidOrder::Ipmi => "the IPMI v2.0 20.8 order (least significant byte first)",
            GuidOrder::Smbios => "SMBIOS order",
            GuidOrder::Rfc4122 => "RFC 4122 order",
        }
    }
}

/// The GUID in text order (time_low first, node last) of the 16 bytes `w` read in
/// `order`.
pub fn guid_fields(w: &[u8; 16], order: GuidOrder) -> [u8; 16] {
    let mut t = *w;
    match order {
        GuidOrder::Ipmi => t.reverse(),
        GuidOrder::Smbios => {
            t[0..4].reverse();
            t[4..6].reverse();
            t[6..8].reverse();
        }
        GuidOrder::Rfc4122 => {}
    }
    t
}

/// The GUID text (8-4-4-4-12, lower case) of the 16 bytes `w` read in `order`.
pub fn guid_text(w: &[u8; 16], order: GuidOrder) -> String {
    let t = guid_fields(w, order);
    let h = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        h(&t[0..4]),
        h(&t[4..6]),
        h(&t[6..8]),
        h(&t[8..10]),
        h(&t[10..16])
    )
}

/// The version nibble (time_hi_and_version bits 12-15) of a GUID in text order.
fn guid_version(t: &[u8; 16]) -> u8 {
    t[6] >> 4
}

/// Whether a GUID in text order is a well-formed RFC 4122 GUID: version 1 to 5
/// (ipmitool's test for a plausible reading) and the variant bits 10b.
fn guid_well_formed(t: &[u8; 16]) -> bool {
    (1..=5).contains(&guid_version(t)) && t[8] & 0xC0 == 0x80
}

/// The byte orders in which Get System GUID's bytes `w` make sense when they make no
/// sense in the spec's order: empty when the IPMI reading has a defined version (1 to
/// 5) or no other reading is a well-formed GUID (then the bytes do not tell, and the
/// BMC gets the benefit of the doubt).
pub fn guid_misordered(w: &[u8; 16]) -> Vec<GuidOrder> {
    let ipmi = guid_fields(w, GuidOrder::Ipmi);
    if (1..=5).contains(&guid_version(&ipmi)) {
        return Vec::new();
    }
    [GuidOrder::Smbios, GuidOrder::Rfc4122]
        .into_iter()
        .filter(|o| guid_well_formed(&guid_fields(w, *o)))
        .collect()
}

async fn guid(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let d = ctx.ipmi_ok(h, "Get System GUID", 0x06, 0x37, &[]).await?;
    let Ok(w) = <[u8; 16]>::try_from(&d[..]) else {
        return Err(Finding::mismatch(
            "Get System GUID",
            "16 bytes",
            format!("{} bytes: {}", d.len(), client::ipmi::hex(&d)),
        ));
    };
    let ipmi = guid_text(&w, GuidOrder::Ipmi);
    let cs = all(ctx, "CIM_ComputerSystem").await?;
    let cim: Vec<String> = cs
        .iter()
        .flat_map(|i| {
            let descs = i
                .get("IdentifyingDescriptions")
                .cloned()
                .unwrap_or_default();
            let info = i.get("OtherIdentifyingInfo").cloned().unwrap_or_default();
            descs
                .into_iter()
                .zip(info)
                .filter(|(d, _)| d.trim() == "CIM:GUID")
                .map(|(_, v)| v.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect();
    if cim.contains(&ipmi) {
        return Ok(());
    }
    // The bytes read in another order, and whether that is what CIM names.
    let other = |o: GuidOrder| {
        let text = guid_text(&w, o);
        let named = if cim.contains(&text) {
            " (the GUID CIM_ComputerSystem names)"
        } else {
            ""
        };
        format!("in {} {text}{named}", o.name())
    };
    let misordered = guid_misordered(&w);
    if !misordered.is_empty() {
        let readings: Vec<String> = misordered.iter().map(|o| other(*o)).collect();
        return Err(Finding::mismatch(
            "Get System GUID byte order",
            "IPMI v2.0 20.8 order: least significant byte first, node first and time_low last",
            format!(
                "bytes {}: in the spec's order they read {ipmi}, whose version nibble {} is no GUID version (1 to 5); they make sense only {} (ipmitool reports this as an IPMI specification violation)",
                client::ipmi::hex(&w),
                guid_version(&guid_fields(&w, GuidOrder::Ipmi)),
                readings.join(", or ")
            ),
        ));
    }
    if cim.is_empty() {
        return Err(Finding::Skip(
            "CIM_ComputerSystem names no GUID (IdentifyingDescriptions CIM:GUID)".into(),
        ));
    }
    let mut got = format!(
        "IPMI Get System GUID {ipmi} (bytes {} read in the spec's order)",
        client::ipmi::hex(&w)
    );
    for o in [GuidOrder::Smbios, GuidOrder::Rfc4122] {
        if cim.contains(&guid_text(&w, o)) {
            got.push_str(&format!(
                "; {} (the BMC sends {} instead of the spec's)",
                other(o),
                o.name()
            ));
        }
    }
    Err(Finding::mismatch(
        "GUID",
        format!("CIM_ComputerSystem's {}", cim.join(", ")),
        got,
    ))
}

async fn firmware(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let d = ctx.ipmi_ok(h, "Get Device ID", 0x06, 0x01, &[]).await?;
    if d.len() < 4 {
        return Err(Finding::mismatch(
            "Get Device ID",
            "11 bytes",
            format!("{} bytes: {}", d.len(), client::ipmi::hex(&d)),
        ));
    }
    let major = u32::from(d[2] & 0x7F);
    let minor = u32::from(d[3] >> 4) * 10 + u32::from(d[3] & 0x0F);
    let sw = all(ctx, "CIM_SoftwareIdentity").await?;
    let versions: Vec<String> = sw
        .iter()
        .filter_map(|i| first(i, "VersionString").map(|v| v.trim().to_owned()))
        .collect();
    let matches = |v: &String| {
        let mut parts = v
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>().unwrap_or(u32::MAX));
        parts.next() == Some(major) && parts.next() == Some(minor)
    };
    if !versions.iter().any(matches) {
        return Err(Finding::mismatch(
            "firmware version",
            format!("a CIM_SoftwareIdentity VersionString {major}.{minor}… (IPMI Get Device ID)"),
            if versions.is_empty() {
                "no VersionString".to_owned()
            } else {
                versions
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GUID 5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c (the mock machine's default) in
    /// IPMI v2.0 20.8 order, as ipmitool's `ipmi_guid_t` lays it out (lib/ipmi_mc.h):
    /// node bytes least significant first (5c 4b 3a 0f 1e 2d), clock_seq_low (7c),
    /// clock_seq_hi (9b), time_hi_and_version LSB first (5a 4f), time_mid (2b 3e),
    /// time_low (6e 0c 1d 5a). freeipmi's bmc-info prints byte 15 first down to byte 0,
    /// the same text.
    const IPMI_ORDER: [u8; 16] = [
        0x5c, 0x4b, 0x3a, 0x0f, 0x1e, 0x2d, 0x7c, 0x9b, 0x5a, 0x4f, 0x2b, 0x3e, 0x6e, 0x0c, 0x1d,
        0x5a,
    ];
    /// The same GUID in SMBIOS order (first three fields little endian, the rest as
    /// written): what ipmitool reports as "GUID Encoding : SMBIOS (WARNING: IPMI
    /// Specification violation!)".
    const SMBIOS_ORDER: [u8; 16] = [
        0x6e, 0x0c, 0x1d, 0x5a, 0x2b, 0x3e, 0x5a, 0x4f, 0x9b, 0x7c, 0x2d, 0x1e, 0x0f, 0x3a, 0x4b,
        0x5c,
    ];
    /// The same GUID in RFC 4122 order (as written).
    const RFC_ORDER: [u8; 16] = [
        0x5a, 0x1d, 0x0c, 0x6e, 0x3e, 0x2b, 0x4f, 0x5a, 0x9b, 0x7c, 0x2d, 0x1e, 0x0f, 0x3a, 0x4b,
        0x5c,
    ];
    const TEXT: &str = "5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c";

    #[test]
    fn ipmi_order_decodes_least_significant_byte_first() {
        assert_eq!(guid_text(&IPMI_ORDER, GuidOrder::Ipmi), TEXT);
        assert_eq!(guid_text(&SMBIOS_ORDER, GuidOrder::Smbios), TEXT);
        assert_eq!(guid_text(&RFC_ORDER, GuidOrder::Rfc4122), TEXT);
        // The field values ipmitool prints: time_low from bytes 12-15, node from 0-5.
        let t = guid_fields(&IPMI_ORDER, GuidOrder::Ipmi);
        assert_eq!(u32::from_be_bytes([t[0], t[1], t[2], t[3]]), 0x5a1d_0c6e);
        assert_eq!(&t[10..], &[0x2d, 0x1e, 0x0f, 0x3a, 0x4b, 0x5c]);
        assert_eq!(guid_version(&t), 4);
    }

    #[test]
    fn spec_order_is_not_misordered() {
        assert!(guid_misordered(&IPMI_ORDER).is_empty());
    }

    #[test]
    fn smbios_order_is_found_out() {
        // Read in the spec's order the version nibble is 7: no GUID version.
        assert_eq!(
            guid_version(&guid_fields(&SMBIOS_ORDER, GuidOrder::Ipmi)),
            7
        );
        assert_eq!(
            guid_misordered(&SMBIOS_ORDER),
            vec![GuidOrder::Smbios, GuidOrder::Rfc4122]
        );
        assert_eq!(
            guid_text(&SMBIOS_ORDER, GuidOrder::Ipmi),
            "5c4b3a0f-1e2d-7c9b-4f5a-3e2b5a1d0c6e"
        );
    }

    #[test]
    fn rfc4122_order_is_found_out() {
        assert_eq!(
            guid_misordered(&RFC_ORDER),
            vec![GuidOrder::Smbios, GuidOrder::Rfc4122]
        );
    }

    #[test]
    fn bytes_that_tell_nothing_are_not_judged() {
        // All zero, and a GUID whose every reading lacks a version: no verdict on order.
        assert!(guid_misordered(&[0; 16]).is_empty());
        assert!(guid_misordered(&[0xFF; 16]).is_empty());
    }

    #[test]
    fn a_valid_ipmi_reading_wins_even_when_another_reading_is_valid() {
        // Version 1 in the IPMI reading (byte 9 high nibble) and a well-formed SMBIOS
        // reading (byte 7 high nibble 4, byte 8 variant 10b): the spec's order stands.
        let mut w = [0u8; 16];
        w[9] = 0x10;
        w[7] = 0x40;
        w[8] = 0x80;
        assert!(guid_well_formed(&guid_fields(&w, GuidOrder::Smbios)));
        assert!(guid_misordered(&w).is_empty());
    }
}

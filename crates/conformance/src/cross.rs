//! Cross-protocol cases (profile `cross`): a BMC that speaks WS-Management and IPMI
//! must tell the same story through each. Every case reads one fact both ways (CIM
//! through the WS-Man client, IPMI through a session) and compares.

use crate::code::{CodeFn, Ctx, Finding, Instance, enumerate_all, first, reg, verdict};
use crate::eval::Mismatch;
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
async fn request_state(ctx: &mut Ctx, system: &Instance, state: u16) -> Result<(), Finding> {
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

/// The GUID text (8-4-4-4-12) of Get System GUID's bytes: the first three fields
/// little endian, the rest as sent (the SMBIOS order).
pub fn guid_text(w: &[u8]) -> String {
    let h = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let rev = |b: &[u8]| h(&b.iter().rev().copied().collect::<Vec<_>>());
    format!(
        "{}-{}-{}-{}-{}",
        rev(&w[0..4]),
        rev(&w[4..6]),
        rev(&w[6..8]),
        h(&w[8..10]),
        h(&w[10..16])
    )
}

async fn guid(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let d = ctx.ipmi_ok(h, "Get System GUID", 0x06, 0x37, &[]).await?;
    if d.len() != 16 {
        return Err(Finding::mismatch(
            "Get System GUID",
            "16 bytes",
            client::ipmi::hex(&d),
        ));
    }
    let ipmi = guid_text(&d);
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
    if cim.is_empty() {
        return Err(Finding::Skip(
            "CIM_ComputerSystem names no GUID (IdentifyingDescriptions CIM:GUID)".into(),
        ));
    }
    if !cim.contains(&ipmi) {
        return Err(Finding::mismatch(
            "GUID",
            format!("CIM {cim:?}"),
            format!("IPMI Get System GUID {ipmi}"),
        ));
    }
    Ok(())
}

async fn firmware(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let d = ctx.ipmi_ok(h, "Get Device ID", 0x06, 0x01, &[]).await?;
    if d.len() < 4 {
        return Err(Finding::mismatch(
            "Get Device ID",
            "11 bytes",
            client::ipmi::hex(&d),
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
            format!("{versions:?}"),
        ));
    }
    Ok(())
}

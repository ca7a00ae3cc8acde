//! IPMI code cases (profile `ipmi-lan`): the multi-step logic that data steps cannot
//! express (logins that must fail, packets that must be dropped, walks and cross-checks).

use std::time::Duration;

use client::ipmi::{IpmiError, LoginInfo};
use ipmi::codes::Privilege;
use ipmi::console::{ConsoleError, SuiteChoice};
use ipmi::rmcp::AuthType;
use ipmi::sdr::{Record, Sdr};

use crate::code::{CodeFn, Ctx, Finding, reg, verdict};
use crate::ipmi::{Handle, Role, finding};

/// The IPMI code cases.
pub const REGISTRY: &[CodeFn] = reg![
    "ipmi.discovery.presence-ping" => presence_ping,
    "ipmi.discovery.cipher-suites-listed" => cipher_suites_listed,
    "ipmi.discovery.cipher-suites-records" => cipher_suites_records,
    "ipmi.session.login-suite-3" => login_suite_3,
    "ipmi.session.login-suite-17" => login_suite_17,
    "ipmi.session.login-suite-2" => login_suite_2,
    "ipmi.session.login-suite-1" => login_suite_1,
    "ipmi.session.open-privilege-zero" => open_privilege_zero,
    "ipmi.session.open-privilege-echo" => open_privilege_echo,
    "ipmi.session.unsupported-auth-algorithm" => unsupported_auth,
    "ipmi.session.unsupported-integrity-algorithm" => unsupported_integrity,
    "ipmi.session.unsupported-conf-algorithm" => unsupported_conf,
    "ipmi.session.rakp-unknown-user" => rakp_unknown_user,
    "ipmi.session.rakp-wrong-password" => rakp_wrong_password,
    "ipmi.session.rakp-role-above-limit" => rakp_role_above_limit,
    "ipmi.session.rakp-name-only-lookup" => rakp_name_only,
    "ipmi.session.rakp-privilege-lookup" => rakp_privilege_lookup,
    "ipmi.security.cipher-suite-zero-refused" => suite_zero_refused,
    "ipmi.security.anonymous-login-refused" => anonymous_refused,
    "ipmi.security.ipmi15-none-refused" => ipmi15_none_refused,
    "ipmi.session.replay-dropped" => replay_dropped,
    "ipmi.session.out-of-window-dropped" => out_of_window_dropped,
    "ipmi.session.integrity-failure-dropped" => integrity_dropped,
    "ipmi.session.idle-timeout" => idle_timeout,
    "ipmi.session.close" => close,
    "ipmi.session.ipmi15-wrong-password" => ipmi15_wrong_password,
    "ipmi.sdr.walk-chain" => sdr_walk_chain,
    "ipmi.sdr.partial-reads" => sdr_partial_reads,
    "ipmi.sdr.reservation-cancelled" => sdr_reservation_cancelled,
    "ipmi.sensor.thresholds-match-sdr" => thresholds_match_sdr,
    "ipmi.sensor.every-sdr-sensor-reads" => every_sensor_reads,
    "ipmi.sensor.reading-conversion" => reading_conversion,
    "ipmi.sensor.unknown-sensor" => unknown_sensor,
    "ipmi.sel.walk-chain" => sel_walk_chain,
    "ipmi.sel.add-get-delete" => sel_add_get_delete,
    "ipmi.sel.add-counts" => sel_add_counts,
    "ipmi.sel.reservation-cancelled-by-add" => sel_reservation_cancelled,
    "ipmi.sel.clear-and-restore" => sel_clear_and_restore,
    "ipmi.fru.read-too-large" => fru_read_too_large,
    "ipmi.fru.common-header" => fru_common_header,
    "ipmi.fru.chunked-equals-whole" => fru_chunked,
    "ipmi.fru.read-past-end" => fru_read_past_end,
    "ipmi.chassis.power-off-on" => power_off_on,
    "ipmi.chassis.power-cycle" => power_cycle,
];

const APP: u8 = 0x06;
const CHASSIS: u8 = 0x00;
const SENSOR: u8 = 0x04;
const STORAGE: u8 = 0x0A;

fn hexs(b: &[u8]) -> String {
    client::ipmi::hex(b)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ])
}

fn silence(ctx: &Ctx) -> Duration {
    ctx.ipmi
        .as_ref()
        .map_or(Duration::from_millis(500), |o| o.silence)
}

/// Runs a login that must fail; the error it failed with.
async fn login_must_fail(
    ctx: &mut Ctx,
    h: Handle,
    privilege: Privilege,
    suite: SuiteChoice,
    what: &str,
) -> Result<IpmiError, Finding> {
    match ctx.s(h).login_v20(privilege, suite).await {
        Ok(info) => Err(Finding::mismatch(
            what,
            "the login refused",
            format!("logged in (session {:#010x})", info.session_id),
        )),
        Err(IpmiError::Io(e)) => Err(Finding::Error(e)),
        Err(e) => Ok(e),
    }
}

/// A login at Administrator with cipher suite 3 that must fail; the error.
async fn admin_login_must_fail(ctx: &mut Ctx, h: Handle, what: &str) -> Result<IpmiError, Finding> {
    login_must_fail(ctx, h, Privilege::Administrator, SuiteChoice::Id(3), what).await
}

/// An IPMI 1.5 login that must be refused.
async fn login_v15_must_fail(
    ctx: &mut Ctx,
    h: Handle,
    auth: AuthType,
    what: &str,
) -> Result<(), Finding> {
    match ctx.s(h).login_v15(Privilege::Administrator, auth).await {
        Ok(_) => Err(Finding::mismatch(what, "refused", "logged in")),
        Err(IpmiError::Io(e)) => Err(Finding::Error(e)),
        Err(_) => Ok(()),
    }
}

/// An RMCP+ login that must succeed.
async fn login_ok(
    ctx: &mut Ctx,
    h: Handle,
    privilege: Privilege,
    suite: u8,
    what: &str,
) -> Result<LoginInfo, Finding> {
    ctx.s(h)
        .login_v20(privilege, SuiteChoice::Id(suite))
        .await
        .map_err(|e| finding(what, e))
}

/// Sends Get Device ID after `wait` of silence; the BMC must not answer it.
async fn device_id_dropped(
    ctx: &mut Ctx,
    h: Handle,
    sent: &str,
    what: impl Into<String>,
    expected: &str,
) -> Result<(), Finding> {
    let wait = silence(ctx);
    let silent = ctx
        .s(h)
        .command_expect_silence(APP, 0x01, &[], wait)
        .await
        .map_err(|e| finding(sent, e))?;
    if !silent {
        return Err(Finding::mismatch(what, expected, "answered"));
    }
    Ok(())
}

/// Sends a command that must be answered with completion code `cc`.
async fn completion_must_be(
    ctx: &mut Ctx,
    h: Handle,
    (netfn, cmd, req): (u8, u8, &[u8]),
    sent: &str,
    what: &str,
    cc: u8,
) -> Result<(), Finding> {
    let r = ctx
        .s(h)
        .command(netfn, cmd, req)
        .await
        .map_err(|e| finding(sent, e))?;
    if r.completion != cc {
        return Err(Finding::mismatch(
            what,
            format!("0x{cc:02X}"),
            format!("{:#04x}", r.completion),
        ));
    }
    Ok(())
}

/// Get Channel Cipher Suites, all records, parsed.
async fn cipher_suites(ctx: &mut Ctx) -> Result<Vec<(u8, Vec<u8>)>, Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let all = ctx
        .s(h)
        .cipher_suite_records()
        .await
        .map_err(|e| finding("Get Channel Cipher Suites", e))?;
    parse_suites(&all).map_err(|e| Finding::mismatch("records", "well formed", e))
}

/// A sensor command with the sensor number as its only data byte.
async fn sensor_ok(
    ctx: &mut Ctx,
    h: Handle,
    name: &str,
    cmd: u8,
    num: u8,
) -> Result<Vec<u8>, Finding> {
    ctx.ipmi_ok(h, &format!("{name} {num}"), SENSOR, cmd, &[num])
        .await
}

fn refused_status(e: &IpmiError) -> Option<(&'static str, u8)> {
    match e {
        IpmiError::Console(ConsoleError::Refused { stage, status }) => Some((stage, *status)),
        _ => None,
    }
}

async fn presence_ping(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let pong = ctx
        .s(h)
        .ping()
        .await
        .map_err(|e| finding("presence ping", e))?;
    if pong.entities & 0x80 == 0 {
        return Err(Finding::mismatch(
            "pong supported entities",
            "bit 7 (IPMI supported) set",
            format!("{:#04x}", pong.entities),
        ));
    }
    Ok(())
}

/// The (suite ID, algorithms) of the standard records of the cipher suite list.
fn parse_suites(b: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = b[i];
        let skip = match start {
            0xC0 => 2,
            0xC1 => 5,
            x => return Err(format!("byte {i}: {x:#04x} starts no cipher suite record")),
        };
        let id = *b.get(i + 1).ok_or("a record cut short")?;
        i += skip;
        let mut algs = Vec::new();
        while i < b.len() && b[i] & 0xC0 != 0xC0 {
            algs.push(b[i]);
            i += 1;
        }
        out.push((id, algs));
    }
    Ok(out)
}

async fn cipher_suites_listed(ctx: &mut Ctx) -> Result<(), Finding> {
    let suites = cipher_suites(ctx).await?;
    let ids: Vec<u8> = suites.iter().map(|s| s.0).collect();
    if !ids.contains(&3) {
        return Err(Finding::mismatch(
            "cipher suites",
            "suite 3 listed",
            format!("{ids:?}"),
        ));
    }
    if ids.contains(&0) {
        return Err(Finding::mismatch(
            "cipher suites",
            "suite 0 (no authentication) not offered",
            format!("{ids:?}"),
        ));
    }
    Ok(())
}

async fn cipher_suites_records(ctx: &mut Ctx) -> Result<(), Finding> {
    let suites = cipher_suites(ctx).await?;
    for (id, algs) in suites {
        let tags: Vec<u8> = algs.iter().map(|a| a >> 6).collect();
        if tags != [0, 1, 2] {
            return Err(Finding::mismatch(
                format!("suite {id}"),
                "one authentication (00b), integrity (01b) and confidentiality (10b) algorithm",
                hexs(&algs),
            ));
        }
    }
    Ok(())
}

async fn login_suite(ctx: &mut Ctx, suite: u8) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let what = format!("login with suite {suite}");
    let info = login_ok(ctx, h, Privilege::Administrator, suite, &what).await?;
    if info.suite != Some(suite) {
        return Err(Finding::mismatch(
            "negotiated suite",
            suite.to_string(),
            format!("{:?}", info.suite),
        ));
    }
    let d = ctx.ipmi_ok(h, "Get Device ID", APP, 0x01, &[]).await?;
    if d.len() < 11 {
        return Err(Finding::mismatch("Get Device ID", "11 bytes", hexs(&d)));
    }
    Ok(())
}

async fn login_suite_3(ctx: &mut Ctx) -> Result<(), Finding> {
    login_suite(ctx, 3).await
}
async fn login_suite_17(ctx: &mut Ctx) -> Result<(), Finding> {
    login_suite(ctx, 17).await
}
async fn login_suite_2(ctx: &mut Ctx) -> Result<(), Finding> {
    login_suite(ctx, 2).await
}
async fn login_suite_1(ctx: &mut Ctx) -> Result<(), Finding> {
    login_suite(ctx, 1).await
}

async fn open_privilege_zero(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    ctx.s(h).faults().open_session_privilege = Some(0);
    let info = login_ok(
        ctx,
        h,
        Privilege::Administrator,
        3,
        "login asking for privilege 0",
    )
    .await?;
    if info.max_privilege != Some(Privilege::Administrator) {
        return Err(Finding::mismatch(
            "Open Session Response maximum privilege",
            "Administrator (the user's real level)",
            format!("{:?}", info.max_privilege),
        ));
    }
    Ok(())
}

async fn open_privilege_echo(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let info = login_ok(ctx, h, Privilege::Operator, 3, "login at Operator").await?;
    if info.max_privilege != Some(Privilege::Operator) {
        return Err(Finding::mismatch(
            "Open Session Response maximum privilege",
            "Operator (as requested)",
            format!("{:?}", info.max_privilege),
        ));
    }
    Ok(())
}

async fn unsupported(ctx: &mut Ctx, algs: (u8, u8, u8), what: &str) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    ctx.s(h).faults().open_session_algorithms = Some(algs);
    let e = admin_login_must_fail(ctx, h, what).await?;
    match refused_status(&e) {
        Some(("Open Session", s)) if s != 0 => Ok(()),
        _ => Err(Finding::mismatch(
            what,
            "Open Session refused with a non-zero status",
            e.to_string(),
        )),
    }
}

async fn unsupported_auth(ctx: &mut Ctx) -> Result<(), Finding> {
    // 0x03: RAKP-HMAC-MD5, not offered by the suites in use.
    unsupported(ctx, (0x30, 0x01, 0x01), "an OEM authentication algorithm").await
}
async fn unsupported_integrity(ctx: &mut Ctx) -> Result<(), Finding> {
    unsupported(ctx, (0x01, 0x30, 0x01), "an OEM integrity algorithm").await
}
async fn unsupported_conf(ctx: &mut Ctx) -> Result<(), Finding> {
    unsupported(ctx, (0x01, 0x01, 0x30), "an OEM confidentiality algorithm").await
}

async fn rakp_unknown_user(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = ctx
        .ipmi_target(Role::Admin)?
        .with_credentials("no-such-user-9", "x");
    let h = ctx.ipmi_open_target(&t).await?;
    let e = admin_login_must_fail(ctx, h, "unknown user").await?;
    match refused_status(&e) {
        Some(("RAKP2", 0x0D)) => Ok(()),
        _ => Err(Finding::mismatch(
            "RAKP Message 2",
            "status 0x0D (unauthorized name)",
            e.to_string(),
        )),
    }
}

async fn rakp_wrong_password(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = ctx.ipmi_target(Role::Admin)?;
    let t = t.with_credentials(&t.user.clone(), "definitely-wrong");
    let h = ctx.ipmi_open_target(&t).await?;
    ctx.s(h).faults().skip_rakp2_check = true;
    let e = admin_login_must_fail(ctx, h, "wrong password").await?;
    match (&e, refused_status(&e)) {
        (_, Some(("RAKP4", s))) if s != 0 => Ok(()),
        (IpmiError::Timeout { .. }, _) => Ok(()),
        _ => Err(Finding::mismatch(
            "RAKP Message 4",
            "a refusal (status 0x0F) or silence",
            e.to_string(),
        )),
    }
}

async fn rakp_role_above_limit(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::User).await?;
    admin_login_must_fail(ctx, h, "a user-level account asking for Administrator").await?;
    Ok(())
}

async fn rakp_name_only(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Operator).await?;
    ctx.s(h).faults().rakp1_role = Some(0x10 | Privilege::Operator.to_u8());
    let what = "name-only lookup login at Operator";
    let info = login_ok(ctx, h, Privilege::Operator, 3, what).await?;
    if info.privilege != Privilege::Operator {
        return Err(Finding::mismatch(
            "session privilege",
            "Operator",
            format!("{:?}", info.privilege),
        ));
    }
    Ok(())
}

async fn rakp_privilege_lookup(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Operator).await?;
    ctx.s(h).faults().rakp1_role = Some(Privilege::Administrator.to_u8());
    admin_login_must_fail(
        ctx,
        h,
        "username/privilege lookup of an operator at Administrator",
    )
    .await?;
    Ok(())
}

async fn suite_zero_refused(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let e = login_must_fail(
        ctx,
        h,
        Privilege::Administrator,
        SuiteChoice::Id(0),
        "cipher suite 0",
    )
    .await?;
    if refused_status(&e).is_some() || e.is_timeout() {
        Ok(())
    } else {
        Err(Finding::mismatch(
            "cipher suite 0",
            "refused",
            e.to_string(),
        ))
    }
}

async fn anonymous_refused(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = ctx.ipmi_target(Role::Admin)?.with_credentials("", "");
    let h = ctx.ipmi_open_target(&t).await?;
    admin_login_must_fail(ctx, h, "anonymous login").await?;
    Ok(())
}

async fn ipmi15_none_refused(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    let what = "IPMI 1.5 login with authentication type none";
    login_v15_must_fail(ctx, h, AuthType::None, what).await
}

async fn expect_dropped(ctx: &mut Ctx, h: Handle, what: &str) -> Result<(), Finding> {
    let wait = silence(ctx);
    let silent = ctx
        .s(h)
        .expect_silence(wait)
        .await
        .map_err(|e| finding(what, e))?;
    if !silent {
        return Err(Finding::mismatch(
            what,
            format!("no answer within {wait:?} (the packet dropped)"),
            "an answer (see the transcript)",
        ));
    }
    // The session still works.
    ctx.ipmi_ok(h, "Get Device ID afterwards", APP, 0x01, &[])
        .await?;
    Ok(())
}

async fn replay_dropped(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(h, "Get Device ID", APP, 0x01, &[]).await?;
    let again = ctx.s(h).last_sent();
    ctx.s(h)
        .send_raw(&again, "the same packet again (replay)")
        .await
        .map_err(|e| finding("replay", e))?;
    expect_dropped(ctx, h, "a replayed packet").await
}

async fn out_of_window_dropped(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(h, "Get Device ID", APP, 0x01, &[]).await?;
    let next = ctx.s(h).console().next_seq();
    ctx.s(h).faults().next_seq = Some(next.wrapping_add(1000));
    device_id_dropped(
        ctx,
        h,
        "out-of-window packet",
        "a packet 1000 sequence numbers ahead",
        "dropped",
    )
    .await?;
    ctx.ipmi_ok(h, "Get Device ID in the window", APP, 0x01, &[])
        .await?;
    Ok(())
}

async fn integrity_dropped(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Admin).await?;
    login_ok(ctx, h, Privilege::Administrator, 3, "login with suite 3").await?;
    ctx.s(h).faults().corrupt_auth_code = true;
    device_id_dropped(
        ctx,
        h,
        "corrupted packet",
        "a packet with a wrong integrity AuthCode",
        "dropped",
    )
    .await?;
    ctx.ipmi_ok(h, "Get Device ID afterwards", APP, 0x01, &[])
        .await?;
    Ok(())
}

async fn idle_timeout(ctx: &mut Ctx) -> Result<(), Finding> {
    let wait = ctx
        .ipmi_opts()?
        .idle_wait
        .ok_or_else(|| Finding::Skip("no idle wait given".into()))?;
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(h, "Get Device ID", APP, 0x01, &[]).await?;
    ctx.s(h).note(format!("idle for {wait:?}"));
    tokio::time::sleep(wait).await;
    device_id_dropped(
        ctx,
        h,
        "command after the idle time",
        format!("a command after {wait:?} idle"),
        "no answer (the session timed out)",
    )
    .await
}

async fn close(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let id = ctx.s(h).console().session_id();
    let cc = ctx
        .s(h)
        .close()
        .await
        .map_err(|e| finding("Close Session", e))?;
    if cc != 0 {
        return Err(Finding::mismatch(
            "Close Session",
            "0x00",
            format!("{cc:#04x}"),
        ));
    }
    // A packet of the closed session: rebuild one with a fresh console state is not
    // possible, so replay the close itself with the next sequence number: the BMC must
    // not answer a session that no longer exists.
    let again = ctx.s(h).last_sent();
    ctx.s(h)
        .send_raw(&again, &format!("Close Session of {id:#010x} again"))
        .await
        .map_err(|e| finding("closed session", e))?;
    let wait = silence(ctx);
    let silent = ctx
        .s(h)
        .expect_silence(wait)
        .await
        .map_err(|e| finding("closed session", e))?;
    if !silent {
        return Err(Finding::mismatch(
            "a packet of the closed session",
            "no answer",
            "answered",
        ));
    }
    Ok(())
}

async fn ipmi15_wrong_password(ctx: &mut Ctx) -> Result<(), Finding> {
    let t = ctx.ipmi_target(Role::Admin)?;
    let t = t.with_credentials(&t.user.clone(), "definitely-wrong");
    let h = ctx.ipmi_open_target(&t).await?;
    let what = "IPMI 1.5 login with a wrong password";
    login_v15_must_fail(ctx, h, AuthType::Md5, what).await
}

// ----- SDR -----

/// Reads a whole record with Get SDR (bytes 0xFF), returning (next ID, bytes).
async fn get_sdr(ctx: &mut Ctx, h: Handle, rsv: u16, id: u16) -> Result<(u16, Vec<u8>), Finding> {
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let d = ctx
        .ipmi_ok(h, &format!("Get SDR {id:#06x}"), STORAGE, 0x23, &req)
        .await?;
    if d.len() < 7 {
        return Err(Finding::mismatch(
            format!("Get SDR {id:#06x}"),
            "the next ID and a record",
            hexs(&d),
        ));
    }
    Ok((le16(&d, 0), d[2..].to_vec()))
}

async fn reserve(ctx: &mut Ctx, h: Handle, cmd: u8) -> Result<u16, Finding> {
    let d = ctx.ipmi_ok(h, "reserve", STORAGE, cmd, &[]).await?;
    if d.len() != 2 {
        return Err(Finding::mismatch("reservation", "2 bytes", hexs(&d)));
    }
    Ok(le16(&d, 0))
}

/// Walks the repository: (record ID, bytes) in chain order.
async fn sdr_walk(ctx: &mut Ctx, h: Handle) -> Result<Vec<(u16, Vec<u8>)>, Finding> {
    let rsv = reserve(ctx, h, 0x22).await?;
    let mut out = Vec::new();
    let mut id = 0u16;
    loop {
        let (next, rec) = get_sdr(ctx, h, rsv, id).await?;
        let rid = le16(&rec, 0);
        if id != 0 && rid != id {
            return Err(Finding::mismatch(
                format!("record asked as {id:#06x}"),
                "the same record ID in the answer",
                format!("{rid:#06x}"),
            ));
        }
        if out.iter().any(|(r, _)| *r == rid) {
            return Err(Finding::mismatch(
                "SDR chain",
                "each record once",
                format!("{rid:#06x} again"),
            ));
        }
        out.push((rid, rec));
        if next == 0xFFFF {
            break;
        }
        if out.len() > 1024 {
            return Err(Finding::mismatch(
                "SDR chain",
                "an end",
                "over 1024 records",
            ));
        }
        id = next;
    }
    Ok(out)
}

pub(crate) async fn sdr_records(ctx: &mut Ctx, h: Handle) -> Result<Vec<Sdr>, Finding> {
    let mut out = Vec::new();
    for (id, rec) in sdr_walk(ctx, h).await? {
        let sdr = Sdr::decode(&rec).map_err(|e| {
            Finding::mismatch(
                format!("SDR {id:#06x}"),
                "a decodable record",
                format!("{e} ({})", hexs(&rec)),
            )
        })?;
        out.push(sdr);
    }
    Ok(out)
}

async fn sdr_walk_chain(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let info = ctx
        .ipmi_ok(h, "Get SDR Repository Info", STORAGE, 0x20, &[])
        .await?;
    let count = usize::from(le16(&info, 1));
    let walked = sdr_walk(ctx, h).await?;
    if walked.len() != count {
        return Err(Finding::mismatch(
            "records in the chain",
            format!("{count} (Get SDR Repository Info)"),
            walked.len().to_string(),
        ));
    }
    Ok(())
}

async fn sdr_partial_reads(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let rsv = reserve(ctx, h, 0x22).await?;
    let (_, whole) = get_sdr(ctx, h, rsv, 0).await?;
    let id = le16(&whole, 0);
    let mut pieces = Vec::new();
    let mut off = 0usize;
    while off < whole.len() {
        let n = (whole.len() - off).min(7) as u8;
        let mut req = rsv.to_le_bytes().to_vec();
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&[off as u8, n]);
        let d = ctx
            .ipmi_ok(h, &format!("Get SDR offset {off}"), STORAGE, 0x23, &req)
            .await?;
        if d.len() != 2 + usize::from(n) {
            return Err(Finding::mismatch(
                format!("Get SDR offset {off} count {n}"),
                format!("{} bytes", 2 + n),
                hexs(&d),
            ));
        }
        pieces.extend_from_slice(&d[2..]);
        off += usize::from(n);
    }
    if pieces != whole {
        return Err(Finding::mismatch(
            "record read in pieces",
            hexs(&whole),
            hexs(&pieces),
        ));
    }
    Ok(())
}

async fn sdr_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let old = reserve(ctx, h, 0x22).await?;
    let new = reserve(ctx, h, 0x22).await?;
    if old == new {
        return Err(Finding::mismatch(
            "second reservation",
            "a new reservation ID",
            format!("{new:#06x} twice"),
        ));
    }
    let mut req = old.to_le_bytes().to_vec();
    req.extend_from_slice(&[0, 0, 2, 3]);
    completion_must_be(
        ctx,
        h,
        (STORAGE, 0x23, &req),
        "Get SDR with the old reservation",
        "Get SDR with a cancelled reservation",
        0xC5,
    )
    .await
}

async fn thresholds_match_sdr(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut misses = Vec::new();
    for sdr in sdr_records(ctx, h).await? {
        let Record::Full(f) = sdr.record else {
            continue;
        };
        let mask = f.key.readable_thresholds();
        if mask == 0 {
            continue;
        }
        let d = sensor_ok(ctx, h, "Get Sensor Thresholds", 0x27, f.key.number).await?;
        if d.len() != 7 {
            misses.push(crate::eval::Mismatch {
                what: format!("sensor {} thresholds", f.key.number),
                expected: "7 bytes".into(),
                got: hexs(&d),
            });
            continue;
        }
        for bit in 0..6u8 {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let live = d[1 + usize::from(bit)];
            let sdr_raw = f.thresholds[usize::from(bit)];
            if d[0] & (1 << bit) == 0 || live != sdr_raw {
                misses.push(crate::eval::Mismatch {
                    what: format!(
                        "sensor {} ({}) threshold bit {bit}",
                        f.key.number,
                        f.id.text()
                    ),
                    expected: format!("readable, raw {sdr_raw:#04x} as in the SDR"),
                    got: format!("mask {:#04x}, raw {live:#04x}", d[0]),
                });
            }
        }
    }
    verdict(misses)
}

async fn every_sensor_reads(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut n = 0;
    for sdr in sdr_records(ctx, h).await? {
        let Some(num) = sdr.record.sensor_number() else {
            continue;
        };
        n += 1;
        let d = sensor_ok(ctx, h, "Get Sensor Reading", 0x2D, num).await?;
        if d.len() < 2 || d[1] & 0x20 != 0 {
            return Err(Finding::mismatch(
                format!("sensor {num} reading"),
                "a reading, available",
                hexs(&d),
            ));
        }
    }
    if n == 0 {
        return Err(Finding::mismatch("SDR", "sensor records", "none"));
    }
    Ok(())
}

async fn reading_conversion(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut misses = Vec::new();
    for sdr in sdr_records(ctx, h).await? {
        let Record::Full(f) = sdr.record else {
            continue;
        };
        let d = sensor_ok(ctx, h, "Get Sensor Reading", 0x2D, f.key.number).await?;
        let Some(raw) = d.first().copied() else {
            continue;
        };
        let lin = f.linear();
        let (v, lo, hi) = (
            lin.value(raw),
            lin.value(f.min_reading),
            lin.value(f.max_reading),
        );
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        if !v.is_finite() || v < lo - 1e-9 || v > hi + 1e-9 {
            misses.push(crate::eval::Mismatch {
                what: format!("sensor {} ({}) reading", f.key.number, f.id.text()),
                expected: format!("within [{lo}, {hi}]"),
                got: format!("{v} (raw {raw:#04x})"),
            });
        }
    }
    verdict(misses)
}

async fn unknown_sensor(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let used: Vec<u8> = sdr_records(ctx, h)
        .await?
        .iter()
        .filter_map(|s| s.record.sensor_number())
        .collect();
    let Some(free) = (1..=0xFEu8).rev().find(|n| !used.contains(n)) else {
        return Err(Finding::Skip("every sensor number is in use".into()));
    };
    let r = ctx
        .s(h)
        .command(SENSOR, 0x2D, &[free])
        .await
        .map_err(|e| finding("Get Sensor Reading", e))?;
    if r.completion == 0 {
        return Err(Finding::mismatch(
            format!("Get Sensor Reading of absent sensor {free}"),
            "an error (0xCB)",
            format!("a reading: {}", hexs(&r.data)),
        ));
    }
    Ok(())
}

// ----- SEL -----

/// Walks the SEL: the 16-byte entries in chain order.
pub(crate) async fn sel_entries(ctx: &mut Ctx, h: Handle) -> Result<Vec<Vec<u8>>, Finding> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut id = 0u16;
    loop {
        let mut req = vec![0, 0];
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&[0, 0xFF]);
        let r = ctx
            .s(h)
            .command(STORAGE, 0x43, &req)
            .await
            .map_err(|e| finding("Get SEL Entry", e))?;
        if r.completion == 0xCB && id == 0 {
            return Ok(out);
        }
        if r.completion != 0 || r.data.len() != 18 {
            return Err(Finding::mismatch(
                format!("Get SEL Entry {id:#06x}"),
                "0x00 and the next ID plus 16 bytes",
                format!("{:#04x} [{}]", r.completion, hexs(&r.data)),
            ));
        }
        let rid = le16(&r.data, 2);
        if out.iter().any(|e| le16(e, 0) == rid) {
            return Err(Finding::mismatch(
                "SEL chain",
                "each entry once",
                format!("{rid:#06x} again"),
            ));
        }
        out.push(r.data[2..].to_vec());
        let next = le16(&r.data, 0);
        if next == 0xFFFF {
            return Ok(out);
        }
        if out.len() > 4096 {
            return Err(Finding::mismatch(
                "SEL chain",
                "an end",
                "over 4096 entries",
            ));
        }
        id = next;
    }
}

pub(crate) async fn sel_count(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx.ipmi_ok(h, "Get SEL Info", STORAGE, 0x40, &[]).await?;
    if d.len() < 3 {
        return Err(Finding::mismatch("Get SEL Info", "14 bytes", hexs(&d)));
    }
    Ok(le16(&d, 1))
}

async fn sel_walk_chain(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let n = sel_count(ctx, h).await?;
    let all = sel_entries(ctx, h).await?;
    if all.len() != usize::from(n) {
        return Err(Finding::mismatch(
            "SEL entries in the chain",
            format!("{n} (Get SEL Info)"),
            all.len().to_string(),
        ));
    }
    Ok(())
}

/// A system event record to add (the BMC fills in ID and timestamp).
const TEST_EVENT: [u8; 16] = [
    0, 0, 0x02, 0, 0, 0, 0, 0x41, 0, 0x04, 0x01, 0x77, 0x01, 0x57, 0x00, 0x00,
];

async fn add_entry(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx
        .ipmi_ok(h, "Add SEL Entry", STORAGE, 0x44, &TEST_EVENT)
        .await?;
    if d.len() != 2 {
        return Err(Finding::mismatch(
            "Add SEL Entry",
            "the 2-byte record ID",
            hexs(&d),
        ));
    }
    Ok(le16(&d, 0))
}

async fn delete_entry(ctx: &mut Ctx, h: Handle, id: u16) -> Result<(), Finding> {
    let rsv = reserve(ctx, h, 0x42).await?;
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(&id.to_le_bytes());
    let d = ctx
        .ipmi_ok(h, "Delete SEL Entry", STORAGE, 0x46, &req)
        .await?;
    if le16(&d, 0) != id {
        return Err(Finding::mismatch(
            "Delete SEL Entry",
            format!("the deleted ID {id:#06x}"),
            hexs(&d),
        ));
    }
    Ok(())
}

async fn sel_add_get_delete(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let id = add_entry(ctx, h).await?;
    let mut req = vec![0, 0];
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let got = ctx
        .ipmi_ok(h, "Get SEL Entry of the new record", STORAGE, 0x43, &req)
        .await;
    let check = match got {
        Ok(d)
            if d.len() == 18 && le16(&d, 2) == id && d[4] == 0x02 && d[9..] == TEST_EVENT[7..] =>
        {
            Ok(())
        }
        Ok(d) => Err(Finding::mismatch(
            "the new record",
            format!(
                "ID {id:#06x}, type 0x02, event bytes {}",
                hexs(&TEST_EVENT[7..])
            ),
            hexs(&d),
        )),
        Err(e) => Err(e),
    };
    delete_entry(ctx, h, id).await?;
    check?;
    completion_must_be(
        ctx,
        h,
        (STORAGE, 0x43, &req),
        "Get SEL Entry after delete",
        "Get SEL Entry of the deleted record",
        0xCB,
    )
    .await
}

async fn sel_add_counts(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let before = sel_count(ctx, h).await?;
    let id = add_entry(ctx, h).await?;
    let during = sel_count(ctx, h).await?;
    delete_entry(ctx, h, id).await?;
    let after = sel_count(ctx, h).await?;
    if during != before + 1 || after != before {
        return Err(Finding::mismatch(
            "Get SEL Info entries (before, after add, after delete)",
            format!("({before}, {}, {before})", before + 1),
            format!("({before}, {during}, {after})"),
        ));
    }
    Ok(())
}

async fn sel_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let old = reserve(ctx, h, 0x42).await?;
    let _new = reserve(ctx, h, 0x42).await?;
    let mut req = old.to_le_bytes().to_vec();
    req.extend_from_slice(&[0xFE, 0xFF]);
    completion_must_be(
        ctx,
        h,
        (STORAGE, 0x46, &req),
        "Delete SEL Entry with the old reservation",
        "Delete SEL Entry with a superseded reservation",
        0xC5,
    )
    .await
}

async fn sel_clear_and_restore(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let saved = sel_entries(ctx, h).await?;
    let rsv = reserve(ctx, h, 0x42).await?;
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(b"CLR");
    req.push(0xAA);
    let cleared = ctx
        .ipmi_ok(h, "Clear SEL (0xAA)", STORAGE, 0x47, &req)
        .await;
    let mut result = cleared.map(|_| ());
    if result.is_ok() {
        *req.last_mut().expect("four bytes") = 0x00;
        let poll = ctx
            .ipmi_ok(h, "Clear SEL (poll)", STORAGE, 0x47, &req)
            .await;
        let count = sel_count(ctx, h).await?;
        result = match poll {
            Ok(d) if d.first().is_some_and(|b| b & 0x0F == 1) && count == 0 => Ok(()),
            Ok(d) => Err(Finding::mismatch(
                "after Clear SEL (progress, entries)",
                "(erasure completed, 0)",
                format!("({}, {count})", hexs(&d)),
            )),
            Err(e) => Err(e),
        };
    }
    // Put the entries back (new IDs and timestamps).
    for e in &saved {
        let mut rec = e.clone();
        rec[0] = 0;
        rec[1] = 0;
        let _ = ctx.s(h).command(STORAGE, 0x44, &rec).await;
    }
    result
}

// ----- FRU -----

async fn fru_size(ctx: &mut Ctx, h: Handle) -> Result<usize, Finding> {
    let d = ctx
        .ipmi_ok(h, "Get FRU Inventory Area Info", STORAGE, 0x10, &[0])
        .await?;
    if d.len() != 3 {
        return Err(Finding::mismatch("FRU area info", "3 bytes", hexs(&d)));
    }
    Ok(usize::from(le16(&d, 0)))
}

async fn fru_read(ctx: &mut Ctx, h: Handle, off: usize, n: u8) -> Result<Vec<u8>, Finding> {
    let o = (off as u16).to_le_bytes();
    let d = ctx
        .ipmi_ok(
            h,
            &format!("Read FRU Data {off}+{n}"),
            STORAGE,
            0x11,
            &[0, o[0], o[1], n],
        )
        .await?;
    if d.is_empty() || usize::from(d[0]) != d.len() - 1 || d[0] > n {
        return Err(Finding::mismatch(
            format!("Read FRU Data {off}+{n}"),
            "a count matching the bytes returned, at most the bytes asked for",
            hexs(&d),
        ));
    }
    Ok(d[1..].to_vec())
}

async fn fru_all(ctx: &mut Ctx, h: Handle) -> Result<Vec<u8>, Finding> {
    let size = fru_size(ctx, h).await?;
    let mut all = Vec::new();
    while all.len() < size {
        let n = (size - all.len()).min(16) as u8;
        let d = fru_read(ctx, h, all.len(), n).await?;
        if d.is_empty() {
            return Err(Finding::mismatch("Read FRU Data", "progress", "0 bytes"));
        }
        all.extend_from_slice(&d);
    }
    Ok(all)
}

async fn fru_read_too_large(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let r = ctx
        .s(h)
        .command(STORAGE, 0x11, &[0, 0, 0, 0xFF])
        .await
        .map_err(|e| finding("Read FRU Data of 255 bytes", e))?;
    match r.completion {
        0xCA => Ok(()),
        0 if !r.data.is_empty() && usize::from(r.data[0]) == r.data.len() - 1 => Ok(()),
        c => Err(Finding::mismatch(
            "Read FRU Data of 255 bytes",
            "0xCA, or a count that matches the bytes",
            format!("{c:#04x} [{}]", hexs(&r.data)),
        )),
    }
}

async fn fru_common_header(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let size = fru_size(ctx, h).await?;
    let hdr = fru_read(ctx, h, 0, 8).await?;
    if hdr.len() != 8 {
        return Err(Finding::mismatch("common header", "8 bytes", hexs(&hdr)));
    }
    let sum = hdr.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    if hdr[0] & 0x0F != 1 || sum != 0 {
        return Err(Finding::mismatch(
            "common header",
            "format version 1 and a zero-sum checksum",
            hexs(&hdr),
        ));
    }
    for (i, off) in hdr[1..6].iter().enumerate() {
        if *off != 0 && usize::from(*off) * 8 >= size {
            return Err(Finding::mismatch(
                format!("area offset {i}"),
                format!("inside the {size}-byte inventory"),
                format!("{}", usize::from(*off) * 8),
            ));
        }
    }
    Ok(())
}

async fn fru_chunked(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let all = fru_all(ctx, h).await?;
    if all.len() < 8 {
        return Err(Finding::mismatch(
            "inventory",
            "at least 8 bytes",
            hexs(&all),
        ));
    }
    // Chassis, board and product areas: length byte at +1 in multiples of 8, zero sum.
    for (i, off) in all[2..5].iter().enumerate() {
        if *off == 0 {
            continue;
        }
        let start = usize::from(*off) * 8;
        let len = all.get(start + 1).map_or(0, |l| usize::from(*l) * 8);
        let area = all.get(start..start + len);
        let ok =
            area.is_some_and(|a| len > 0 && a.iter().fold(0u8, |x, y| x.wrapping_add(*y)) == 0);
        if !ok {
            return Err(Finding::mismatch(
                format!("area {} at {start}", ["chassis", "board", "product"][i]),
                "a length inside the inventory and a zero-sum checksum",
                format!("length {len} of {} bytes", all.len()),
            ));
        }
    }
    Ok(())
}

async fn fru_read_past_end(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let size = fru_size(ctx, h).await?;
    let o = ((size + 16).min(0xFFFF) as u16).to_le_bytes();
    let r = ctx
        .s(h)
        .command(STORAGE, 0x11, &[0, o[0], o[1], 8])
        .await
        .map_err(|e| finding("Read FRU Data past the end", e))?;
    if r.completion == 0 && r.data.first().is_some_and(|c| *c > 0) {
        return Err(Finding::mismatch(
            "Read FRU Data past the end",
            "an error or no bytes",
            hexs(&r.data),
        ));
    }
    Ok(())
}

// ----- chassis -----

pub(crate) async fn power_on(ctx: &mut Ctx, h: Handle) -> Result<bool, Finding> {
    let d = ctx
        .ipmi_ok(h, "Get Chassis Status", CHASSIS, 0x01, &[])
        .await?;
    d.first()
        .map(|b| b & 1 == 1)
        .ok_or_else(|| Finding::mismatch("Get Chassis Status", "3 bytes", "none"))
}

/// Polls Get Chassis Status until the power is `on` (transitions may take a moment).
pub(crate) async fn wait_power(ctx: &mut Ctx, h: Handle, on: bool) -> Result<(), Finding> {
    for _ in 0..100 {
        if power_on(ctx, h).await? == on {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Finding::mismatch(
        "chassis power state",
        if on { "on" } else { "off" },
        "unchanged after 10 s",
    ))
}

/// The two power changes (Chassis Control action, power on after it) that leave the
/// system as it is now: down then up when it is on, up then down when it is off.
pub(crate) async fn power_round_trip(ctx: &mut Ctx, h: Handle) -> Result<[(u8, bool); 2], Finding> {
    Ok(if power_on(ctx, h).await? {
        [(0, false), (1, true)]
    } else {
        [(1, true), (0, false)]
    })
}

/// Chassis Control `action`, then waits until the power is `on`.
pub(crate) async fn chassis_control(
    ctx: &mut Ctx,
    h: Handle,
    action: u8,
    on: bool,
) -> Result<(), Finding> {
    ctx.ipmi_ok(
        h,
        &format!("Chassis Control {action}"),
        CHASSIS,
        0x02,
        &[action],
    )
    .await?;
    wait_power(ctx, h, on).await
}

async fn power_off_on(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    for (action, on) in power_round_trip(ctx, h).await? {
        chassis_control(ctx, h, action, on).await?;
    }
    Ok(())
}

async fn power_cycle(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let was_on = power_on(ctx, h).await?;
    if !was_on {
        return Err(Finding::Skip(
            "the system is off; a power cycle needs it on".into(),
        ));
    }
    ctx.ipmi_ok(h, "Chassis Control 2 (cycle)", CHASSIS, 0x02, &[2])
        .await?;
    wait_power(ctx, h, true).await
}

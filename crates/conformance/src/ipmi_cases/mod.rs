//! IPMI code cases (profile `ipmi-lan`): the multi-step logic that data steps cannot
//! express (logins that must fail, packets that must be dropped, walks and cross-checks).

use std::time::Duration;

use client::ipmi::{IpmiError, LoginInfo};
use ipmi::codes::Privilege;
use ipmi::commands::id;
use ipmi::console::{ConsoleError, SuiteChoice};
use ipmi::rmcp::AuthType;

use crate::code::{CodeFn, Ctx, Finding, reg, verdict};
use crate::ipmi::{Handle, Role, completion, finding};
use client::ipmi::millis;

mod storage;
use storage::*;
use storage::{SelSnapshot, sel_restore, sel_save};
pub(crate) use storage::{sdr_records, sel_count, sel_entries};

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
    "ipmi.privilege.operator-login-as-administrator" => operator_login_as_administrator,
    "ipmi.privilege.operator-set-session-administrator" => operator_set_session_administrator,
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

const SENSOR: u8 = ipmi::codes::netfn::SENSOR_EVENT;
const STORAGE: u8 = ipmi::codes::netfn::STORAGE;

fn list_ids(ids: &[u8]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter().map(u8::to_string).collect::<Vec<_>>().join(", ")
}

fn privilege_text(p: Option<Privilege>) -> String {
    p.map_or_else(|| "no privilege level".into(), |p| p.name().to_owned())
}

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
        .command_expect_silence(id::GET_DEVICE_ID.0, id::GET_DEVICE_ID.1, &[], wait)
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
        if let Some(skip) = crate::ipmi::not_implemented(&ctx.ipmi_caps, netfn, cmd, r.completion) {
            return Err(skip);
        }
        return Err(Finding::mismatch(
            what,
            completion(cc),
            completion(r.completion),
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
            format!("suites {}", list_ids(&ids)),
        ));
    }
    if ids.contains(&0) {
        return Err(Finding::mismatch(
            "cipher suites",
            "suite 0 (no authentication) not offered",
            format!("suites {}", list_ids(&ids)),
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
            info.suite
                .map_or_else(|| "an IPMI 1.5 session".into(), |s| format!("suite {s}")),
        ));
    }
    let d = ctx
        .ipmi_ok(
            h,
            "Get Device ID",
            id::GET_DEVICE_ID.0,
            id::GET_DEVICE_ID.1,
            &[],
        )
        .await?;
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
    // 0 asks for the highest level the proposed algorithms allow; the response states
    // that level (which one is the BMC's to say: the user is not known yet).
    if info.max_privilege.is_none() {
        return Err(Finding::mismatch(
            "Open Session Response maximum privilege",
            "the level the session may reach (User to Administrator or OEM), not 0",
            "0 (no privilege level)",
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
            privilege_text(info.max_privilege),
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

/// The least privileged account given (user-level, else operator) and the level it may
/// not exceed; a skip when neither was given.
fn limited_role(ctx: &Ctx) -> Result<Role, Finding> {
    let o = ctx.ipmi_opts()?;
    if o.user.is_some() {
        Ok(Role::User)
    } else if o.operator.is_some() {
        Ok(Role::Operator)
    } else {
        Err(Finding::Skip(
            "no account below Administrator given (--ipmi-operator or --ipmi-user-account)".into(),
        ))
    }
}

async fn rakp_role_above_limit(ctx: &mut Ctx) -> Result<(), Finding> {
    let role = limited_role(ctx)?;
    let h = ctx.ipmi_open(role).await?;
    admin_login_must_fail(
        ctx,
        h,
        &format!(
            "the {} account asking for Administrator (username/privilege lookup)",
            role.name()
        ),
    )
    .await?;
    Ok(())
}

async fn operator_login_as_administrator(ctx: &mut Ctx) -> Result<(), Finding> {
    // Name-only lookup (RAKP 1 role bit 4), as ipmitool and freeipmi send it: the
    // requested maximum privilege is still checked against the account's limit.
    let h = ctx.ipmi_open(Role::Operator).await?;
    ctx.s(h).faults().rakp1_role = Some(0x10 | Privilege::Administrator.to_u8());
    admin_login_must_fail(
        ctx,
        h,
        "the operator account asking for Administrator (name-only lookup)",
    )
    .await?;
    Ok(())
}

/// Set Session Privilege Level's refusals for a level above the account's limit
/// (IPMI v2.0 22.18: 0x80 level not available for this user, 0x81 level exceeds the
/// channel or user limit) and the generic 0xD4 (insufficient privilege).
const SET_PRIVILEGE_REFUSALS: [u8; 3] = [0x80, 0x81, 0xD4];

async fn operator_set_session_administrator(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_open(Role::Operator).await?;
    login_ok(ctx, h, Privilege::Operator, 3, "operator login at Operator").await?;
    let r = ctx
        .s(h)
        .command(
            id::SET_SESSION_PRIVILEGE.0,
            id::SET_SESSION_PRIVILEGE.1,
            &[Privilege::Administrator.to_u8()],
        )
        .await
        .map_err(|e| finding("Set Session Privilege Level", e))?;
    if SET_PRIVILEGE_REFUSALS.contains(&r.completion) {
        return Ok(());
    }
    if let Some(skip) = crate::ipmi::not_implemented(
        &ctx.ipmi_caps,
        id::SET_SESSION_PRIVILEGE.0,
        id::SET_SESSION_PRIVILEGE.1,
        r.completion,
    ) {
        return Err(skip);
    }
    let want: Vec<String> = SET_PRIVILEGE_REFUSALS
        .iter()
        .map(|c| completion(*c))
        .collect();
    Err(Finding::mismatch(
        "Set Session Privilege Level to Administrator in an operator session",
        format!("refused: {}", want.join(" or ")),
        if r.completion == 0 {
            format!("granted ({})", hexs(&r.data))
        } else {
            completion(r.completion)
        },
    ))
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
            info.privilege.name().to_owned(),
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
    if ctx.ipmi_caps.suites.contains(&0) {
        return Err(Finding::Skip(
            "the channel lists cipher suite 0 (Get Channel Cipher Suites): it is enabled \
             by configuration, and the requirement applies only where it is not (the \
             listing itself is judged by ipmi.discovery.cipher-suites-listed)"
                .into(),
        ));
    }
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
    if ctx.ipmi_caps.ipmi15_auth & 0x01 != 0 {
        return Err(Finding::Skip(
            "the channel advertises IPMI 1.5 authentication type none (Get Channel \
             Authentication Capabilities): it is enabled by configuration, and the \
             requirement applies only where it is not"
                .into(),
        ));
    }
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
            format!("no answer within {} (the packet dropped)", millis(wait)),
            "an answer (see the transcript)",
        ));
    }
    // The session still works.
    ctx.ipmi_ok(
        h,
        "Get Device ID afterwards",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
    .await?;
    Ok(())
}

async fn replay_dropped(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(
        h,
        "Get Device ID",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
    .await?;
    let again = ctx.s(h).last_sent();
    ctx.s(h)
        .send_raw(&again, "the same packet again (replay)")
        .await
        .map_err(|e| finding("replay", e))?;
    expect_dropped(ctx, h, "a replayed packet").await
}

async fn out_of_window_dropped(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(
        h,
        "Get Device ID",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
    .await?;
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
    ctx.ipmi_ok(
        h,
        "Get Device ID in the window",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
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
    ctx.ipmi_ok(
        h,
        "Get Device ID afterwards",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
    .await?;
    Ok(())
}

async fn idle_timeout(ctx: &mut Ctx) -> Result<(), Finding> {
    let wait = ctx
        .ipmi_opts()?
        .idle_wait
        .ok_or_else(|| Finding::Skip("no idle wait given".into()))?;
    let h = ctx.ipmi_login(Role::Admin).await?;
    ctx.ipmi_ok(
        h,
        "Get Device ID",
        id::GET_DEVICE_ID.0,
        id::GET_DEVICE_ID.1,
        &[],
    )
    .await?;
    ctx.s(h).note(format!("idle for {}", millis(wait)));
    tokio::time::sleep(wait).await;
    device_id_dropped(
        ctx,
        h,
        "command after the idle time",
        format!("a command after {} idle", millis(wait)),
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

// ----- chassis -----

pub(crate) async fn power_on(ctx: &mut Ctx, h: Handle) -> Result<bool, Finding> {
    let d = ctx
        .ipmi_ok(
            h,
            "Get Chassis Status",
            id::GET_CHASSIS_STATUS.0,
            id::GET_CHASSIS_STATUS.1,
            &[],
        )
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
        id::CHASSIS_CONTROL.0,
        id::CHASSIS_CONTROL.1,
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
    ctx.ipmi_ok(
        h,
        "Chassis Control 2 (cycle)",
        id::CHASSIS_CONTROL.0,
        id::CHASSIS_CONTROL.1,
        &[2],
    )
    .await?;
    wait_power(ctx, h, true).await
}

/// Saves the SEL before a case that could lose entries when the BMC misbehaves (in a
/// session of its own).
pub(crate) async fn preserve_sel(ctx: &mut Ctx) -> Result<SelSnapshot, Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    sel_save(ctx, h).await
}

/// Puts back what the case lost of `saved` (in a fresh session: the case may have
/// outlasted the first one's idle timeout), recording each change.
pub(crate) async fn restore_sel(ctx: &mut Ctx, saved: &SelSnapshot) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    sel_restore(ctx, h, saved).await
}

/// The sensor number of the first full sensor record of the SDR (found by record
/// type, read as clients read), for data steps that name `{{sensor}}`.
pub(crate) async fn full_sensor_number(ctx: &mut Ctx) -> Result<u8, Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    sdr_records(ctx, h)
        .await?
        .iter()
        .find_map(|s| match &s.record {
            ipmi::sdr::Record::Full(f) => Some(f.key.number),
            _ => None,
        })
        .ok_or_else(|| Finding::Skip("the SDR holds no full sensor record".into()))
}

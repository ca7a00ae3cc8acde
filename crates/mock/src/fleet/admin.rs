//! The fleet admin API (JSON over plain HTTP, loopback only, like the one machine's):
//!
//! - `GET /health`: the fleet's size, how many machines are built, uptime.
//! - `GET /machines[?offset=&limit=&scenario=&chaos=]`: machines with their addresses,
//!   scenario, chaos and, once built, power state.
//! - `GET /inventory[?format=csv]`: the inventory `serve --inventory` writes.
//! - `/machines/{id}/...`: every route of the one-machine admin API for that machine
//!   (`/machines/m00007/power`, `/sensors/{id}`, `/sel`, `/events`, `/journal`, ...).
//! - `POST /fleet/power {"action": "cycle", "select": {...}}`: a power action on a
//!   selection.
//! - `POST /fleet/faults {"select": {...}, "rules": "<TOML with [[rules]] and/or
//!   [[ipmi.rules]]>"}` injects rules after each selected machine's own;
//!   `DELETE /fleet/faults {"select": {...}}` removes them again.
//!
//! A selection is `{"all": true}` or any of `ids` (a list), `scenario`, `chaos` (a
//! name or `"none"`), then `fraction` (of what the others left, exactly, rounded) with
//! `seed` (default the fleet's): the same selection picks the same machines.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::Shared;
use super::plan::{Chaos, SplitMix, member_index};
use crate::admin::AdminOps as _;
use crate::http::server::Running;

/// Most admin connections served at once.
const MAX_CONNECTIONS: usize = 256;
/// Time a whole request may take (reading its body included).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Time a client has to send a request's head.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The name prefix of injected rules.
pub const FAULT_PREFIX: &str = "fleet fault: ";

/// Binds `addr` and serves the fleet admin API.
pub(crate) async fn start(addr: SocketAddr, shared: Arc<Shared>) -> std::io::Result<Running> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => break,
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    // Reap finished connections; past the cap a new one is closed at once.
                    while conns.try_join_next().is_some() {}
                    if conns.len() >= MAX_CONNECTIONS {
                        continue;
                    }
                    let shared = shared.clone();
                    let port = bound.port();
                    let loopback = bound.ip().is_loopback();
                    conns.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let shared = shared.clone();
                            async move {
                                // The whole request (its body, the work) within a deadline.
                                let answer = tokio::time::timeout(
                                    REQUEST_TIMEOUT,
                                    serve(&shared, port, loopback, req),
                                )
                                .await
                                .unwrap_or_else(|_| {
                                    error(StatusCode::REQUEST_TIMEOUT, "the request took too long")
                                });
                                Ok::<_, std::convert::Infallible>(answer)
                            }
                        });
                        // A client gets HEADER_TIMEOUT to send each request's head (and
                        // an idle keep-alive connection is closed after it), so a slow or
                        // silent client cannot hold a connection forever.
                        let _ = http1::Builder::new()
                            .timer(hyper_util::rt::TokioTimer::new())
                            .header_read_timeout(HEADER_TIMEOUT)
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    });
                }
            }
        }
        conns.abort_all();
    });
    Ok(Running::admin_only(bound, stop, task))
}

async fn serve(
    shared: &Shared,
    port: u16,
    loopback: bool,
    req: http::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    // One machine's routes: its own admin API, under its id.
    if let Some(rest) = path.strip_prefix("/machines/") {
        let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let Some(built) = member_index(id).and_then(|i| shared.machine(i)) else {
            return error(StatusCode::NOT_FOUND, &format!("no machine `{id}`"));
        };
        let (mut parts, body) = req.into_parts();
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        parts.uri = match format!("/{tail}{query}").parse() {
            Ok(u) => u,
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad path: {e}")),
        };
        let req = http::Request::from_parts(parts, body);
        return crate::admin::serve(&built.mock, built.mock.journal(), port, loopback, req).await;
    }
    let checked = crate::admin::check_origin(req.headers(), port).and_then(|()| {
        if loopback {
            crate::admin::check_host(req.headers())
        } else {
            Ok(())
        }
    });
    if let Err(message) = checked {
        return error(StatusCode::FORBIDDEN, &message);
    }
    let method = req.method().clone();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = match Limited::new(req.into_body(), crate::admin::MAX_ADMIN_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let mut resp = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body larger than {} bytes", crate::admin::MAX_ADMIN_BODY),
            );
            // The rest of the body is unread: the connection cannot be reused.
            resp.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
            return resp;
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading body: {e}")),
    };
    let path = path.trim_end_matches('/');
    match (path, &method) {
        ("/health", &Method::GET) => json_ok(&json!({
            "fleet": shared.members.len(),
            "built": shared.built.load(std::sync::atomic::Ordering::Relaxed),
            "uptime_ms": shared.started.elapsed().as_millis() as u64,
            "version": env!("CARGO_PKG_VERSION"),
        })),
        ("/machines", &Method::GET) => list(shared, &query),
        ("/inventory", &Method::GET) => {
            let inv = super::inventory::Inventory::of(shared, &bound_of(shared));
            if query_value(&query, "format").as_deref() == Some("csv") {
                let mut r = Response::new(Full::new(Bytes::from(inv.to_csv())));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/csv"),
                );
                r
            } else {
                json_ok(&serde_json::to_value(&inv).unwrap_or(Value::Null))
            }
        }
        ("/fleet/power", &Method::POST) => match parse(&body) {
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
            Ok(v) => {
                let Some(action) = v.get("action").and_then(Value::as_str) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        r#"expected {"action": "on|off|cycle|reset|...", "select": {...}}"#,
                    );
                };
                let picked = match select(shared, v.get("select")) {
                    Ok(p) => p,
                    Err(e) => return error(StatusCode::BAD_REQUEST, &e),
                };
                let mut done = Vec::new();
                for i in picked {
                    let Some(b) = shared.machine(i) else { continue };
                    if let Err(e) = b.mock.power(action) {
                        return error(
                            StatusCode::BAD_REQUEST,
                            &format!("{}: {e}", shared.members[i].id),
                        );
                    }
                    done.push(shared.members[i].id.clone());
                }
                json_ok(&json!({ "action": action, "machines": done }))
            }
        },
        ("/fleet/faults", &Method::POST) => match parse(&body) {
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
            Ok(v) => inject(shared, &v),
        },
        ("/fleet/faults", &Method::DELETE) => match parse(&body) {
            Err(e) => error(StatusCode::BAD_REQUEST, &e),
            Ok(v) => match select(shared, v.get("select")) {
                Err(e) => error(StatusCode::BAD_REQUEST, &e),
                Ok(picked) => {
                    let mut removed = 0;
                    for i in &picked {
                        if let Some(b) = shared.built(*i) {
                            removed += b.mock.remove_trailing_rules(FAULT_PREFIX);
                        }
                    }
                    json_ok(&json!({ "machines": picked.len(), "rules_removed": removed }))
                }
            },
        },
        ("/health" | "/machines" | "/inventory" | "/fleet/power" | "/fleet/faults", _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} does not take {method}"),
        ),
        _ => error(StatusCode::NOT_FOUND, &format!("no route {path}")),
    }
}

fn bound_of(shared: &Shared) -> Vec<(Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>)> {
    shared.bound.get().cloned().unwrap_or_default()
}

fn list(shared: &Shared, query: &str) -> Response<Full<Bytes>> {
    let offset = query_value(query, "offset")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0usize);
    let limit = query_value(query, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000usize);
    let scenario = query_value(query, "scenario");
    let chaos = query_value(query, "chaos");
    let bound = bound_of(shared);
    let now_all: Vec<Value> = shared
        .members
        .iter()
        .filter(|m| {
            scenario
                .as_deref()
                .is_none_or(|s| shared.scenario_names[m.scenario] == s)
        })
        .filter(|m| match chaos.as_deref() {
            None => true,
            Some("none") => m.chaos.is_none(),
            Some(c) => m.chaos.map(Chaos::name) == Some(c),
        })
        .skip(offset)
        .take(limit)
        .map(|m| {
            let (http, https, ipmi) = bound
                .get(m.index)
                .cloned()
                .unwrap_or((m.http, m.https, m.ipmi));
            let state = shared.built(m.index).map(|b| {
                b.mock.with_machine(|machine, now| {
                    json!({ "power": if machine.power_state(now).is_on() { "on" } else { "off" } })
                })
            });
            json!({
                "id": m.id,
                "index": m.index,
                "scenario": shared.scenario_names[m.scenario],
                "hostname": m.identity.hostname,
                "chaos": m.chaos.map(Chaos::name),
                "wsman_url": http.map(|a| format!("http://{a}/wsman")),
                "https_url": https.map(|a| format!("https://{a}/wsman")),
                "ipmi": ipmi.map(|a| a.to_string()),
                "built": state.is_some(),
                "state": state,
            })
        })
        .collect();
    json_ok(&json!({ "total": shared.members.len(), "offset": offset, "machines": now_all }))
}

fn inject(shared: &Shared, v: &Value) -> Response<Full<Bytes>> {
    let Some(text) = v.get("rules").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            r#"expected {"select": {...}, "rules": "<TOML: [[rules]] and/or [[ipmi.rules]]>"}"#,
        );
    };
    let parsed = match crate::Scenario::from_toml(text, "POST /fleet/faults rules") {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let mut wsman = parsed.rules.rules().to_vec();
    let mut ipmi = parsed.ipmi.rules.clone();
    if wsman.is_empty() && ipmi.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the TOML holds no [[rules]] or [[ipmi.rules]]",
        );
    }
    for r in &mut wsman {
        r.name = format!("{FAULT_PREFIX}{}", r.name);
    }
    for r in &mut ipmi {
        r.name = format!("{FAULT_PREFIX}{}", r.name);
    }
    let picked = match select(shared, v.get("select")) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let mut ids = Vec::new();
    for i in picked {
        let Some(b) = shared.machine(i) else { continue };
        b.mock.edit_rules(|w, p| {
            w.extend(wsman.iter().cloned());
            p.extend(ipmi.iter().cloned());
        });
        ids.push(shared.members[i].id.clone());
    }
    json_ok(&json!({ "machines": ids, "rules": wsman.len() + ipmi.len() }))
}

/// The machines a selection names, by index, in index order.
pub(crate) fn select(shared: &Shared, sel: Option<&Value>) -> Result<Vec<usize>, String> {
    let Some(sel) = sel.and_then(Value::as_object) else {
        return Err(r#"say which machines: "select": {"all": true} or {"ids": [...], "scenario": ..., "chaos": ..., "fraction": 0.1}"#.into());
    };
    for key in sel.keys() {
        if !["all", "ids", "scenario", "chaos", "fraction", "seed"].contains(&key.as_str()) {
            return Err(format!("select: unknown key `{key}`"));
        }
    }
    if sel.is_empty() {
        return Err("select: empty; use {\"all\": true} for every machine".into());
    }
    let mut picked: Vec<usize> = (0..shared.members.len()).collect();
    if let Some(ids) = sel.get("ids") {
        let ids = ids.as_array().ok_or("select.ids: expected a list of ids")?;
        let mut wanted = Vec::new();
        for id in ids {
            let id = id.as_str().ok_or("select.ids: expected ids as text")?;
            let i = member_index(id)
                .filter(|&i| i < shared.members.len())
                .ok_or_else(|| format!("select.ids: no machine `{id}`"))?;
            wanted.push(i);
        }
        wanted.sort_unstable();
        wanted.dedup();
        picked = wanted;
    }
    if let Some(s) = sel.get("scenario") {
        let s = s.as_str().ok_or("select.scenario: expected a name")?;
        if !shared.scenario_names.iter().any(|n| n == s) {
            return Err(format!(
                "select.scenario: no machine runs `{s}` ({})",
                shared.scenario_names.join(", ")
            ));
        }
        picked.retain(|&i| shared.scenario_names[shared.members[i].scenario] == s);
    }
    if let Some(c) = sel.get("chaos") {
        let c = c.as_str().ok_or("select.chaos: expected a name")?;
        let want = match c {
            "none" => None,
            other => Some(
                Chaos::from_name(other)
                    .ok_or_else(|| format!("select.chaos: `{other}` is not a kind of chaos"))?,
            ),
        };
        picked.retain(|&i| shared.members[i].chaos == want);
    }
    if let Some(f) = sel.get("fraction") {
        let f = f
            .as_f64()
            .filter(|f| (0.0..=1.0).contains(f))
            .ok_or("select.fraction: expected a number from 0 to 1")?;
        let seed = sel
            .get("seed")
            .and_then(Value::as_u64)
            .unwrap_or(shared.spec.seed);
        let n = (f * picked.len() as f64).round() as usize;
        let mut rng = SplitMix::new(seed);
        for i in (1..picked.len()).rev() {
            let j = rng.below(i + 1);
            picked.swap(i, j);
        }
        picked.truncate(n);
        picked.sort_unstable();
    }
    Ok(picked)
}

fn query_value(query: &str, key: &str) -> Option<String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}

fn parse(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))
}

fn json_ok(v: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec_pretty(v).unwrap_or_default(),
    )));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut r = json_ok(&json!({ "error": message }));
    *r.status_mut() = status;
    r
}

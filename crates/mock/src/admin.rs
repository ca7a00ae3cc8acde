//! The admin API: JSON over plain HTTP on its own listener (loopback by default), for
//! tests and CI to steer the mock while a client talks to it (set a sensor, pull the
//! power, add a SEL entry, load another scenario) and to read the journal.
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /health` | | [`AdminOps::health`] |
//! | `GET /state` | | [`AdminOps::state`] |
//! | `GET /journal[?since=SEQ]` | | array of journal entries (newer than SEQ) |
//! | `DELETE /journal` | | `{"cleared": N}` |
//! | `POST /sensors/{id}` | `{"value": 41.5}` or `{"value": null}` | [`sensor_answer`]; 404 for an unknown id |
//! | `POST /power` | `{"action": "off"}` | [`AdminOps::power`] |
//! | `POST /sel` | entry JSON, or no body ([`default_sel_event`]) | [`AdminOps::add_sel`] |
//! | `POST /scenario` | TOML text | [`AdminOps::load_scenario`] |
//! | `GET /events[?after=SEQ]` | | [`AdminOps::events`]: the machine's event log (after SEQ) |
//! | `POST /events` | an indication, a list of them, `{"sel": entry}` or `{"power": action}` | 201, [`AdminOps::raise_events`] |
//!
//! Errors are `{"error": "..."}`: 400 for a refused request, 403 for a cross-origin
//! request, 404 for an unknown route or sensor id, 405 (with `Allow`) for a wrong
//! method, 413 past 1 MiB of body, 415 for a body of the wrong type.
//!
//! A sensor reading is kept as its IPMI raw byte (`value = raw × resolution + offset`,
//! clamped to the byte), so the value set is rounded to the sensor's resolution: the
//! answer says the value requested, the value stored and whether they differ
//! (`"quantised": true`, with a `note`).
//!
//! # Cross-site requests
//!
//! There is no authentication (the listener is on loopback by default), so what a web
//! page open in a browser on the same host can send is refused:
//!
//! - A request with an `Origin` header other than the admin listener's own loopback
//!   origins (`http://127.0.0.1:PORT`, `http://localhost:PORT`, `http://[::1]:PORT`,
//!   PORT being the admin port) is refused with 403 whatever its method or path,
//!   `OPTIONS` preflights included. `Origin: null` is foreign. No answer ever carries
//!   `Access-Control-*` headers, so a browser lets no other origin read an answer or
//!   pass a preflight.
//! - On a loopback listener, a request whose `Host` is not a loopback name
//!   (`127.x.x.x`, `localhost`, `[::1]`, any port) is refused with 403: a page whose
//!   host name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name as `Host`
//!   and no `Origin` on same-origin GETs.
//! - `POST /sensors/{id}`, `POST /power`, `POST /sel` and `POST /events` take JSON
//!   only: a
//!   `Content-Type` other than `application/json` (parameters such as `charset`
//!   allowed), or none, is refused with 415 (a `POST /sel` without a body needs no
//!   type, as `curl -X POST` sends it). A page can send `text/plain`,
//!   `application/x-www-form-urlencoded` or `multipart/form-data` cross-origin without
//!   a preflight; it cannot send `application/json` so. `DELETE /journal` takes no
//!   body; if one is sent, it must be `application/json` too.
//! - `POST /scenario` takes TOML text: `application/toml`, `text/x-toml`,
//!   `text/plain`, `application/x-www-form-urlencoded` (what `curl --data-binary
//!   @file.toml` sends) or no `Content-Type`. The two CORS-safelisted types are safe
//!   to accept because browsers send `Origin` with every cross-origin `POST`, and a
//!   foreign `Origin` is refused before the type is looked at; anything else is 415.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::journal::Journal;

/// Largest admin request body.
pub const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// Why an admin request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    /// The request cannot be done (400).
    BadRequest(String),
    /// What the path names does not exist (404).
    NotFound(String),
}

impl From<String> for AdminError {
    fn from(message: String) -> AdminError {
        AdminError::BadRequest(message)
    }
}

/// The answer to `POST /sensors/{id}`: `{"id", "value", "resolution"}`, and when a value
/// was set, `"requested"` and `"quantised"` (whether the stored reading differs from the
/// requested value), with a `"note"` saying so when it does. `stored` is the reading
/// after the change (the raw byte converted back).
pub fn sensor_answer(
    id: &str,
    requested: Option<f64>,
    stored: Option<f64>,
    resolution: f64,
) -> Value {
    let mut answer = json!({ "id": id, "value": stored, "resolution": resolution });
    if let Some(asked) = requested {
        let quantised = stored.is_none_or(|v| (v - asked).abs() > 1e-9);
        answer["requested"] = json!(asked);
        answer["quantised"] = json!(quantised);
        if quantised {
            answer["note"] = json!(format!(
                "readings are kept as the IPMI raw byte: {asked} is stored as {} \
                 (resolution {resolution}, clamped to the sensor's range)",
                stored.map_or("nothing".to_owned(), |v| v.to_string())
            ));
        }
    }
    answer
}

/// The event `POST /sel` adds when it has no body: a System Event (sensor type 0x12),
/// sensor number 0, asserted, sensor-specific event type 0x6F, offset 0 (System
/// Reconfigured), as `ipmitool sel list` shows it: `System Event #0x00 | System
/// Reconfigured | Asserted`.
pub fn default_sel_event() -> Value {
    json!({
        "sensor_type": 0x12,
        "sensor_number": 0,
        "event_type": 0x6F,
        "data": [0x00, 0xFF, 0xFF],
        "description": "System Reconfigured (the admin API's default event)",
    })
}

/// What the admin API can do to the simulated machine (implemented by the service
/// layer). Errors are messages for the client (answered with 400 unless an
/// [`AdminError`] says otherwise).
pub trait AdminOps: Send + Sync + 'static {
    /// Liveness and version information.
    fn health(&self) -> Value;
    /// A summary of the machine state.
    fn state(&self) -> Value;
    /// Overrides a sensor reading (`None` clears the override); answers
    /// [`sensor_answer`], or [`AdminError::NotFound`] for an id no numeric sensor has.
    fn set_sensor(&self, id: &str, value: Option<f64>) -> Result<Value, AdminError>;
    /// A power action (`on`, `off`, `cycle`, `reset`, ...).
    fn power(&self, action: &str) -> Result<Value, String>;
    /// Appends a System Event Log entry.
    fn add_sel(&self, entry: Value) -> Result<Value, String>;
    /// Replaces the running scenario with this TOML text.
    fn load_scenario(&self, toml_text: &str) -> Result<Value, String>;
    /// Makes events happen: the body of `POST /events` (see [`parse_events`]).
    /// Answers the sequence numbers of the events the machine recorded (`"raised"`).
    fn raise_events(&self, request: EventsRequest) -> Result<Value, AdminError> {
        let _ = request;
        Err(AdminError::NotFound(
            "this admin API raises no events".into(),
        ))
    }
    /// The machine's event log after sequence number `after` (0: all it keeps):
    /// `{"last_seq", "dropped", "events": [`[`event_json`]`, ...]}`.
    fn events(&self, after: u64) -> Value {
        let _ = after;
        json!({ "last_seq": 0, "dropped": 0, "events": [] })
    }
}

/// What `POST /events` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum EventsRequest {
    /// Raise these indications, in order (one object or a list of them).
    Raise(Vec<crate::schedule::Raise>),
    /// Add this SEL entry (as `POST /sel` takes it).
    Sel(Value),
    /// Take this power action (as `POST /power` takes it).
    Power(String),
}

/// Most indications one `POST /events` may raise (the machine's event log keeps
/// [`machine::events::DEFAULT_CAPACITY`]).
pub const MAX_EVENTS_PER_POST: usize = 256;

/// Reads the body of `POST /events`: `{"class": "CIM_AlertIndication", "properties":
/// {"Message": "...", "PerceivedSeverity": 6}}`, a non-empty list of such objects,
/// `{"sel": <entry as POST /sel takes it>}` or `{"power": "off"}`. An error says
/// which item and what is wrong.
pub fn parse_events(body: &Value) -> Result<EventsRequest, String> {
    use crate::schedule::Raise;
    const SHAPES: &str = "send {\"class\": \"CIM_AlertIndication\", \"properties\": {...}}, \
                          a list of them, {\"sel\": {...}} or {\"power\": \"off\"}";
    match body {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(format!("an empty list raises nothing: {SHAPES}"));
            }
            if items.len() > MAX_EVENTS_PER_POST {
                return Err(format!(
                    "{} events in one request; at most {MAX_EVENTS_PER_POST}",
                    items.len()
                ));
            }
            let raises = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    if item.get("sel").is_some() || item.get("power").is_some() {
                        return Err(format!(
                            "[{i}]: {{\"sel\": ...}} and {{\"power\": ...}} are sent alone, \
                             not in a list"
                        ));
                    }
                    Raise::from_json(item).map_err(|e| format!("[{i}]: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(EventsRequest::Raise(raises))
        }
        Value::Object(map) if map.contains_key("sel") || map.contains_key("power") => {
            if map.len() != 1 {
                return Err(format!(
                    "{{\"sel\": ...}} and {{\"power\": ...}} take no other key: {SHAPES}"
                ));
            }
            match (map.get("sel"), map.get("power")) {
                (Some(entry @ Value::Object(_)), _) => Ok(EventsRequest::Sel(entry.clone())),
                (Some(_), _) => Err("\"sel\" is a SEL entry object, as POST /sel takes".into()),
                (_, Some(Value::String(action))) => Ok(EventsRequest::Power(action.clone())),
                _ => Err("\"power\" is an action: on, off, cycle, reset, soft or diag".into()),
            }
        }
        Value::Object(_) => Ok(EventsRequest::Raise(vec![Raise::from_json(body)?])),
        _ => Err(SHAPES.to_owned()),
    }
}

/// One machine event as JSON: `seq`, `at` (ms on the mock's clock), `unix` (the SEL
/// clock), `kind` (`threshold`, `power`, `sel_record` or `indication`) and its fields.
pub fn event_json(event: &machine::events::Event) -> Value {
    use machine::events::EventKind;
    let mut v = json!({ "seq": event.seq, "at": event.at, "unix": event.unix });
    let fields = match &event.kind {
        EventKind::Threshold {
            sensor,
            threshold,
            asserted,
            reading,
            limit,
        } => json!({
            "kind": "threshold",
            "sensor": sensor,
            "threshold": threshold.field(),
            "asserted": asserted,
            "reading": reading,
            "limit": limit,
        }),
        EventKind::Power { action } => json!({ "kind": "power", "action": power_name(*action) }),
        EventKind::SelRecord { record_id } => {
            json!({ "kind": "sel_record", "record_id": record_id })
        }
        EventKind::Custom { class, properties } => {
            let props: serde_json::Map<String, Value> = properties
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({ "kind": "indication", "class": class, "properties": props })
        }
    };
    if let (Some(v), Value::Object(f)) = (v.as_object_mut(), fields) {
        v.extend(f);
    }
    v
}

/// The admin API's name of a power action (what `POST /power` takes).
pub fn power_name(action: machine::PowerAction) -> &'static str {
    use machine::PowerAction as P;
    match action {
        P::On => "on",
        P::Off => "off",
        P::Cycle => "cycle",
        P::HardReset => "reset",
        P::SoftOff => "soft",
        P::DiagnosticInterrupt => "diag",
    }
}

/// Answers one admin request.
pub(crate) async fn serve(
    ops: &dyn AdminOps,
    journal: &Journal,
    port: u16,
    loopback: bool,
    req: http::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let checked = check_origin(&parts.headers, port).and_then(|()| {
        if loopback {
            check_host(&parts.headers)
        } else {
            Ok(())
        }
    });
    if let Err(message) = checked {
        let mut resp = error(StatusCode::FORBIDDEN, &message);
        // The body (if any) is left unread: the connection cannot be reused.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return resp;
    }
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let route = match route(path) {
        Some(r) => r,
        None => return error(StatusCode::NOT_FOUND, &format!("no route {path}")),
    };
    let allowed = route.methods();
    if !allowed.contains(&parts.method) {
        let mut resp = error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} does not take {}", path, parts.method),
        );
        let allow = allowed
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(v) = HeaderValue::from_str(&allow) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        return resp;
    }
    let body = match Limited::new(body, MAX_ADMIN_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let mut resp = error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("body larger than {MAX_ADMIN_BODY} bytes"),
            );
            // The rest of the body is unread: the connection cannot be reused.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("reading body: {e}")),
    };
    let media = media_type(&parts.headers);
    let wants_json = match (&route, &parts.method) {
        // No body at all (`curl -X POST .../sel`): the default event, no type needed.
        (Route::Sel, _) => !body.is_empty() || media.is_some(),
        (Route::Sensor(_) | Route::Power, _) | (Route::Events, &Method::POST) => true,
        (Route::Journal, &Method::DELETE) => !body.is_empty(),
        _ => false,
    };
    if wants_json && media.as_deref() != Some("application/json") {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "{} {path} takes Content-Type: application/json, not {}",
                parts.method,
                media.as_deref().unwrap_or("none")
            ),
        );
    }
    let created = route == Route::Events && parts.method == Method::POST;
    let result: Result<Value, AdminError> = match (route, &parts.method) {
        (Route::Events, &Method::POST) => parse_json(&body)
            .and_then(|v| parse_events(&v).map_err(|e| format!("POST /events: {e}")))
            .map_err(AdminError::from)
            .and_then(|request| ops.raise_events(request)),
        (Route::Events, _) => query_number(query, "after")
            .map(|after| ops.events(after.unwrap_or(0)))
            .map_err(AdminError::from),
        (Route::Health, _) => Ok(ops.health()),
        (Route::State, _) => Ok(ops.state()),
        (Route::Journal, &Method::DELETE) => Ok(json!({ "cleared": journal.clear() })),
        (Route::Journal, _) => journal_since(journal, query).map_err(AdminError::from),
        (Route::Sensor(id), _) => match parse_json(&body) {
            Err(e) => Err(e.into()),
            Ok(v) => match v.get("value") {
                Some(Value::Null) => ops.set_sensor(&id, None),
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(x) => ops.set_sensor(&id, Some(x)),
                    None => Err(AdminError::from("value is not a finite number".to_owned())),
                },
                _ => Err(AdminError::from(
                    r#"expected {"value": <number or null>}"#.to_owned(),
                )),
            },
        },
        (Route::Power, _) => parse_json(&body)
            .and_then(|v| match v.get("action").and_then(Value::as_str) {
                Some(action) => ops.power(action),
                None => Err(r#"expected {"action": "<on|off|cycle|reset|...>"}"#.into()),
            })
            .map_err(AdminError::from),
        (Route::Sel, _) if body.is_empty() => {
            let event = default_sel_event();
            ops.add_sel(event.clone())
                .map(|mut answer| {
                    answer["entry"] = event;
                    answer
                })
                .map_err(AdminError::from)
        }
        (Route::Sel, _) => parse_json(&body)
            .and_then(|v| ops.add_sel(v))
            .map_err(AdminError::from),
        (Route::Scenario, _) => {
            if !matches!(
                media.as_deref(),
                None | Some(
                    "application/toml"
                        | "text/x-toml"
                        | "text/plain"
                        | "application/x-www-form-urlencoded"
                )
            ) {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send the scenario as application/toml (or text/plain)",
                );
            }
            match std::str::from_utf8(&body) {
                Ok(text) => ops.load_scenario(text).map_err(AdminError::from),
                Err(_) => Err(AdminError::from(
                    "the scenario is not UTF-8 text".to_owned(),
                )),
            }
        }
    };
    match result {
        Ok(value) if created => json_response(StatusCode::CREATED, &value),
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(AdminError::BadRequest(message)) => error(StatusCode::BAD_REQUEST, &message),
        Err(AdminError::NotFound(message)) => error(StatusCode::NOT_FOUND, &message),
    }
}

/// The admin routes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Health,
    State,
    Journal,
    Sensor(String),
    Power,
    Sel,
    Scenario,
    Events,
}

impl Route {
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Health | Route::State => &[Method::GET],
            Route::Journal => &[Method::GET, Method::DELETE],
            Route::Events => &[Method::GET, Method::POST],
            Route::Sensor(_) | Route::Power | Route::Sel | Route::Scenario => &[Method::POST],
        }
    }
}

fn route(path: &str) -> Option<Route> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    Some(match path {
        "/health" => Route::Health,
        "/state" => Route::State,
        "/journal" => Route::Journal,
        "/power" => Route::Power,
        "/sel" => Route::Sel,
        "/scenario" => Route::Scenario,
        "/events" => Route::Events,
        _ => {
            let id = path.strip_prefix("/sensors/")?;
            if id.is_empty() || id.contains('/') {
                return None;
            }
            Route::Sensor(percent_decode(id)?)
        }
    })
}

/// On a loopback listener, refuses a request whose `Host` is not a loopback name: a
/// page whose host name was re-pointed at 127.0.0.1 (DNS rebinding) sends its own name
/// and no `Origin` on same-origin GETs, and must not read the journal or the state.
pub(crate) fn check_host(headers: &http::HeaderMap) -> Result<(), String> {
    let Some(host) = headers.get(header::HOST) else {
        return Ok(()); // HTTP/1.0 clients may send none; no browser does.
    };
    let text = host.to_str().unwrap_or("").trim().to_ascii_lowercase();
    let name = match text.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => text.rsplit_once(':').map_or(text.as_str(), |(h, _)| h),
    };
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "request refused: Host {text:?} is not a loopback name (this admin API answers \
             only 127.0.0.1, localhost or [::1]: a re-pointed host name is DNS rebinding)"
        ))
    }
}

/// Refuses a request whose `Origin` is not one of the admin listener's own loopback
/// origins (see the module documentation).
pub(crate) fn check_origin(headers: &http::HeaderMap, port: u16) -> Result<(), String> {
    let mut origins = headers.get_all(header::ORIGIN).iter();
    let Some(origin) = origins.next() else {
        return Ok(());
    };
    let refused = |shown: &str| {
        format!(
            "cross-origin request refused: Origin {shown} is not this admin API \
             (http://127.0.0.1:{port})"
        )
    };
    if origins.next().is_some() {
        return Err(refused("(more than one)"));
    }
    let Ok(text) = origin.to_str() else {
        return Err(refused("(not text)"));
    };
    if is_own_origin(text, port) {
        Ok(())
    } else {
        Err(refused(text))
    }
}

/// Whether `origin` is `http://` + a loopback name + this port (the default port 80
/// may be left out, as browsers do).
fn is_own_origin(origin: &str, port: u16) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|host| {
        origin == format!("http://{host}:{port}")
            || (port == 80 && origin == format!("http://{host}"))
    })
}

/// The media type of the request body (lowercase, parameters dropped), if it says one.
fn media_type(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let Ok(text) = value.to_str() else {
        // Not text: a type that matches nothing.
        return Some("(not text)".into());
    };
    let media = text.split(';').next().unwrap_or("").trim();
    Some(media.to_ascii_lowercase()).filter(|m| !m.is_empty())
}

/// The query parameter `key` as a sequence number, if given.
fn query_number(query: &str, key: &str) -> Result<Option<u64>, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| {
            v.parse::<u64>()
                .map_err(|_| format!("{key}={v} is not a sequence number"))
        })
        .transpose()
}

fn journal_since(journal: &Journal, query: &str) -> Result<Value, String> {
    let since = query_number(query, "since")?;
    let entries = match since {
        Some(seq) => journal.since(seq),
        None => journal.entries(),
    };
    serde_json::to_value(entries).map_err(|e| e.to_string())
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn json_response(status: StatusCode, value: &Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({ "error": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/health"), Some(Route::Health));
        assert_eq!(route("/journal/"), Some(Route::Journal));
        assert_eq!(
            route("/sensors/CPU%20Temp"),
            Some(Route::Sensor("CPU Temp".into()))
        );
        assert_eq!(route("/sensors/"), None);
        assert_eq!(route("/sensors/a/b"), None);
        assert_eq!(route("/sensors/%zz"), None);
        assert_eq!(route("/nope"), None);
    }

    #[test]
    fn loopback_hosts_only() {
        let with = |h: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            check_host(&m)
        };
        for ok in [
            "127.0.0.1:5990",
            "localhost:5990",
            "LOCALHOST",
            "[::1]:5990",
            "127.1.2.3",
        ] {
            assert!(with(ok).is_ok(), "{ok}");
        }
        for bad in [
            "evil.example:5990",
            "evil.example",
            "10.0.0.1:5990",
            "[fe80::1]:80",
            "",
        ] {
            let e = with(bad).expect_err(bad);
            assert!(e.contains("DNS rebinding"), "{e}");
        }
        assert!(
            check_host(&http::HeaderMap::new()).is_ok(),
            "no Host header"
        );
    }

    #[test]
    fn own_origins() {
        for own in [
            "http://127.0.0.1:5990",
            "http://localhost:5990",
            "HTTP://LocalHost:5990",
            "http://[::1]:5990",
        ] {
            assert!(is_own_origin(own, 5990), "{own}");
        }
        for foreign in [
            "http://evil.example",
            "null",
            "",
            "http://127.0.0.1",
            "http://127.0.0.1:5991",
            "http://127.0.0.1:05990",
            "http://127.0.0.1:5990/",
            "https://127.0.0.1:5990",
            "http://127.0.0.2:5990",
            "http://localhost.evil.example:5990",
            "http://user@localhost:5990",
        ] {
            assert!(!is_own_origin(foreign, 5990), "{foreign}");
        }
        assert!(is_own_origin("http://localhost", 80));
        assert!(is_own_origin("http://localhost:80", 80));
    }
}

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
//! | `POST /sensors/{id}` | `{"value": 41.5}` or `{"value": null}` | [`AdminOps::set_sensor`] |
//! | `POST /power` | `{"action": "off"}` | [`AdminOps::power`] |
//! | `POST /sel` | entry JSON | [`AdminOps::add_sel`] |
//! | `POST /scenario` | TOML text (`text/plain` or `application/toml`) | [`AdminOps::load_scenario`] |
//!
//! Errors are `{"error": "..."}`: 400 for a refused request, 404 for an unknown route,
//! 405 (with `Allow`) for a wrong method, 413 past 1 MiB of body, 415 for a scenario
//! that is not text.

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::journal::Journal;

/// Largest admin request body.
pub const MAX_ADMIN_BODY: usize = 1024 * 1024;

/// What the admin API can do to the simulated machine (implemented by the service
/// layer). Errors are messages for the client (answered with 400).
pub trait AdminOps: Send + Sync + 'static {
    /// Liveness and version information.
    fn health(&self) -> Value;
    /// A summary of the machine state.
    fn state(&self) -> Value;
    /// Overrides a sensor reading (`None` clears the override).
    fn set_sensor(&self, id: &str, value: Option<f64>) -> Result<Value, String>;
    /// A power action (`on`, `off`, `cycle`, `reset`, ...).
    fn power(&self, action: &str) -> Result<Value, String>;
    /// Appends a System Event Log entry.
    fn add_sel(&self, entry: Value) -> Result<Value, String>;
    /// Replaces the running scenario with this TOML text.
    fn load_scenario(&self, toml_text: &str) -> Result<Value, String>;
}

/// Answers one admin request.
pub(crate) async fn serve(
    ops: &dyn AdminOps,
    journal: &Journal,
    req: http::Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
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
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let result = match (route, &parts.method) {
        (Route::Health, _) => Ok(ops.health()),
        (Route::State, _) => Ok(ops.state()),
        (Route::Journal, &Method::DELETE) => Ok(json!({ "cleared": journal.clear() })),
        (Route::Journal, _) => journal_since(journal, query),
        (Route::Sensor(id), _) => parse_json(&body).and_then(|v| match v.get("value") {
            Some(Value::Null) => ops.set_sensor(&id, None),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) => ops.set_sensor(&id, Some(x)),
                None => Err("value is not a finite number".into()),
            },
            _ => Err(r#"expected {"value": <number or null>}"#.into()),
        }),
        (Route::Power, _) => {
            parse_json(&body).and_then(|v| match v.get("action").and_then(Value::as_str) {
                Some(action) => ops.power(action),
                None => Err(r#"expected {"action": "<on|off|cycle|reset|...>"}"#.into()),
            })
        }
        (Route::Sel, _) => parse_json(&body).and_then(|v| ops.add_sel(v)),
        (Route::Scenario, _) => {
            let media = content_type
                .map(|c| {
                    c.split(';')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            if !matches!(
                media.as_str(),
                "" | "text/plain" | "application/toml" | "text/x-toml"
            ) {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send the scenario as text/plain or application/toml",
                );
            }
            match std::str::from_utf8(&body) {
                Ok(text) => ops.load_scenario(text),
                Err(_) => Err("the scenario is not UTF-8 text".into()),
            }
        }
    };
    match result {
        Ok(value) => json_response(StatusCode::OK, &value),
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
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
}

impl Route {
    fn methods(&self) -> &'static [Method] {
        match self {
            Route::Health | Route::State => &[Method::GET],
            Route::Journal => &[Method::GET, Method::DELETE],
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
        _ => {
            let id = path.strip_prefix("/sensors/")?;
            if id.is_empty() || id.contains('/') {
                return None;
            }
            Route::Sensor(percent_decode(id)?)
        }
    })
}

fn journal_since(journal: &Journal, query: &str) -> Result<Value, String> {
    let since = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "since")
        .map(|(_, v)| {
            v.parse::<u64>()
                .map_err(|_| format!("since={v} is not a sequence number"))
        })
        .transpose()?;
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
}

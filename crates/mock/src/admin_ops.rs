//! The admin API's operations on the mock (health, state, sensors, power, SEL,
//! scenario upload, events); `admin.rs` is the HTTP side that calls them.

use crate::mock::Mock;
use crate::scenario::Scenario;

/// The admin API's view of the mock.
impl crate::admin::AdminOps for Mock {
    fn health(&self) -> serde_json::Value {
        let inner = self.lock();
        serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "scenario": inner.scenario.meta.name,
            "source": inner.scenario.source,
            "uptime_ms": self.now_ms(),
            "open_enumerations": inner.enumerations.len(),
            "journal_entries": self.shared.journal.len(),
        })
    }

    fn state(&self) -> serde_json::Value {
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let ids: Vec<String> = m
            .numeric_sensors()
            .iter()
            .map(|s| s.id().to_owned())
            .collect();
        let sensors: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| {
                let value = m.reading(id, now);
                let s = m.numeric_sensor(id);
                serde_json::json!({
                    "id": id,
                    "name": s.map(|s| s.name().to_owned()),
                    "value": value,
                    "override": s.and_then(|s| s.override_value()),
                })
            })
            .collect();
        let discrete: Vec<serde_json::Value> = m
            .discrete_sensors()
            .iter()
            .map(|d| serde_json::json!({ "id": d.id(), "name": d.name(), "state": d.state() }))
            .collect();
        let info = m.sel_info();
        let power = format!("{:?}", m.power_state(now));
        let bmc = &inner.ipmi.bmc;
        let ipmi_sessions: Vec<serde_json::Value> = bmc
            .sessions()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "handle": s.handle,
                    "active": s.active,
                    "user": s.user,
                    "privilege": s.privilege.name(),
                    "cipher_suite": s.suite,
                    "ipmi15_auth": s.auth_type.map(|a| format!("{a:?}")),
                    "sol_active": s.sol_active,
                    "peer": s.peer.map(|p| p.to_string()),
                    "idle_ms": now.saturating_sub(s.last_activity_ms),
                })
            })
            .collect();
        let config = bmc.config();
        serde_json::json!({
            "power": power,
            "sensors": sensors,
            "discrete_sensors": discrete,
            "sel": { "entries": info.count, "capacity": info.capacity, "overflow": info.overflow },
            "rules_state": inner.rules.state,
            "ipmi": {
                "port": inner.ipmi_port,
                "cipher_suites": config.cipher_suites,
                "session_limit": config.session_limit,
                "sessions": ipmi_sessions,
            },
        })
    }

    fn set_sensor(
        &self,
        id: &str,
        value: Option<f64>,
    ) -> Result<serde_json::Value, crate::admin::AdminError> {
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let Some(resolution) = m.numeric_sensor(id).map(|s| s.resolution()) else {
            return Err(crate::admin::AdminError::NotFound(format!(
                "no numeric sensor has the id \"{id}\" (GET /state lists them)"
            )));
        };
        match value {
            Some(v) => m.set_sensor(id, v, now).map_err(|e| e.to_string())?,
            None => m.clear_override(id, now).map_err(|e| e.to_string())?,
        }
        Ok(crate::admin::sensor_answer(
            id,
            value,
            m.reading(id, now),
            resolution,
        ))
    }

    fn power(&self, action: &str) -> Result<serde_json::Value, String> {
        let a = power_action(action)?;
        let now = self.now_ms();
        let mut inner = self.lock();
        inner
            .machine
            .chassis_control(a, now)
            .map_err(|e| e.to_string())?;
        Ok(serde_json::json!({ "power": format!("{:?}", inner.machine.power_state(now)) }))
    }

    fn add_sel(&self, entry: serde_json::Value) -> Result<serde_json::Value, String> {
        let e = new_sel_entry(entry)?;
        let now = self.now_ms();
        let mut inner = self.lock();
        let id = sel_add(&mut inner.machine, e, now)?;
        Ok(serde_json::json!({ "record_id": id }))
    }

    fn raise_events(
        &self,
        request: crate::admin::EventsRequest,
    ) -> Result<serde_json::Value, crate::admin::AdminError> {
        use crate::admin::EventsRequest as R;
        // Checked before the lock, so that a bad request changes nothing.
        let sel = match &request {
            R::Sel(entry) => Some(new_sel_entry(entry.clone())?),
            _ => None,
        };
        let power = match &request {
            R::Power(action) => Some(power_action(action)?),
            _ => None,
        };
        let now = self.now_ms();
        let mut inner = self.lock();
        let m = &mut inner.machine;
        let before = m.events().last_seq();
        let mut answer = serde_json::json!({});
        match request {
            R::Raise(raises) => {
                for r in &raises {
                    crate::schedule::raise(m, r, now);
                }
            }
            R::Sel(_) => {
                let e = sel.ok_or_else(|| "no SEL entry".to_owned())?;
                answer["record_id"] = sel_add(m, e, now)?.into();
            }
            R::Power(_) => {
                let a = power.ok_or_else(|| "no power action".to_owned())?;
                m.chassis_control(a, now).map_err(|e| e.to_string())?;
                answer["power"] = format!("{:?}", m.power_state(now)).into();
            }
        }
        let last = m.events().last_seq();
        answer["raised"] = ((before + 1)..=last).collect::<Vec<u64>>().into();
        answer["last_seq"] = last.into();
        Ok(answer)
    }

    fn events(&self, after: u64) -> serde_json::Value {
        let inner = self.lock();
        let log = inner.machine.events();
        let (dropped, events) = log.since(after);
        let events: Vec<serde_json::Value> = events.map(crate::admin::event_json).collect();
        serde_json::json!({
            "last_seq": log.last_seq(),
            "dropped": dropped,
            "capacity": log.capacity(),
            "events": events,
        })
    }

    fn load_scenario(&self, toml_text: &str) -> Result<serde_json::Value, String> {
        let s = Scenario::from_toml(toml_text, "<admin upload>").map_err(|e| e.to_string())?;
        let name = s.meta.name.clone();
        self.load(s)?;
        Ok(serde_json::json!({ "loaded": name }))
    }
}

/// A power action by the admin API's name (see [`crate::admin::power_name`]).
fn power_action(action: &str) -> Result<machine::PowerAction, String> {
    use machine::PowerAction as P;
    Ok(match action.to_ascii_lowercase().as_str() {
        "on" => P::On,
        "off" => P::Off,
        "cycle" => P::Cycle,
        "reset" | "hard_reset" => P::HardReset,
        "soft" | "soft_off" => P::SoftOff,
        "diag" | "nmi" | "diagnostic_interrupt" => P::DiagnosticInterrupt,
        other => {
            return Err(format!(
                "unknown power action `{other}` (on, off, cycle, reset, soft, diag)"
            ));
        }
    })
}

/// A SEL entry as the admin API takes it.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEntry {
    sensor: Option<String>,
    sensor_type: Option<u8>,
    sensor_number: Option<u8>,
    #[serde(default)]
    direction: machine::EventDirection,
    #[serde(default = "sensor_specific")]
    event_type: u8,
    #[serde(default)]
    data: Vec<u8>,
    #[serde(default)]
    description: String,
}

fn sensor_specific() -> u8 {
    0x6F
}

fn new_sel_entry(entry: serde_json::Value) -> Result<NewEntry, String> {
    serde_json::from_value(entry).map_err(|e| format!("SEL entry: {e}"))
}

/// Adds `e` to the machine's SEL (a sensor named by id gives its type and number).
fn sel_add(m: &mut machine::Machine, e: NewEntry, now: u64) -> Result<u16, String> {
    let (mut st, mut sn) = (e.sensor_type.unwrap_or(0x12), e.sensor_number.unwrap_or(0));
    if let Some(id) = &e.sensor {
        if let Some(s) = m.numeric_sensor(id) {
            st = e.sensor_type.unwrap_or(s.sensor_type().ipmi_code());
            sn = s.number();
        } else if let Some(d) = m.discrete_sensor(id) {
            st = e.sensor_type.unwrap_or(d.sensor_type().ipmi_code());
            sn = d.number();
        } else {
            return Err(format!("no sensor `{id}`"));
        }
    }
    let mut data = [0xFF; 3];
    for (i, b) in e.data.iter().take(3).enumerate() {
        data[i] = *b;
    }
    let entry = machine::SelEntry::system_event(
        st,
        sn,
        e.direction,
        e.event_type & 0x7F,
        data,
        e.description,
    );
    m.sel_add(entry, now).map_err(|e| e.to_string())
}

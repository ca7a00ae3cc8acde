//! The fleet inventory: one line per machine with its id, scenario, host name,
//! addresses, credentials and chaos, as JSON (`{"format": "touchstone-fleet/1", ...}`)
//! or CSV, for the user's own tools and for `touchstone check --targets`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Shared;

/// The format tag of the JSON inventory.
pub const FORMAT: &str = "touchstone-fleet/1";

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 12] = [
    "id",
    "index",
    "scenario",
    "hostname",
    "wsman_url",
    "https_url",
    "ipmi",
    "user",
    "password",
    "ipmi_user",
    "ipmi_password",
    "chaos",
];

/// The whole inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// [`FORMAT`].
    pub format: String,
    /// The fleet's seed.
    pub seed: u64,
    /// The machines, by index.
    pub machines: Vec<Entry>,
}

/// One machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `m00007`.
    pub id: String,
    /// Its index.
    pub index: usize,
    /// The scenario it runs (the mix entry's name).
    pub scenario: String,
    /// Its host name.
    pub hostname: String,
    /// WS-Man over HTTP, if served.
    pub wsman_url: Option<String>,
    /// WS-Man over HTTPS, if served.
    pub https_url: Option<String>,
    /// IPMI over LAN, `IP:PORT`, if served.
    pub ipmi: Option<String>,
    /// The WS-Man account.
    pub user: Option<String>,
    /// Its password (as the scenario has it: a `wrong-credentials` machine refuses it).
    pub password: Option<String>,
    /// The IPMI account.
    pub ipmi_user: Option<String>,
    /// Its password.
    pub ipmi_password: Option<String>,
    /// Its breakage, if any.
    pub chaos: Option<String>,
}

type Bound = (Option<SocketAddr>, Option<SocketAddr>, Option<SocketAddr>);

impl Inventory {
    pub(crate) fn of(shared: &Shared, bound: &[Bound]) -> Inventory {
        let machines = shared
            .members
            .iter()
            .zip(bound)
            .map(|(m, (http, https, ipmi))| {
                let base = &shared.variants[m.scenario][0];
                // The first enabled administrator-level account: what the base scenario
                // documents for its clients.
                let user = base
                    .machine
                    .users
                    .iter()
                    .filter(|u| u.enabled)
                    .max_by_key(|u| (u.privilege, std::cmp::Reverse(u.id)));
                Entry {
                    id: m.id.clone(),
                    index: m.index,
                    scenario: shared.scenario_names[m.scenario].clone(),
                    hostname: m.identity.hostname.clone(),
                    wsman_url: http.map(|a| format!("http://{a}/wsman")),
                    https_url: https.map(|a| format!("https://{a}/wsman")),
                    ipmi: ipmi.map(|a| a.to_string()),
                    user: user.map(|u| u.name.clone()),
                    password: user.map(|u| u.password.clone()),
                    ipmi_user: ipmi.and(user).map(|u| u.name.clone()),
                    ipmi_password: ipmi.and(user).map(|u| u.password.clone()),
                    chaos: m.chaos.map(|c| c.name().to_owned()),
                }
            })
            .collect();
        Inventory {
            format: FORMAT.into(),
            seed: shared.spec.seed,
            machines,
        }
    }

    /// As pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// As CSV (RFC 4180), header first.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_COLUMNS.join(",");
        out.push_str("\r\n");
        for e in &self.machines {
            let index = e.index.to_string();
            let cells: [Option<&str>; 12] = [
                Some(&e.id),
                Some(&index),
                Some(&e.scenario),
                Some(&e.hostname),
                e.wsman_url.as_deref(),
                e.https_url.as_deref(),
                e.ipmi.as_deref(),
                e.user.as_deref(),
                e.password.as_deref(),
                e.ipmi_user.as_deref(),
                e.ipmi_password.as_deref(),
                e.chaos.as_deref(),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c.unwrap_or(""))).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// Writes the inventory to `path`: CSV when it ends in `.csv`, JSON otherwise.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let csv = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        std::fs::write(path, if csv { self.to_csv() } else { self.to_json() })
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

//! A fleet inventory: the machines `touchstone check --targets FILE` checks.
//!
//! Two spellings of the same list (the fleet contract, `touchstone-fleet/1`): a JSON
//! document `{"format", "seed", "machines": [...]}` as `touchstone serve --fleet`
//! writes it, or a CSV file with a header row (RFC 4180 quoting). A user's own CSV may
//! carry only some columns, in any order, with header names in any case: at least one
//! of `wsman_url` or `ipmi` per row; `id` defaults to `row<N>` (the 1-based data row);
//! credentials left empty fall back to those of the command line. Unknown keys and
//! columns are ignored (forward compatibility); a bad row is an error naming the file
//! and the line it starts on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The inventory format this reader understands (`format` of the JSON document).
pub const FORMAT: &str = "touchstone-fleet/1";

/// The CSV columns of the fleet contract, in the order `serve --fleet` writes them.
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

/// One machine to check. Every field but `id` may be absent (`None`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct Machine {
    /// Stable identifier; also the name of its report files, so it is restricted to
    /// letters, digits, `.`, `_` and `-` (not starting with `.`).
    #[serde(default)]
    pub id: String,
    /// Position in the fleet that generated it.
    #[serde(default)]
    pub index: Option<u64>,
    /// The mock scenario behind it (informational).
    #[serde(default)]
    pub scenario: Option<String>,
    /// Host name (informational).
    #[serde(default)]
    pub hostname: Option<String>,
    /// The WS-Man endpoint over HTTP.
    #[serde(default)]
    pub wsman_url: Option<String>,
    /// The WS-Man endpoint over HTTPS.
    #[serde(default)]
    pub https_url: Option<String>,
    /// The IPMI-over-LAN address (`HOST[:PORT]`).
    #[serde(default)]
    pub ipmi: Option<String>,
    /// WS-Man user.
    #[serde(default)]
    pub user: Option<String>,
    /// WS-Man password.
    #[serde(default)]
    pub password: Option<String>,
    /// IPMI administrator user.
    #[serde(default)]
    pub ipmi_user: Option<String>,
    /// IPMI administrator password.
    #[serde(default)]
    pub ipmi_password: Option<String>,
    /// The deliberate defect of a chaos machine (`unreachable`, `slow`,
    /// `wrong-credentials`, `flapping-power`, `failing-sensors`), shown beside its
    /// verdict so a reader can tell a planted failure from a real one.
    #[serde(default)]
    pub chaos: Option<String>,
    /// Where it is in its file (the line its row or the document starts on).
    #[serde(skip)]
    pub line: usize,
}

impl Machine {
    /// The WS-Man URL to check: HTTP when given, else HTTPS.
    pub fn wsman(&self) -> Option<&str> {
        self.wsman_url.as_deref().or(self.https_url.as_deref())
    }
}

/// The machines of one inventory file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    /// The seed the fleet was generated with, when the file says.
    pub seed: Option<u64>,
    /// The machines.
    pub machines: Vec<Machine>,
}

/// Why an inventory could not be read. Every variant names the file; those about a
/// row name its line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Something at a line of the file is wrong (JSON syntax, a CSV row, a value).
    #[error("{}:{line}: {message}", path.display())]
    At {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A machine of a JSON inventory is wrong (serde gives no line per element).
    #[error("{}: machines[{index}]{}: {message}", path.display(), id.as_ref().map(|i| format!(" (id {i})")).unwrap_or_default())]
    Machine {
        /// The file.
        path: PathBuf,
        /// Its 0-based position in `machines`.
        index: usize,
        /// Its id, when it has one.
        id: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The file has no machine at all.
    #[error("{}: no machine in the inventory", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

impl Inventory {
    /// Reads `path`: JSON when its name ends `.json` or its first non-blank character
    /// is `{`, else CSV.
    pub fn load(path: &Path) -> Result<Inventory, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
            || text
                .trim_start_matches('\u{feff}')
                .trim_start()
                .starts_with('{');
        if json {
            Inventory::from_json(&text, path)
        } else {
            Inventory::from_csv(&text, path)
        }
    }

    /// Reads a JSON inventory; `path` is only for messages.
    pub fn from_json(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        #[derive(Deserialize)]
        struct Doc {
            #[serde(default)]
            format: Option<String>,
            #[serde(default)]
            seed: Option<u64>,
            machines: Vec<Machine>,
        }
        let doc: Doc = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
            InventoryError::At {
                path: path.to_owned(),
                line: e.line(),
                message: format!("not a fleet inventory: {e}"),
            }
        })?;
        if let Some(f) = doc.format.as_deref().filter(|f| *f != FORMAT) {
            return Err(InventoryError::At {
                path: path.to_owned(),
                line: 1,
                message: format!("format `{f}` is not supported (expected `{FORMAT}`)"),
            });
        }
        let mut machines = doc.machines;
        for (i, m) in machines.iter_mut().enumerate() {
            m.line = 1;
            if m.id.is_empty() {
                m.id = format!("row{}", i + 1);
            }
            check_machine(m).map_err(|message| InventoryError::Machine {
                path: path.to_owned(),
                index: i,
                id: Some(m.id.clone()),
                message,
            })?;
        }
        let inv = Inventory {
            seed: doc.seed,
            machines,
        };
        inv.check_unique(path)?;
        Ok(inv)
    }

    /// Reads a CSV inventory (header row first); `path` is only for messages.
    pub fn from_csv(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
        let at = |line: usize, message: String| InventoryError::At {
            path: path.to_owned(),
            line,
            message,
        };
        let records =
            csv_records(text.trim_start_matches('\u{feff}')).map_err(|(l, m)| at(l, m))?;
        let mut records = records.into_iter();
        let Some((hline, header)) = records.next() else {
            return Err(InventoryError::Empty {
                path: path.to_owned(),
            });
        };
        // Column name -> position; unknown columns are ignored.
        let mut columns: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim().to_ascii_lowercase();
            if let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name) {
                if columns.insert(known, i).is_some() {
                    return Err(at(
                        hline,
                        format!("column `{known}` appears twice in the header"),
                    ));
                }
            }
        }
        if !columns.contains_key("wsman_url")
            && !columns.contains_key("https_url")
            && !columns.contains_key("ipmi")
        {
            return Err(at(
                hline,
                format!(
                    "the header names neither `wsman_url`, `https_url` nor `ipmi` (header: {})",
                    header.join(",")
                ),
            ));
        }
        let mut machines = Vec::new();
        for (n, (line, row)) in records.enumerate() {
            if row.len() != header.len() {
                return Err(at(
                    line,
                    format!("{} field(s), the header has {}", row.len(), header.len()),
                ));
            }
            let cell = |name: &str| -> Option<String> {
                let v = row[*columns.get(name)?].trim();
                (!v.is_empty()).then(|| v.to_owned())
            };
            let index = match cell("index") {
                Some(v) => Some(
                    v.parse::<u64>()
                        .map_err(|_| at(line, format!("index `{v}` is not a whole number")))?,
                ),
                None => None,
            };
            let m = Machine {
                id: cell("id").unwrap_or_else(|| format!("row{}", n + 1)),
                index,
                scenario: cell("scenario"),
                hostname: cell("hostname"),
                wsman_url: cell("wsman_url"),
                https_url: cell("https_url"),
                ipmi: cell("ipmi"),
                user: cell("user"),
                password: cell("password"),
                ipmi_user: cell("ipmi_user"),
                ipmi_password: cell("ipmi_password"),
                chaos: cell("chaos"),
                line,
            };
            check_machine(&m).map_err(|msg| at(line, format!("machine `{}`: {msg}", m.id)))?;
            machines.push(m);
        }
        let inv = Inventory {
            seed: None,
            machines,
        };
        inv.check_unique(path)?;
        Ok(inv)
    }

    fn check_unique(&self, path: &Path) -> Result<(), InventoryError> {
        if self.machines.is_empty() {
            return Err(InventoryError::Empty {
                path: path.to_owned(),
            });
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, m) in self.machines.iter().enumerate() {
            if let Some(first) = seen.insert(&m.id, i) {
                let message = format!("id `{}` is used twice", m.id);
                return Err(if m.line > 1 {
                    InventoryError::At {
                        path: path.to_owned(),
                        line: m.line,
                        message: format!("{message} (first on line {})", self.machines[first].line),
                    }
                } else {
                    InventoryError::Machine {
                        path: path.to_owned(),
                        index: i,
                        id: Some(m.id.clone()),
                        message: format!("{message} (first at machines[{first}])"),
                    }
                });
            }
        }
        Ok(())
    }
}

/// What one machine must have: a usable id and something to check.
fn check_machine(m: &Machine) -> Result<(), String> {
    let id_ok = !m.id.starts_with('.')
        && m.id.len() <= 128
        && m.id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !id_ok {
        return Err(format!(
            "id `{}` must be 1-128 letters, digits, `.`, `_` or `-`, not starting with `.` \
             (it names the machine's report files)",
            m.id
        ));
    }
    if m.wsman().is_none() && m.ipmi.is_none() {
        return Err("neither `wsman_url` (or `https_url`) nor `ipmi` is given".into());
    }
    for url in [&m.wsman_url, &m.https_url].into_iter().flatten() {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("`{url}` is not an http:// or https:// URL"));
        }
    }
    Ok(())
}

/// A CSV record: the line it starts on and its fields.
type Record = (usize, Vec<String>);

/// The records of an RFC 4180 text, each with the line it starts on. Fields are
/// separated by commas; a field in double quotes may hold commas, line breaks and
/// doubled quotes; records end with LF or CRLF. Blank lines are skipped.
fn csv_records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('"') if field.is_empty() && !quoted => {
                    quoted = true;
                    // Inside quotes until the closing one.
                    loop {
                        match chars.next() {
                            None => {
                                return Err((start, "a quoted field is not closed".into()));
                            }
                            Some('"') if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            Some('"') => break,
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                field.push(c);
                            }
                        }
                    }
                    match chars.peek() {
                        None | Some(',') | Some('\n') | Some('\r') => {}
                        Some(c) => {
                            return Err((
                                line,
                                format!(
                                    "`{c}` after a closing quote (expected `,` or the line end)"
                                ),
                            ));
                        }
                    }
                }
                Some('"') => {
                    return Err((line, "a quote inside an unquoted field".into()));
                }
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted = false;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        let blank = fields.len() == 1 && fields[0].trim().is_empty() && !quoted;
        if !blank {
            out.push((start, fields));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("fleet.csv")
    }

    #[test]
    fn reads_the_contract_json_and_tolerates_unknown_keys() {
        let text = r#"{
  "format": "touchstone-fleet/1",
  "seed": 1,
  "generated_by": "a future version",
  "machines": [
    {"id": "m00000", "index": 0, "scenario": "default", "hostname": "node-00000",
     "wsman_url": "http://127.1.0.1:5985/wsman", "https_url": null,
     "ipmi": "127.1.0.1:623", "user": "admin", "password": "admin",
     "ipmi_user": "admin", "ipmi_password": "admin", "chaos": null, "rack": 7},
    {"id": "m00001", "ipmi": "127.1.0.2:623", "chaos": "unreachable"}
  ]
}"#;
        let inv = Inventory::from_json(text, Path::new("f.json")).unwrap();
        assert_eq!(inv.seed, Some(1));
        assert_eq!(inv.machines.len(), 2);
        let m = &inv.machines[0];
        assert_eq!(m.wsman(), Some("http://127.1.0.1:5985/wsman"));
        assert_eq!(m.index, Some(0));
        assert_eq!(m.ipmi_password.as_deref(), Some("admin"));
        assert_eq!(inv.machines[1].wsman(), None);
        assert_eq!(inv.machines[1].chaos.as_deref(), Some("unreachable"));
        assert_eq!(inv.machines[1].user, None, "missing optional keys are null");
    }

    #[test]
    fn json_errors_name_the_line_or_the_machine() {
        let e = Inventory::from_json("{\n\"machines\": [\n {\"id\": 3}\n]}", Path::new("f.json"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.json:3: "), "{e}");
        let e = Inventory::from_json(
            r#"{"machines": [{"id": "a", "ipmi": "h"}, {"id": "b"}]}"#,
            Path::new("f.json"),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "f.json: machines[1] (id b): neither `wsman_url` (or `https_url`) nor `ipmi` is given"
        );
        let e = Inventory::from_json(
            r#"{"format": "touchstone-fleet/9", "machines": []}"#,
            Path::new("f.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("touchstone-fleet/9"), "{e}");
        let e = Inventory::from_json(r#"{"machines": []}"#, Path::new("f.json"))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "f.json: no machine in the inventory");
    }

    #[test]
    fn reads_our_csv() {
        let text = "id,index,scenario,hostname,wsman_url,https_url,ipmi,user,password,ipmi_user,ipmi_password,chaos\r\n\
                    m00000,0,default,node-00000,http://127.1.0.1:5985/wsman,,127.1.0.1:623,admin,admin,admin,admin,\r\n\
                    m00001,1,default,node-00001,http://127.1.0.2:5985/wsman,,,admin,\"pa,ss\"\"word\",,,slow\r\n";
        let inv = Inventory::from_csv(text, p()).unwrap();
        assert_eq!(inv.machines.len(), 2);
        let (a, b) = (&inv.machines[0], &inv.machines[1]);
        assert_eq!(a.id, "m00000");
        assert_eq!(a.line, 2);
        assert_eq!(a.https_url, None, "an empty cell is null");
        assert_eq!(a.ipmi.as_deref(), Some("127.1.0.1:623"));
        assert_eq!(b.password.as_deref(), Some("pa,ss\"word"));
        assert_eq!(b.chaos.as_deref(), Some("slow"));
        assert_eq!(b.ipmi, None);
        assert_eq!(b.line, 3);
    }

    #[test]
    fn reads_a_users_partial_csv_in_any_order_and_case() {
        let text = "Owner,WSMAN_URL,User\n\
                    ops,http://10.0.0.1:5985/wsman,root\n\
                    \n\
                    \"multi\nline\",https://10.0.0.2:5986/wsman,\n";
        let inv = Inventory::from_csv(text, p()).unwrap();
        assert_eq!(inv.machines.len(), 2);
        assert_eq!(inv.machines[0].id, "row1");
        assert_eq!(inv.machines[0].user.as_deref(), Some("root"));
        assert_eq!(
            inv.machines[0].password, None,
            "falls back to the command line's"
        );
        assert_eq!(inv.machines[1].id, "row2");
        assert_eq!(inv.machines[1].line, 4);
        assert_eq!(inv.machines[1].wsman(), Some("https://10.0.0.2:5986/wsman"));
    }

    #[test]
    fn bad_rows_are_errors_with_file_and_line() {
        let cases = [
            (
                "id,wsman_url\na,http://h/wsman\nb\n",
                "fleet.csv:3: 1 field(s), the header has 2",
            ),
            (
                "id,wsman_url,ipmi\na,http://h/wsman,\nb,,\n",
                "fleet.csv:3: machine `b`: neither `wsman_url` (or `https_url`) nor `ipmi` is given",
            ),
            (
                "id,ipmi\na,h\na,h2\n",
                "fleet.csv:3: id `a` is used twice (first on line 2)",
            ),
            (
                "id,ipmi,index\na,h,x\n",
                "fleet.csv:2: index `x` is not a whole number",
            ),
            (
                "id,ipmi\n../etc,h\n",
                "fleet.csv:2: machine `../etc`: id `../etc` must be",
            ),
            (
                "id,wsman_url\na,ftp://h\n",
                "fleet.csv:2: machine `a`: `ftp://h` is not",
            ),
            (
                "id,ipmi\na,\"h\n",
                "fleet.csv:2: a quoted field is not closed",
            ),
            (
                "id,ipmi\na,h\"x\n",
                "fleet.csv:2: a quote inside an unquoted field",
            ),
            (
                "id,ipmi\na,\"h\"x\n",
                "fleet.csv:2: `x` after a closing quote",
            ),
            ("id,user\na,b\n", "fleet.csv:1: the header names neither"),
            (
                "id,ipmi,IPMI\na,b,c\n",
                "fleet.csv:1: column `ipmi` appears twice",
            ),
            ("", "fleet.csv: no machine in the inventory"),
            ("id,ipmi\n", "fleet.csv: no machine in the inventory"),
        ];
        for (text, want) in cases {
            let e = Inventory::from_csv(text, p()).unwrap_err().to_string();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn load_picks_the_format_by_name_or_content() {
        let dir = std::env::temp_dir().join(format!("ts-inventory-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let json = dir.join("fleet.txt");
        std::fs::write(&json, r#" {"machines": [{"id": "x", "ipmi": "h"}]}"#).unwrap();
        assert_eq!(Inventory::load(&json).unwrap().machines[0].id, "x");
        let csv = dir.join("fleet.csv");
        std::fs::write(&csv, "ipmi\nh\n").unwrap();
        assert_eq!(Inventory::load(&csv).unwrap().machines[0].id, "row1");
        let e = Inventory::load(&dir.join("absent.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent.csv"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}

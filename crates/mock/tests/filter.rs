//! Enumeration filters (`mock::filter`) against a small fixture world: a BMC computer
//! system, three sensors (two numeric, one discrete), a fan and the associations
//! between them. WQL is tested as data (tables of queries with their printed AST,
//! error message or selected instances), then the selector and association filters,
//! the dialect dispatch, and two property tests on the parser.

use std::borrow::Cow;

use machine::cim::{Instance, Property, Reference, Value};
use mock::filter::wql::{CompareOp, Expr, Literal, Projection, Query};
use mock::filter::{
    AssociationError, Case, Compiled, Env, FilterError, Mode, OFFERED, SelectorValueOwned,
    Unprocessable, compile, compile_with,
};
use proptest::prelude::*;
use wsman::addressing::{Epr, Selector, SelectorValue};
use wsman::body::{AssociationFilter, Filter, FilterContent};
use wsman::fault::FaultKind;
use wsman::ns::dialect;

// ---------------------------------------------------------------------------------
// Fixture world

const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";

/// (child, parent) edges of the fixture class hierarchy.
const EDGES: &[(&str, &str)] = &[
    ("CIM_System", "CIM_ManagedElement"),
    ("CIM_ComputerSystem", "CIM_System"),
    ("CIM_LogicalDevice", "CIM_ManagedElement"),
    ("CIM_Sensor", "CIM_LogicalDevice"),
    ("CIM_NumericSensor", "CIM_Sensor"),
    ("CIM_CoolingDevice", "CIM_LogicalDevice"),
    ("CIM_Fan", "CIM_CoolingDevice"),
    ("CIM_SystemComponent", "CIM_Component"),
    ("CIM_SystemDevice", "CIM_SystemComponent"),
    ("ACME_SystemDevice", "CIM_SystemDevice"),
    ("CIM_ConcreteComponent", "CIM_Component"),
    ("CIM_AssociatedSensor", "CIM_Dependency"),
];

/// Strict subclass test over [`EDGES`] (the filters add equality themselves).
fn is_subclass(child: &str, parent: &str) -> bool {
    let mut c = child.to_owned();
    while let Some((_, p)) = EDGES.iter().find(|(ch, _)| ch.eq_ignore_ascii_case(&c)) {
        if p.eq_ignore_ascii_case(parent) {
            return true;
        }
        c = (*p).to_owned();
    }
    false
}

fn prop(name: &str, value: Value) -> Property {
    Property {
        name: name.to_owned().into(),
        value,
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn cs_ref() -> Reference {
    Reference {
        class: "CIM_ComputerSystem".into(),
        keys: vec![
            ("CreationClassName".into(), "CIM_ComputerSystem".into()),
            ("Name".into(), "bmc".into()),
        ],
    }
}

fn device_keys(class: &str, id: &str) -> Vec<(String, String)> {
    vec![
        ("CreationClassName".into(), class.into()),
        ("DeviceID".into(), id.into()),
        ("SystemName".into(), "bmc".into()),
    ]
}

fn with_keys(class: &str, keys: Vec<(String, String)>, mut rest: Vec<Property>) -> Instance {
    let mut properties: Vec<Property> = keys.iter().map(|(k, v)| prop(k, s(v))).collect();
    properties.append(&mut rest);
    Instance {
        class: class.into(),
        keys,
        properties,
    }
}

/// S1: a numeric temperature sensor. Every sensor has the same properties except
/// that the discrete S3 has no CurrentReading.
fn s1() -> Instance {
    with_keys(
        "CIM_NumericSensor",
        device_keys("CIM_NumericSensor", "Sensor 1"),
        vec![
            prop("ElementName", s("CPU Temp")),
            prop("CurrentReading", Value::Int(42)),
            prop("Caption", Value::Null),
            prop("Tags", Value::Array(vec![s("cpu"), s("thermal")])),
            prop("Scale", Value::Real(0.5)),
            prop("LastChange", Value::DateTime("2026-11-24T08:00:00Z".into())),
            prop("Enabled", Value::Bool(true)),
            prop("Version", s("5.0")),
            prop("Threshold", Value::UInt(40)),
            prop("Owner", Value::Ref(cs_ref())),
        ],
    )
}

/// S2: a numeric fan speed sensor.
fn s2() -> Instance {
    with_keys(
        "CIM_NumericSensor",
        device_keys("CIM_NumericSensor", "Sensor 2"),
        vec![
            prop("ElementName", s("Fan 1 RPM")),
            prop("CurrentReading", Value::Int(-5)),
            prop("Caption", s("fan")),
            prop("Tags", Value::Array(vec![])),
            prop("Scale", Value::Real(2.0)),
            prop("LastChange", Value::DateTime("2026-11-25T08:00:00Z".into())),
            prop("Enabled", Value::Bool(false)),
            prop("Version", s("10")),
            prop("Threshold", Value::UInt(0)),
            prop("Owner", Value::Null),
        ],
    )
}

/// S3: a discrete chassis intrusion sensor (no CurrentReading).
fn s3() -> Instance {
    with_keys(
        "CIM_Sensor",
        device_keys("CIM_Sensor", "Sensor 3"),
        vec![
            prop("ElementName", s("Chassis Intrusion")),
            prop("Caption", s("Chassis [door]")),
            prop("Tags", Value::Array(vec![s("chassis")])),
            prop("Scale", Value::Null),
            prop("LastChange", Value::Null),
            prop("Enabled", Value::Bool(true)),
            prop("Version", s("abc")),
            prop("Threshold", Value::UInt(u64::MAX)),
            prop("Owner", Value::Ref(cs_ref())),
        ],
    )
}

fn sensors() -> Vec<Instance> {
    vec![s1(), s2(), s3()]
}

fn cs() -> Instance {
    with_keys(
        "CIM_ComputerSystem",
        cs_ref().keys,
        vec![prop("ElementName", s("BMC"))],
    )
}

fn fan() -> Instance {
    with_keys(
        "CIM_Fan",
        device_keys("CIM_Fan", "Fan 1"),
        vec![prop("ElementName", s("Fan 1"))],
    )
}

fn r(inst: &Instance) -> Reference {
    inst.reference()
}

/// An association instance; its keys are its two references (as paths) and it has
/// one non-key property, Weight.
fn assoc(class: &str, (n1, r1): (&str, Reference), (n2, r2): (&str, Reference)) -> Instance {
    let path = |r: &Reference| format!("{}:{:?}", r.class, r.keys);
    Instance {
        class: class.into(),
        keys: vec![(n1.into(), path(&r1)), (n2.into(), path(&r2))],
        properties: vec![
            prop(n1, Value::Ref(r1)),
            prop(n2, Value::Ref(r2)),
            prop("Weight", Value::UInt(1)),
        ],
    }
}

/// A1..A6, in this order:
/// - A1 CIM_SystemDevice: CS → S1
/// - A2 CIM_SystemDevice: CS → S2, the reference typed with the base class CIM_Sensor
/// - A3 ACME_SystemDevice (a CIM_SystemDevice subclass): CS → Fan
/// - A4 CIM_AssociatedSensor: S2 (Antecedent) → Fan (Dependent)
/// - A5 CIM_ConcreteComponent: CS → S1 again (a second path to S1)
/// - A6 CIM_SystemDevice: CS → "Sensor 9", which does not exist
fn associations() -> Vec<Instance> {
    let mut s2_as_base = r(&s2());
    s2_as_base.class = "CIM_Sensor".into();
    let ghost = Reference {
        class: "CIM_NumericSensor".into(),
        keys: device_keys("CIM_NumericSensor", "Sensor 9"),
    };
    vec![
        assoc(
            "CIM_SystemDevice",
            ("GroupComponent", cs_ref()),
            ("PartComponent", r(&s1())),
        ),
        assoc(
            "CIM_SystemDevice",
            ("GroupComponent", cs_ref()),
            ("PartComponent", s2_as_base),
        ),
        assoc(
            "ACME_SystemDevice",
            ("GroupComponent", cs_ref()),
            ("PartComponent", r(&fan())),
        ),
        assoc(
            "CIM_AssociatedSensor",
            ("Antecedent", r(&s2())),
            ("Dependent", r(&fan())),
        ),
        assoc(
            "CIM_ConcreteComponent",
            ("GroupComponent", cs_ref()),
            ("PartComponent", r(&s1())),
        ),
        assoc(
            "CIM_SystemDevice",
            ("GroupComponent", cs_ref()),
            ("PartComponent", ghost),
        ),
    ]
}

/// Finds an instance by reference: same keys, class equal or related (so a reference
/// typed with a base class finds the subclass instance).
fn resolve(want: &Reference) -> Option<Instance> {
    let related =
        |a: &str, b: &str| a.eq_ignore_ascii_case(b) || is_subclass(a, b) || is_subclass(b, a);
    let mut world = sensors();
    world.push(cs());
    world.push(fan());
    world.into_iter().find(|i| {
        related(&i.class, &want.class)
            && i.keys.len() == want.keys.len()
            && want.keys.iter().all(|(k, v)| {
                i.keys
                    .iter()
                    .any(|(ik, iv)| ik.eq_ignore_ascii_case(k) && iv == v)
            })
    })
}

fn env() -> Env<'static> {
    Env::new(&is_subclass).with_resolver(&resolve)
}

/// The DeviceID (or Name, for the computer system) of each result, to compare
/// result sets compactly.
fn ids(v: &[Instance]) -> Vec<String> {
    v.iter()
        .map(|i| {
            i.keys
                .iter()
                .find(|(k, _)| k == "DeviceID" || k == "Name")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| i.class.clone())
        })
        .collect()
}

fn wql_filter(text: &str) -> Filter<'_> {
    Filter {
        dialect: Some(Cow::Borrowed(dialect::WQL)),
        content: FilterContent::Text(Cow::Borrowed(text)),
    }
}

/// Runs a WQL query over the sensors.
fn run_wql(text: &str) -> Result<Vec<String>, String> {
    let c = compile_with(Some(&wql_filter(text)), "CIM_Sensor", &is_subclass)
        .map_err(|e| e.to_string())?;
    c.apply(&sensors(), &env())
        .map(|v| ids(&v))
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------
// WQL: parsing

/// Valid queries and how they print (the printed form shows the AST's shape: operand
/// grouping, normalised operators and constants). Printing is also checked to parse
/// back to the same AST.
const PARSES: &[(&str, &str)] = &[
    ("select * from CIM_Sensor", "SELECT * FROM CIM_Sensor"),
    (
        "SeLeCt * FrOm X wHeRe a iS nUlL",
        "SELECT * FROM X WHERE a IS NULL",
    ),
    (
        "SELECT Name,ElementName FROM X",
        "SELECT Name, ElementName FROM X",
    ),
    ("SELECT Name, name, NAME FROM X", "SELECT Name FROM X"),
    (
        "SELECT * FROM X WHERE a=1 OR b=2 AND c=3",
        "SELECT * FROM X WHERE a = 1 OR b = 2 AND c = 3",
    ),
    (
        "SELECT * FROM X WHERE (a=1 OR b=2) AND c=3",
        "SELECT * FROM X WHERE (a = 1 OR b = 2) AND c = 3",
    ),
    (
        "SELECT * FROM X WHERE NOT a=1 AND b=2",
        "SELECT * FROM X WHERE NOT a = 1 AND b = 2",
    ),
    (
        "SELECT * FROM X WHERE NOT (a=1 AND b=2)",
        "SELECT * FROM X WHERE NOT (a = 1 AND b = 2)",
    ),
    (
        "SELECT * FROM X WHERE NOT NOT a=1",
        "SELECT * FROM X WHERE NOT NOT a = 1",
    ),
    (
        "SELECT * FROM X WHERE ((a = 1))",
        "SELECT * FROM X WHERE a = 1",
    ),
    (
        "SELECT * FROM X WHERE (a=1 OR b=2) OR c=3",
        "SELECT * FROM X WHERE (a = 1 OR b = 2) OR c = 3",
    ),
    ("SELECT * FROM X WHERE 5 < a", "SELECT * FROM X WHERE a > 5"),
    (
        "SELECT * FROM X WHERE 5 >= a",
        "SELECT * FROM X WHERE a <= 5",
    ),
    (
        "SELECT * FROM X WHERE 'x' = Name",
        "SELECT * FROM X WHERE Name = 'x'",
    ),
    (
        "SELECT * FROM X WHERE a != 1",
        "SELECT * FROM X WHERE a <> 1",
    ),
    ("SELECT * FROM X WHERE a<>1", "SELECT * FROM X WHERE a <> 1"),
    (
        "SELECT * FROM X WHERE a IS NOT NULL",
        "SELECT * FROM X WHERE a IS NOT NULL",
    ),
    (
        "SELECT * FROM X WHERE a = NULL",
        "SELECT * FROM X WHERE a = NULL",
    ),
    (
        "SELECT * FROM X WHERE a LIKE 'C%'",
        "SELECT * FROM X WHERE a LIKE 'C%'",
    ),
    (
        "SELECT * FROM X WHERE a NOT LIKE '_x'",
        "SELECT * FROM X WHERE NOT a LIKE '_x'",
    ),
    (
        "SELECT * FROM X WHERE a = 0x1F",
        "SELECT * FROM X WHERE a = 31",
    ),
    (
        "SELECT * FROM X WHERE a = -0x10",
        "SELECT * FROM X WHERE a = -16",
    ),
    (
        "SELECT * FROM X WHERE a = 1.5e3",
        "SELECT * FROM X WHERE a = 1500.0",
    ),
    (
        "SELECT * FROM X WHERE a = 2.50",
        "SELECT * FROM X WHERE a = 2.5",
    ),
    (
        "SELECT * FROM X WHERE a = -7",
        "SELECT * FROM X WHERE a = -7",
    ),
    (
        "SELECT * FROM X WHERE a = 18446744073709551615",
        "SELECT * FROM X WHERE a = 18446744073709551615",
    ),
    (
        "SELECT * FROM X WHERE a = -9223372036854775808",
        "SELECT * FROM X WHERE a = -9223372036854775808",
    ),
    (
        "SELECT * FROM X WHERE a = true AND b = False",
        "SELECT * FROM X WHERE a = TRUE AND b = FALSE",
    ),
    (
        r"SELECT * FROM X WHERE a = 'it\'s'",
        r"SELECT * FROM X WHERE a = 'it\'s'",
    ),
    (
        r#"SELECT * FROM X WHERE a = "say \"hi\"""#,
        r#"SELECT * FROM X WHERE a = 'say "hi"'"#,
    ),
    (
        r"SELECT * FROM X WHERE a = 'C:\\Windows'",
        r"SELECT * FROM X WHERE a = 'C:\\Windows'",
    ),
    (
        "SELECT * FROM X WHERE a = ''",
        "SELECT * FROM X WHERE a = ''",
    ),
    (
        "SELECT * FROM X WHERE __CLASS ISA 'CIM_Sensor'",
        "SELECT * FROM X WHERE __CLASS ISA 'CIM_Sensor'",
    ),
    (
        "SELECT * FROM X WHERE a=1 AND b=2 AND c=3 OR d=4",
        "SELECT * FROM X WHERE a = 1 AND b = 2 AND c = 3 OR d = 4",
    ),
    ("  SELECT\t*\nFROM X  ", "SELECT * FROM X"),
    (
        "SELECT * FROM Größe WHERE Maß = 1",
        "SELECT * FROM Größe WHERE Maß = 1",
    ),
];

#[test]
fn wql_parses_and_prints() {
    let mut bad = Vec::new();
    for (text, printed) in PARSES {
        match Query::parse(text) {
            Err(e) => bad.push(format!("{text}: {e}")),
            Ok(q) => {
                if q.to_string() != *printed {
                    bad.push(format!("{text}: printed as {q}"));
                }
                if Query::parse(printed).as_ref() != Ok(&q) {
                    bad.push(format!("{printed}: reparses differently"));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Invalid queries and the exact message (the position is a byte offset).
const ERRORS: &[(&str, &str)] = &[
    ("", "expected SELECT at 0, found end of query"),
    ("DELETE * FROM X", "expected SELECT at 0, found 'DELETE'"),
    (
        "SELECT",
        "expected '*' or a property name at 6, found end of query",
    ),
    (
        "SELECT * CIM_Sensor",
        "expected FROM at 9, found 'CIM_Sensor'",
    ),
    ("SELECT *, Name FROM X", "expected FROM at 8, found ','"),
    (
        "SELECT Name WHERE",
        "expected ',' or FROM at 12, found WHERE",
    ),
    (
        "SELECT Name, FROM X",
        "expected a property name at 13, found FROM",
    ),
    (
        "SELECT * FROM",
        "expected a class name at 13, found end of query",
    ),
    (
        "SELECT * FROM SELECT",
        "expected a class name at 14, found SELECT",
    ),
    (
        "SELECT * FROM X Y",
        "expected WHERE or end of query at 16, found 'Y'",
    ),
    (
        "SELECT * FROM X WHERE",
        "expected a property name, a constant, NOT or '(' at 21, found end of query",
    ),
    (
        "SELECT * FROM X WHERE a",
        "expected a comparison operator, IS, LIKE, NOT LIKE or ISA at 23, found end of query",
    ),
    (
        "SELECT * FROM X WHERE a = b",
        "expected a constant at 26, found 'b'",
    ),
    (
        "SELECT * FROM X WHERE 5 = 6",
        "expected a property name at 26, found a number",
    ),
    (
        "SELECT * FROM X WHERE 'x' LIKE a",
        "expected a comparison operator at 26, found LIKE",
    ),
    (
        "SELECT * FROM X WHERE a = 1 b = 2",
        "expected AND, OR or end of query at 28, found 'b'",
    ),
    (
        "SELECT * FROM X WHERE a = 1 )",
        "expected AND, OR or end of query at 28, found ')'",
    ),
    (
        "SELECT * FROM X WHERE a = 1 AND",
        "expected a property name, a constant, NOT or '(' at 31, found end of query",
    ),
    (
        "SELECT * FROM X WHERE NOT",
        "expected a property name, a constant, NOT or '(' at 25, found end of query",
    ),
    (
        "SELECT * FROM X WHERE (a = 1",
        "expected ')' at 28, found end of query",
    ),
    (
        "SELECT * FROM X WHERE a IS 5",
        "expected NULL or NOT NULL at 27, found a number",
    ),
    (
        "SELECT * FROM X WHERE a IS NOT",
        "expected NULL at 30, found end of query",
    ),
    (
        "SELECT * FROM X WHERE a NOT 5",
        "expected LIKE at 28, found a number",
    ),
    (
        "SELECT * FROM X WHERE a LIKE 5",
        "expected a pattern string at 29, found a number",
    ),
    (
        "SELECT * FROM X WHERE a ISA Foo",
        "expected a class name string at 28, found 'Foo'",
    ),
    (
        "SELECT * FROM X WHERE Name = 'abc",
        "unterminated string starting at 29",
    ),
    (
        "SELECT * FROM X WHERE Name = \"abc\\\"",
        "unterminated string starting at 29",
    ),
    (
        r"SELECT * FROM X WHERE a = 'C:\Windows'",
        r#"invalid escape '\W' at 29 (WQL strings escape only \\, \' and \")"#,
    ),
    (
        "SELECT * FROM X WHERE a = 'it''s'",
        "expected AND, OR or end of query at 30, found a string",
    ),
    (
        "SELECT * FROM X WHERE a LIKE '[ab'",
        "invalid LIKE pattern at 29: unterminated '[' set",
    ),
    (
        "SELECT * FROM X WHERE a LIKE '[z-a]'",
        "invalid LIKE pattern at 29: reversed range in '[' set",
    ),
    ("SELECT * FROM X WHERE a = 0x", "invalid number '0x' at 26"),
    (
        "SELECT * FROM X WHERE a = 0xG1",
        "invalid number '0xG1' at 26",
    ),
    (
        "SELECT * FROM X WHERE a = 12abc",
        "invalid number '12abc' at 26",
    ),
    ("SELECT * FROM X WHERE a = 1.", "invalid number '1.' at 26"),
    ("SELECT * FROM X WHERE a = 1e", "invalid number '1e' at 26"),
    (
        "SELECT * FROM X WHERE a = 18446744073709551616",
        "number '18446744073709551616' at 26 is out of range",
    ),
    (
        "SELECT * FROM X WHERE a = -9223372036854775809",
        "number '-9223372036854775809' at 26 is out of range",
    ),
    (
        "SELECT * FROM X WHERE a = 1e999",
        "number '1e999' at 26 is out of range",
    ),
    (
        "SELECT * FROM X WHERE a ~ 1",
        "unexpected character '~' at 24",
    ),
    (
        "SELECT * FROM X WHERE a ! 1",
        "unexpected character '!' at 24",
    ),
    (
        "SELECT * FROM X WHERE a = - 1",
        "unexpected character '-' at 26",
    ),
    ("SELECT * FROM X; DROP", "unexpected character ';' at 15"),
];

#[test]
fn wql_errors_name_what_was_expected_and_where() {
    let mut bad = Vec::new();
    for (text, message) in ERRORS {
        match Query::parse(text) {
            Ok(q) => bad.push(format!("{text}: parsed as {q}")),
            Err(e) if e.to_string() != *message => bad.push(format!("{text}: {e}")),
            Err(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn wql_nesting_is_bounded() {
    let ok = format!(
        "SELECT * FROM X WHERE {}a = 1{}",
        "(".repeat(64),
        ")".repeat(64)
    );
    assert!(Query::parse(&ok).is_ok());
    let deep = format!(
        "SELECT * FROM X WHERE {}a = 1{}",
        "(".repeat(65),
        ")".repeat(65)
    );
    assert_eq!(
        Query::parse(&deep).map_err(|e| e.to_string()),
        Err("condition nested deeper than 64 levels at 86".to_owned())
    );
    let nots = format!("SELECT * FROM X WHERE {}a = 1", "NOT ".repeat(200));
    assert!(Query::parse(&nots).is_err());
    // Long flat chains do not nest, so they have no limit.
    let chain = format!("SELECT * FROM X WHERE a = 1{}", " OR a = 1".repeat(10_000));
    assert!(Query::parse(&chain).is_ok());
}

fn cmp(property: &str, op: CompareOp, value: Literal) -> Expr {
    Expr::Compare {
        property: property.into(),
        op,
        value,
    }
}

#[test]
fn wql_precedence_not_and_or() {
    let q = Query::parse("SELECT * FROM X WHERE a=1 OR b=2 AND c=3").unwrap();
    assert_eq!(
        q.condition,
        Some(Expr::Or(vec![
            cmp("a", CompareOp::Eq, Literal::Int(1)),
            Expr::And(vec![
                cmp("b", CompareOp::Eq, Literal::Int(2)),
                cmp("c", CompareOp::Eq, Literal::Int(3)),
            ]),
        ]))
    );
    let q = Query::parse("SELECT * FROM X WHERE NOT a=1 AND b=2 OR c=3").unwrap();
    assert_eq!(
        q.condition,
        Some(Expr::Or(vec![
            Expr::And(vec![
                Expr::Not(Box::new(cmp("a", CompareOp::Eq, Literal::Int(1)))),
                cmp("b", CompareOp::Eq, Literal::Int(2)),
            ]),
            cmp("c", CompareOp::Eq, Literal::Int(3)),
        ]))
    );
    let q = Query::parse("SELECT a, B FROM Cls WHERE 2.5 > x AND y IS NOT NULL").unwrap();
    assert_eq!(
        q,
        Query {
            projection: Projection::Properties(vec!["a".into(), "B".into()]),
            class: "Cls".into(),
            condition: Some(Expr::And(vec![
                cmp("x", CompareOp::Lt, Literal::Real(2.5)),
                Expr::IsNull {
                    property: "y".into(),
                    negated: true
                },
            ])),
        }
    );
}

// ---------------------------------------------------------------------------------
// WQL: evaluation against the sensors

/// Queries over [S1, S2, S3] (enumerated class CIM_Sensor) and the DeviceIDs they
/// select, or the error message.
const SELECTS: &[(&str, Result<&[&str], &str>)] = &[
    (
        "SELECT * FROM CIM_Sensor",
        Ok(&["Sensor 1", "Sensor 2", "Sensor 3"]),
    ),
    // FROM a subclass selects only its instances.
    (
        "SELECT * FROM CIM_NumericSensor",
        Ok(&["Sensor 1", "Sensor 2"]),
    ),
    (
        "SELECT * FROM cim_numericsensor",
        Ok(&["Sensor 1", "Sensor 2"]),
    ),
    // Numbers: across sint/uint/real and numeric strings.
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading > 0",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading >= -5",
        Ok(&["Sensor 1", "Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading = 42.0",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading = '42'",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading = 0x2A",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_NumericSensor WHERE CurrentReading = 'many'",
        Ok(&[]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Version = 5",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Version > 6",
        Ok(&["Sensor 2"]),
    ),
    // ...while a string constant compares as a string (case-insensitively).
    (
        "SELECT * FROM CIM_Sensor WHERE Version > '6'",
        Ok(&["Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Threshold = 18446744073709551615",
        Ok(&["Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Threshold > -1",
        Ok(&["Sensor 1", "Sensor 2", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE 40 <= Threshold",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Scale < 1",
        Ok(&["Sensor 1"]),
    ),
    // Strings: case-insensitive.
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName = 'cpu temp'",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE elementname <> 'CPU TEMP'",
        Ok(&["Sensor 2", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName < 'd'",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    // NULL: comparisons are false, IS [NOT] NULL tests it, logic is two-valued.
    ("SELECT * FROM CIM_Sensor WHERE Caption = NULL", Ok(&[])),
    ("SELECT * FROM CIM_Sensor WHERE Caption <> NULL", Ok(&[])),
    (
        "SELECT * FROM CIM_Sensor WHERE Caption IS NULL",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Caption IS NOT NULL",
        Ok(&["Sensor 2", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Caption <> 'fan'",
        Ok(&["Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE NOT Caption = 'fan'",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    // Arrays: any element.
    (
        "SELECT * FROM CIM_Sensor WHERE Tags = 'THERMAL'",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Tags LIKE 'ch%'",
        Ok(&["Sensor 3"]),
    ),
    ("SELECT * FROM CIM_Sensor WHERE Tags IS NULL", Ok(&[])),
    // LIKE.
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName LIKE '%temp'",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName LIKE 'Fan _ RPM'",
        Ok(&["Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName LIKE '[a-c]%'",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName LIKE '[^c]%'",
        Ok(&["Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Caption LIKE '%[[]door]'",
        Ok(&["Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE ElementName NOT LIKE '%i%'",
        Ok(&["Sensor 1", "Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Threshold LIKE '4_'",
        Ok(&["Sensor 1"]),
    ),
    // Booleans.
    (
        "SELECT * FROM CIM_Sensor WHERE Enabled = TRUE",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Enabled = 0",
        Ok(&["Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Enabled = 'False'",
        Ok(&["Sensor 2"]),
    ),
    // Date-times, xs:dateTime and DMTF forms.
    (
        "SELECT * FROM CIM_Sensor WHERE LastChange > '2026-11-24T12:00:00Z'",
        Ok(&["Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE LastChange = '20261124080000.000000+000'",
        Ok(&["Sensor 1"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE LastChange < '2026-11-25T09:00:00+01:00'",
        Ok(&["Sensor 1"]),
    ),
    // Precedence, evaluated: with AND binding tighter the first selects S1 and S3;
    // were OR tighter it would select nothing.
    (
        "SELECT * FROM CIM_Sensor WHERE Enabled = TRUE OR Scale = 2 AND Caption = 'none'",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE (Enabled = TRUE OR Scale = 2) AND Caption = 'fan'",
        Ok(&["Sensor 2"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE NOT Enabled = TRUE AND Version = 10",
        Ok(&["Sensor 2"]),
    ),
    // References, ISA and the system properties.
    (
        "SELECT * FROM CIM_Sensor WHERE Owner ISA 'CIM_System'",
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Owner ISA 'CIM_Sensor'",
        Ok(&[]),
    ),
    (
        r#"SELECT * FROM CIM_Sensor WHERE Owner = 'CIM_ComputerSystem.CreationClassName="CIM_ComputerSystem",Name="bmc"'"#,
        Ok(&["Sensor 1", "Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE __CLASS = 'cim_sensor'",
        Ok(&["Sensor 3"]),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE __THIS ISA 'CIM_NumericSensor'",
        Ok(&["Sensor 1", "Sensor 2"]),
    ),
    // Unknown properties are an error, whatever the data and short-circuiting.
    (
        "SELECT * FROM CIM_Sensor WHERE CurrentReading > 0",
        Err("invalid WQL query: unknown property 'CurrentReading' in class CIM_Sensor"),
    ),
    (
        "SELECT * FROM CIM_Sensor WHERE Enabled = TRUE OR Bogus = 1",
        Err("invalid WQL query: unknown property 'Bogus' in class CIM_NumericSensor"),
    ),
    (
        "SELECT Bogus FROM CIM_Sensor",
        Err("invalid WQL query: unknown property 'Bogus' in class CIM_NumericSensor"),
    ),
    // The FROM class must be the enumerated class or a subclass.
    (
        "SELECT * FROM CIM_ManagedElement",
        Err(
            "invalid WQL query: FROM class CIM_ManagedElement is not CIM_Sensor or one of its subclasses",
        ),
    ),
    (
        "SELECT * FROM CIM_Fan",
        Err("invalid WQL query: FROM class CIM_Fan is not CIM_Sensor or one of its subclasses"),
    ),
];

#[test]
fn wql_selects() {
    let mut bad = Vec::new();
    for (text, want) in SELECTS {
        let got = run_wql(text);
        let want = want
            .map(|ids| ids.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .map_err(str::to_owned);
        if got != want {
            bad.push(format!("{text}: got {got:?}, want {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn wql_projection_keeps_keys() {
    let q =
        Query::parse("SELECT elementname, Threshold FROM CIM_Sensor WHERE Threshold = 40").unwrap();
    let got = q.select(&s1(), &is_subclass).unwrap().expect("selected");
    let names: Vec<&str> = got.properties.iter().map(|p| p.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "CreationClassName",
            "DeviceID",
            "SystemName",
            "ElementName",
            "Threshold"
        ]
    );
    assert_eq!(got.keys, s1().keys);
    assert_eq!(q.select(&s2(), &is_subclass), Ok(None));
    // System properties may be selected; they add nothing.
    let q = Query::parse("SELECT __CLASS FROM CIM_Sensor").unwrap();
    assert_eq!(q.project(&s3()).unwrap().properties.len(), 3);
}

#[test]
fn wql_from_rule_at_compile_time() {
    let f = wql_filter("SELECT * FROM CIM_NumericSensor");
    // With the hierarchy a subclass is fine; without it only the class itself is.
    assert!(compile_with(Some(&f), "CIM_Sensor", &is_subclass).is_ok());
    let err = compile(Some(&f), "CIM_Sensor").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid WQL query: FROM class CIM_NumericSensor is not CIM_Sensor or one of its subclasses"
    );
    assert_eq!(err.fault_kind(), FaultKind::EnumerationCannotProcessFilter);
    assert!(compile(Some(&f), "cim_numericsensor").is_ok());
    // A wildcard ResourceURI (`.../cimv2/*`) lets FROM choose any class.
    assert!(compile(Some(&f), "*").is_ok());
    assert!(compile(Some(&f), "").is_ok());
}

// ---------------------------------------------------------------------------------
// Selector filter

fn selector_filter(selectors: Vec<Selector<'static>>) -> Filter<'static> {
    Filter {
        dialect: Some(Cow::Borrowed(dialect::SELECTOR)),
        content: FilterContent::Selectors(selectors),
    }
}

fn epr(class: &str, selectors: Vec<Selector<'static>>) -> Epr<'static> {
    Epr {
        address: Cow::Borrowed(wsman::ns::ANONYMOUS),
        resource_uri: Some(Cow::Owned(format!("{CIM}{class}"))),
        selectors,
        other_parameters: vec![],
    }
}

fn epr_selector(name: &'static str, e: Epr<'static>) -> Selector<'static> {
    Selector {
        name: Cow::Borrowed(name),
        value: SelectorValue::Epr(Box::new(e)),
    }
}

fn run_selectors(selectors: Vec<Selector<'static>>, case: Case) -> Vec<String> {
    let c = compile(Some(&selector_filter(selectors)), "CIM_Sensor").unwrap();
    ids(&c
        .apply(&sensors(), &env().with_selector_case(case))
        .unwrap())
}

fn t(name: &'static str, value: &'static str) -> Selector<'static> {
    Selector::text(name, value)
}

#[test]
fn selector_filter_matches_typed_values() {
    use Case::*;
    let cases: Vec<(Vec<Selector<'static>>, Case, &[&str])> = vec![
        (vec![t("DeviceID", "Sensor 1")], Sensitive, &["Sensor 1"]),
        // Names are case-insensitive; values follow the Case rule.
        (vec![t("deviceid", "Sensor 1")], Sensitive, &["Sensor 1"]),
        (vec![t("DeviceID", "sensor 1")], Sensitive, &[]),
        (vec![t("DeviceID", "sensor 1")], Insensitive, &["Sensor 1"]),
        // Whitespace a pretty-printer leaves around the value.
        (
            vec![t("DeviceID", "\n    Sensor 2\n  ")],
            Sensitive,
            &["Sensor 2"],
        ),
        // Typed comparison: integers, reals, booleans, date-times.
        (vec![t("Threshold", "040")], Sensitive, &["Sensor 1"]),
        (
            vec![t("Threshold", "18446744073709551615")],
            Sensitive,
            &["Sensor 3"],
        ),
        (vec![t("Scale", "0.50")], Sensitive, &["Sensor 1"]),
        (
            vec![t("Enabled", "1")],
            Sensitive,
            &["Sensor 1", "Sensor 3"],
        ),
        (vec![t("Enabled", "false")], Sensitive, &["Sensor 2"]),
        (
            vec![t("LastChange", "20261124080000.000000+000")],
            Sensitive,
            &["Sensor 1"],
        ),
        // Arrays: any element; NULL never matches.
        (vec![t("Tags", "cpu")], Sensitive, &["Sensor 1"]),
        (vec![t("Caption", "")], Sensitive, &[]),
        // Every selector must hold.
        (
            vec![t("DeviceID", "Sensor 1"), t("Enabled", "false")],
            Sensitive,
            &[],
        ),
        (
            vec![t("Enabled", "true"), t("Version", "abc")],
            Sensitive,
            &["Sensor 3"],
        ),
        // Unknown property: no match.
        (vec![t("Bogus", "1")], Sensitive, &[]),
        // openwsman's namespace selector is not a property.
        (
            vec![t("DeviceID", "Sensor 1"), t("__cimnamespace", "root/cimv2")],
            Sensitive,
            &["Sensor 1"],
        ),
        // No selectors: every instance.
        (vec![], Sensitive, &["Sensor 1", "Sensor 2", "Sensor 3"]),
    ];
    for (sel, case, want) in cases {
        let desc = format!("{sel:?} {case:?}");
        assert_eq!(run_selectors(sel, case), *want, "{desc}");
    }
}

#[test]
fn selector_filter_nested_epr_matches_references() {
    let cs_sel = || {
        vec![
            t("CreationClassName", "CIM_ComputerSystem"),
            t("Name", "bmc"),
        ]
    };
    let cases: Vec<(Epr<'static>, &[&str])> = vec![
        (
            epr("CIM_ComputerSystem", cs_sel()),
            &["Sensor 1", "Sensor 3"],
        ),
        // Addressed through a base class.
        (epr("CIM_System", cs_sel()), &["Sensor 1", "Sensor 3"]),
        // Extra namespace selector is ignored.
        (
            epr("CIM_ComputerSystem", {
                let mut s = cs_sel();
                s.push(t("__cimnamespace", "root/cimv2"));
                s
            }),
            &["Sensor 1", "Sensor 3"],
        ),
        // Wrong key value, missing key, unrelated class.
        (
            epr(
                "CIM_ComputerSystem",
                vec![
                    t("CreationClassName", "CIM_ComputerSystem"),
                    t("Name", "other"),
                ],
            ),
            &[],
        ),
        (epr("CIM_ComputerSystem", vec![t("Name", "bmc")]), &[]),
        (epr("CIM_Fan", cs_sel()), &[]),
    ];
    for (e, want) in cases {
        let desc = format!("{e:?}");
        assert_eq!(
            run_selectors(vec![epr_selector("Owner", e)], Case::Sensitive),
            *want,
            "{desc}"
        );
    }
    // A text value never matches a reference property, an EPR never a plain one.
    assert_eq!(
        run_selectors(vec![t("Owner", "bmc")], Case::Sensitive),
        Vec::<String>::new()
    );
    assert_eq!(
        run_selectors(
            vec![epr_selector(
                "ElementName",
                epr("CIM_ComputerSystem", cs_sel())
            )],
            Case::Sensitive
        ),
        Vec::<String>::new()
    );
}

#[test]
fn selector_filter_compiles_to_owned_values() {
    let f = selector_filter(vec![
        t("Name", "bmc"),
        epr_selector("Owner", epr("CIM_ComputerSystem", vec![t("Name", "bmc")])),
    ]);
    assert_eq!(
        compile(Some(&f), "CIM_Sensor").unwrap(),
        Compiled::Selector(vec![
            ("Name".into(), SelectorValueOwned::Text("bmc".into())),
            (
                "Owner".into(),
                SelectorValueOwned::Epr {
                    resource_uri: Some(format!("{CIM}CIM_ComputerSystem")),
                    selectors: vec![("Name".into(), SelectorValueOwned::Text("bmc".into()))],
                }
            ),
        ])
    );
}

// ---------------------------------------------------------------------------------
// Association filter

/// The keys of `inst` as selectors of an EPR to it.
fn epr_to(inst: &Instance) -> Epr<'static> {
    epr_as(inst, &inst.class)
}

fn epr_as(inst: &Instance, class: &str) -> Epr<'static> {
    epr(
        class,
        inst.keys
            .iter()
            .map(|(k, v)| Selector::text(k.clone(), v.clone()))
            .collect(),
    )
}

#[derive(Default)]
struct Assoc {
    association_class: Option<&'static str>,
    role: Option<&'static str>,
    result_class: Option<&'static str>,
    result_role: Option<&'static str>,
    include: Vec<&'static str>,
}

fn association_filter(mode: Mode, object: Epr<'static>, a: &Assoc) -> Filter<'static> {
    let c = |s: Option<&'static str>| s.map(Cow::Borrowed);
    Filter {
        dialect: Some(Cow::Borrowed(dialect::ASSOCIATION)),
        content: FilterContent::Association(AssociationFilter {
            association_instances: mode == Mode::AssociationInstances,
            object,
            association_class_name: c(a.association_class),
            role: c(a.role),
            result_class_name: c(a.result_class),
            result_role: c(a.result_role),
            include_result_property: a.include.iter().map(|s| Cow::Borrowed(*s)).collect(),
        }),
    }
}

fn run_assoc(mode: Mode, object: Epr<'static>, a: &Assoc) -> Result<Vec<Instance>, FilterError> {
    let c = compile(Some(&association_filter(mode, object, a)), "*")?;
    assert!(c.is_association());
    c.apply(&associations(), &env())
}

/// Associated instances, by DeviceID/Name.
fn associated(object: Epr<'static>, a: Assoc) -> Vec<String> {
    ids(&run_assoc(Mode::AssociatedInstances, object, &a).unwrap())
}

/// Association instances, as their position A1..A6 in [`associations`].
fn association_instances(object: Epr<'static>, a: Assoc) -> Vec<String> {
    let all = associations();
    run_assoc(Mode::AssociationInstances, object, &a)
        .unwrap()
        .iter()
        .map(|i| {
            let n = all
                .iter()
                .position(|x| x.keys == i.keys && x.class == i.class);
            format!("A{}", n.map_or(0, |n| n + 1))
        })
        .collect()
}

#[test]
fn associated_instances_mode() {
    let cs = || epr_to(&cs());
    let fan = || epr_to(&fan());
    // Everything at the other end of CS's associations: S1 once although two
    // associations reach it, S2 through a base-class reference, the fan; the dangling
    // A6 is skipped.
    assert_eq!(
        associated(cs(), Assoc::default()),
        ["Sensor 1", "Sensor 2", "Fan 1"]
    );
    // AssociationClassName, with subclasses.
    let by_assoc = |c| Assoc {
        association_class: Some(c),
        ..Assoc::default()
    };
    assert_eq!(
        associated(cs(), by_assoc("CIM_SystemDevice")),
        ["Sensor 1", "Sensor 2", "Fan 1"]
    );
    assert_eq!(associated(cs(), by_assoc("ACME_SystemDevice")), ["Fan 1"]);
    assert_eq!(
        associated(cs(), by_assoc("CIM_ConcreteComponent")),
        ["Sensor 1"]
    );
    assert_eq!(
        associated(cs(), by_assoc("CIM_Dependency")),
        Vec::<String>::new()
    );
    // ResultClassName, tested on the resolved instance's class: S2 is reached through
    // a reference typed CIM_Sensor but is a CIM_NumericSensor.
    let by_result = |c| Assoc {
        result_class: Some(c),
        ..Assoc::default()
    };
    assert_eq!(
        associated(cs(), by_result("CIM_Sensor")),
        ["Sensor 1", "Sensor 2"]
    );
    assert_eq!(
        associated(cs(), by_result("CIM_NumericSensor")),
        ["Sensor 1", "Sensor 2"]
    );
    assert_eq!(associated(cs(), by_result("cim_fan")), ["Fan 1"]);
    // Role: the Object's side of the association (names case-insensitive).
    let by_role = |r| Assoc {
        role: Some(r),
        ..Assoc::default()
    };
    assert_eq!(
        associated(cs(), by_role("groupcomponent")),
        ["Sensor 1", "Sensor 2", "Fan 1"]
    );
    assert_eq!(
        associated(cs(), by_role("PartComponent")),
        Vec::<String>::new()
    );
    assert_eq!(associated(fan(), Assoc::default()), ["bmc", "Sensor 2"]);
    assert_eq!(associated(fan(), by_role("Dependent")), ["Sensor 2"]);
    assert_eq!(associated(fan(), by_role("PartComponent")), ["bmc"]);
    // ResultRole: the far side.
    let by_result_role = |r| Assoc {
        result_role: Some(r),
        ..Assoc::default()
    };
    assert_eq!(
        associated(fan(), by_result_role("Antecedent")),
        ["Sensor 2"]
    );
    assert_eq!(
        associated(cs(), by_result_role("PartComponent")),
        ["Sensor 1", "Sensor 2", "Fan 1"]
    );
    assert_eq!(
        associated(cs(), by_result_role("GroupComponent")),
        Vec::<String>::new()
    );
    // All four at once.
    assert_eq!(
        associated(
            fan(),
            Assoc {
                association_class: Some("CIM_Dependency"),
                role: Some("Dependent"),
                result_class: Some("CIM_Sensor"),
                result_role: Some("Antecedent"),
                ..Assoc::default()
            }
        ),
        ["Sensor 2"]
    );
    // The Object addressed through a base class's ResourceURI.
    assert_eq!(
        associated(epr_as(&s2(), "CIM_Sensor"), Assoc::default()),
        ["bmc", "Fan 1"]
    );
}

#[test]
fn association_instances_mode() {
    let cs = || epr_to(&cs());
    let all = ["A1", "A2", "A3", "A5", "A6"];
    assert_eq!(association_instances(cs(), Assoc::default()), all);
    // ResultClassName names the association class here (with subclasses).
    let by_result = |c| Assoc {
        result_class: Some(c),
        ..Assoc::default()
    };
    assert_eq!(
        association_instances(cs(), by_result("CIM_SystemDevice")),
        ["A1", "A2", "A3", "A6"]
    );
    assert_eq!(
        association_instances(cs(), by_result("ACME_SystemDevice")),
        ["A3"]
    );
    assert_eq!(association_instances(cs(), by_result("CIM_Component")), all);
    // AssociationClassName is accepted with the same meaning.
    assert_eq!(
        association_instances(
            cs(),
            Assoc {
                association_class: Some("CIM_ConcreteComponent"),
                ..Assoc::default()
            }
        ),
        ["A5"]
    );
    // Role.
    let by_role = |r| Assoc {
        role: Some(r),
        ..Assoc::default()
    };
    assert_eq!(association_instances(cs(), by_role("GroupComponent")), all);
    assert_eq!(
        association_instances(cs(), by_role("PartComponent")),
        Vec::<String>::new()
    );
    assert_eq!(
        association_instances(epr_to(&fan()), by_role("Dependent")),
        ["A4"]
    );
    assert_eq!(
        association_instances(epr_to(&fan()), Assoc::default()),
        ["A3", "A4"]
    );
    // ResultRole means nothing for References and is ignored.
    assert_eq!(
        association_instances(
            cs(),
            Assoc {
                result_role: Some("Nonsense"),
                ..Assoc::default()
            }
        ),
        all
    );
}

#[test]
fn association_include_result_property() {
    // Listed properties plus keys; names the class lacks are ignored.
    let got = run_assoc(
        Mode::AssociatedInstances,
        epr_to(&cs()),
        &Assoc {
            result_class: Some("CIM_NumericSensor"),
            include: vec!["elementname", "Bogus"],
            ..Assoc::default()
        },
    )
    .unwrap();
    for i in &got {
        let names: Vec<&str> = i.properties.iter().map(|p| p.name.as_ref()).collect();
        assert_eq!(
            names,
            ["CreationClassName", "DeviceID", "SystemName", "ElementName"]
        );
    }
    let got = run_assoc(
        Mode::AssociationInstances,
        epr_to(&fan()),
        &Assoc {
            role: Some("Dependent"),
            include: vec!["Antecedent"],
            ..Assoc::default()
        },
    )
    .unwrap();
    let names: Vec<&str> = got[0].properties.iter().map(|p| p.name.as_ref()).collect();
    assert_eq!(
        names,
        ["Antecedent", "Dependent"],
        "Weight dropped, keys kept"
    );
}

#[test]
fn association_filter_errors_and_empty_elements() {
    let mut missing = cs();
    missing.keys[1].1 = "nope".into();
    let err = run_assoc(
        Mode::AssociatedInstances,
        epr_to(&missing),
        &Assoc::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"invalid association filter: wsmb:Object CIM_ComputerSystem.CreationClassName="CIM_ComputerSystem",Name="nope" does not exist"#
    );
    assert_eq!(err.fault_kind(), FaultKind::EnumerationCannotProcessFilter);

    let mut no_uri = epr_to(&cs());
    no_uri.resource_uri = None;
    assert_eq!(
        run_assoc(Mode::AssociatedInstances, no_uri, &Assoc::default()).unwrap_err(),
        FilterError::CannotProcess {
            reason: Unprocessable::Association(AssociationError::ObjectWithoutResourceUri)
        }
    );
    let mut wildcard = epr_to(&cs());
    wildcard.resource_uri = Some(Cow::Borrowed("http://schemas.dmtf.org/wbem/wscim/1/*"));
    assert!(run_assoc(Mode::AssociatedInstances, wildcard, &Assoc::default()).is_err());

    // Elements sent empty count as absent.
    let empty = Assoc {
        association_class: Some(""),
        role: Some("  "),
        result_class: Some(""),
        result_role: Some(""),
        include: vec![""],
    };
    assert_eq!(
        associated(epr_to(&cs()), empty),
        ["Sensor 1", "Sensor 2", "Fan 1"]
    );

    // An association filter is not a per-instance predicate.
    let c = compile(
        Some(&association_filter(
            Mode::AssociatedInstances,
            epr_to(&cs()),
            &Assoc::default(),
        )),
        "*",
    )
    .unwrap();
    assert_eq!(
        c.select(&s1(), &env()),
        Err(FilterError::CannotProcess {
            reason: Unprocessable::NotPerInstance
        })
    );
}

// ---------------------------------------------------------------------------------
// Dialect dispatch

#[test]
fn dialects_offered_and_refused() {
    assert_eq!(
        OFFERED,
        [dialect::SELECTOR, dialect::WQL, dialect::ASSOCIATION]
    );
    assert_eq!(compile(None, "CIM_Sensor"), Ok(Compiled::All));
    assert_eq!(
        Compiled::All.apply(&sensors(), &env()).map(|v| ids(&v)),
        Ok(vec![
            "Sensor 1".into(),
            "Sensor 2".into(),
            "Sensor 3".into()
        ])
    );
    // No Dialect attribute means XPath (WS-Enumeration), which is not offered; nor is
    // CQL or anything unknown.
    let text = |d: Option<&'static str>| Filter {
        dialect: d.map(Cow::Borrowed),
        content: FilterContent::Text(Cow::Borrowed("SELECT * FROM CIM_Sensor")),
    };
    for (d, uri) in [
        (None, dialect::XPATH),
        (Some(dialect::XPATH), dialect::XPATH),
        (Some(dialect::CQL), dialect::CQL),
        (Some("urn:example:nope"), "urn:example:nope"),
    ] {
        let err = compile(Some(&text(d)), "CIM_Sensor").unwrap_err();
        assert_eq!(
            err,
            FilterError::DialectUnavailable {
                dialect: uri.to_owned()
            }
        );
        assert_eq!(
            err.fault_kind(),
            FaultKind::FilterDialectRequestedUnavailable
        );
        assert!(err.to_string().contains(dialect::WQL), "{err}");
    }
    // Content that does not fit the dialect.
    let xml_wql = Filter {
        dialect: Some(Cow::Borrowed(dialect::WQL)),
        content: FilterContent::Xml(vec![]),
    };
    assert_eq!(
        compile(Some(&xml_wql), "*").unwrap_err().to_string(),
        "a WQL filter must contain the query as text"
    );
    let text_selector = Filter {
        dialect: Some(Cow::Borrowed(dialect::SELECTOR)),
        content: FilterContent::Text(Cow::Borrowed("Name=bmc")),
    };
    assert!(matches!(
        compile(Some(&text_selector), "*"),
        Err(FilterError::CannotProcess {
            reason: Unprocessable::Content { .. }
        })
    ));
    // A syntax error reads well in a fault.
    let err = compile(Some(&wql_filter("SELECT * WHERE")), "*").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid WQL query: expected FROM at 9, found WHERE"
    );
    assert_eq!(err.fault_kind(), FaultKind::EnumerationCannotProcessFilter);
}

#[test]
fn compiled_filters_are_owned() {
    // The compiled filter outlives the request text it came from.
    let compiled = {
        let text = String::from("SELECT * FROM CIM_Sensor WHERE Enabled = TRUE");
        compile(Some(&wql_filter(&text)), "CIM_Sensor").unwrap()
    };
    assert_eq!(compiled.dialect(), Some(dialect::WQL));
    assert_eq!(
        compiled.apply(&sensors(), &env()).map(|v| ids(&v)),
        Ok(vec!["Sensor 1".into(), "Sensor 3".into()])
    );
}

// ---------------------------------------------------------------------------------
// Property tests

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}"
        .prop_filter("not a keyword", |s| !mock::filter::wql::is_keyword(s))
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::Str),
        (i128::from(i64::MIN)..=i128::from(u64::MAX)).prop_map(Literal::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Literal::Real),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
    ]
}

/// Valid LIKE patterns: wildcards, sets, ranges and any character but '['.
fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("%".to_owned()),
            Just("_".to_owned()),
            Just("[abc]".to_owned()),
            Just("[^x]".to_owned()),
            Just("[a-z]".to_owned()),
            Just("[0=9]".to_owned()),
            Just("[]]".to_owned()),
            "[^\\[]",
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn predicate() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (ident(), op(), literal()).prop_map(|(property, op, value)| Expr::Compare {
            property,
            op,
            value
        }),
        (ident(), any::<bool>()).prop_map(|(property, negated)| Expr::IsNull { property, negated }),
        (ident(), pattern()).prop_map(|(property, pattern)| Expr::Like { property, pattern }),
        (ident(), any::<String>()).prop_map(|(property, class)| Expr::Isa { property, class }),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    predicate().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner, 2..4).prop_map(Expr::Or),
        ]
    })
}

fn query() -> impl Strategy<Value = Query> {
    let projection = prop_oneof![
        Just(Projection::All),
        prop::collection::vec(ident(), 1..4).prop_map(|names| {
            // The parser keeps the first of names equal but for case.
            let mut out: Vec<String> = Vec::new();
            for n in names {
                if !out.iter().any(|m| m.eq_ignore_ascii_case(&n)) {
                    out.push(n);
                }
            }
            Projection::Properties(out)
        }),
    ];
    (projection, ident(), prop::option::of(expr())).prop_map(|(projection, class, condition)| {
        Query {
            projection,
            class,
            condition,
        }
    })
}

/// Fragments that make random text look like WQL often enough to reach deep into the
/// parser and evaluator.
fn wqlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("SELECT"),
            Just("FROM"),
            Just("WHERE"),
            Just("AND"),
            Just("OR"),
            Just("NOT"),
            Just("IS"),
            Just("NULL"),
            Just("LIKE"),
            Just("ISA"),
            Just("*"),
            Just(","),
            Just("("),
            Just(")"),
            Just("="),
            Just("<>"),
            Just("<="),
            Just(">"),
            Just("'x%'"),
            Just("'[a-"),
            Just("\"q\\"),
            Just("0x1F"),
            Just("-3"),
            Just("1.5e2"),
            Just("1e999"),
            Just("CIM_Sensor"),
            Just("Enabled"),
            Just("Tags"),
            Just("Caption"),
            Just("TRUE"),
            Just("__THIS"),
            Just("Bogus"),
            Just("'CIM_System'"),
        ],
        0..24,
    )
    .prop_map(|v| v.join(" "))
}

proptest! {
    /// Invariant: parsing never panics, whatever the input.
    #[test]
    fn parser_never_panics(text in any::<String>()) {
        let _ = Query::parse(&text);
    }

    /// Invariant: on WQL-like input, neither parsing nor evaluating against the
    /// fixtures panics, and whatever parses prints to text that parses back to the
    /// same AST.
    #[test]
    fn wqlish_text_round_trips(text in wqlish()) {
        if let Ok(q) = Query::parse(&text) {
            prop_assert_eq!(Query::parse(&q.to_string()), Ok(q.clone()));
            for inst in sensors() {
                let _ = q.select(&inst, &is_subclass);
            }
        }
    }

    /// Invariant: printing any query (Display) and parsing the text gives the same
    /// AST back.
    #[test]
    fn display_then_parse_is_identity(q in query()) {
        let text = q.to_string();
        prop_assert_eq!(Query::parse(&text), Ok(q), "text: {}", text);
    }
}

/// `apply_shared` (the mock's path, which keeps the `Arc`s it is given instead of
/// copying the instances) answers exactly what `apply` does, for every
/// kind of filter: none, selectors that keep some, all or none, and WQL with and
/// without a projection; what `apply_shared` keeps whole is the very `Arc` it was given.
#[test]
fn applying_to_owned_instances_answers_as_applying_to_borrowed_ones() {
    let mut filters: Vec<(String, Compiled)> = vec![("none".into(), Compiled::All)];
    for selectors in [
        vec![t("DeviceID", "Sensor 1")],
        vec![t("SystemName", "host")],
        vec![t("DeviceID", "nothing")],
        vec![],
    ] {
        let f = selector_filter(selectors.clone());
        filters.push((
            format!("selectors {selectors:?}"),
            compile(Some(&f), "CIM_Sensor").unwrap(),
        ));
    }
    for text in [
        "SELECT * FROM CIM_Sensor WHERE Enabled = TRUE",
        "SELECT DeviceID FROM CIM_Sensor",
        "SELECT * FROM CIM_Sensor WHERE DeviceID = 'none'",
    ] {
        filters.push((
            text.into(),
            compile(Some(&wql_filter(text)), "CIM_Sensor").unwrap(),
        ));
    }
    for case in [Case::Sensitive, Case::Insensitive] {
        let env = env().with_selector_case(case);
        for (what, f) in &filters {
            let borrowed = f.apply(&sensors(), &env);
            let given: Vec<std::sync::Arc<_>> =
                sensors().into_iter().map(std::sync::Arc::new).collect();
            let shared = f.apply_shared(given.clone(), &env).unwrap();
            let plain: Vec<_> = shared.iter().map(|i| (**i).clone()).collect();
            assert_eq!(Ok(plain), borrowed, "{what}, {case:?}");
            if matches!(f, Compiled::All | Compiled::Selector(_)) {
                for kept in &shared {
                    assert!(
                        given.iter().any(|g| std::sync::Arc::ptr_eq(g, kept)),
                        "{what}, {case:?}: a kept instance was copied"
                    );
                }
            }
        }
    }
}

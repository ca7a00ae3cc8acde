//! The Rhai sandbox for scenario scripts: sensor `expr` sources and shell command
//! handlers. One engine configuration, used everywhere, so that a script that loads in
//! one place behaves the same in another.
//!
//! The engine is built from [`rhai::Engine::new_raw`] plus the core, logic, math,
//! string, array and map packages: no time package (no clock), no module resolver (the
//! workspace builds rhai with `no_module`), `print`/`debug` discarded, `eval` disabled.
//! Every evaluation is bounded: [`MAX_OPERATIONS`] operations, expression depth, string,
//! array and map sizes and call depth, so a script can neither hang the mock nor grow
//! without bound; exceeding a limit is an evaluation error. The operation budget
//! covers closures run by `map`, `filter` and the like too (see [`engine`]); one
//! engine must not run two evaluations at the same time (the machine owns its engine
//! and runs one at a time).
//!
//! # Raising events
//!
//! A command handler may call `raise_event(class)` or `raise_event(class, #{ Name:
//! value, ... })` to raise a CIM indication (`CIM_AlertIndication`, ...) for WS-Eventing
//! subscribers; property values are text, numbers or booleans, kept as text. A script
//! has no access to the machine, so the call only collects the indication: the machine
//! records what was collected in its event log once the handler has returned
//! ([`collecting_events`], used by `Machine::shell_command`, `shell_send` and
//! `run_line`), stamped with the time the command ran. The mock's rule scripts get the
//! same function ([`register_raise_event`]). A handler that fails after
//! raising still raises what it raised before failing. At most [`MAX_RAISED`] per
//! evaluation. Sensor expressions stay pure: outside [`collecting_events`] the call is
//! an evaluation error, and [`compile_sensor_expr`] refuses an expression naming it.

use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::cell::RefCell;

use rhai::{AST, Dynamic, Engine, EvalAltResult, OptimizationLevel, Scope};

/// The operation budget of one evaluation.
pub const MAX_OPERATIONS: u64 = 10_000;
/// The longest string a script may build, in bytes.
pub const MAX_STRING_SIZE: usize = 4096;

/// The packages every engine registers, built once per process and shared: a package
/// is a few hundred kilobytes of function tables, and a fleet has an engine per machine.
fn packages() -> &'static [rhai::Shared<rhai::Module>] {
    static PACKAGES: std::sync::OnceLock<Vec<rhai::Shared<rhai::Module>>> =
        std::sync::OnceLock::new();
    PACKAGES.get_or_init(|| {
        vec![
            CorePackage::new().as_shared_module(),
            LogicPackage::new().as_shared_module(),
            BasicMathPackage::new().as_shared_module(),
            MoreStringPackage::new().as_shared_module(),
            BasicArrayPackage::new().as_shared_module(),
            BasicMapPackage::new().as_shared_module(),
        ]
    })
}

/// A new sandboxed engine (see the module docs for what it allows).
pub fn engine() -> Engine {
    let mut e = Engine::new_raw();
    for module in packages() {
        e.register_global_module(module.clone());
    }
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_expr_depths(64, 32);
    e.set_max_string_size(MAX_STRING_SIZE);
    e.set_max_array_size(1024);
    e.set_max_map_size(256);
    e.set_max_call_levels(16);
    e.set_max_variables(256);
    e.set_max_functions(64);
    e.set_strict_variables(true);
    e.set_optimization_level(OptimizationLevel::Simple);
    e.disable_symbol("eval");
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    register_raise_event(&mut e);
    // Rhai's own operation limit restarts inside every closure that a native function
    // such as `map` calls (the count is kept on a copy of the evaluation state), so
    // nested callbacks could run far past MAX_OPERATIONS. This counter sees every
    // operation: the progress callback runs on each one, and an evaluation starts
    // when Rhai reports its first operation (a callback's copy never starts at 1).
    let spent = Arc::new(AtomicU64::new(0));
    e.on_progress(move |count| {
        if count == 1 {
            spent.store(0, Ordering::Relaxed);
        }
        let n = spent.fetch_add(1, Ordering::Relaxed) + 1;
        (n > MAX_OPERATIONS).then(|| {
            Dynamic::from(format!(
                "the script used more than {MAX_OPERATIONS} operations"
            ))
        })
    });
    e
}

/// The scope a sensor expression sees: `t` (seconds since the mock started, f64),
/// `t_ms` (milliseconds, integer) and `nominal` (the sensor's nominal reading or 0.0).
fn sensor_scope(t_ms: u64, nominal: f64) -> Scope<'static> {
    let mut s = Scope::new();
    s.push("t", t_ms as f64 / 1000.0);
    s.push("t_ms", i64::try_from(t_ms).unwrap_or(i64::MAX));
    s.push("nominal", nominal);
    s
}

/// Compiles a sensor expression (an expression, not a script: no statements or loops;
/// no `raise_event`, since reading a sensor must not have effects).
pub fn compile_sensor_expr(engine: &Engine, expr: &str) -> Result<AST, String> {
    if expr.contains(RAISE_EVENT) {
        return Err(format!(
            "a sensor expression cannot call {RAISE_EVENT} (reading a sensor has no \
             effects); raise events from a command handler or a scenario [[events]] entry"
        ));
    }
    engine
        .compile_expression_with_scope(&sensor_scope(0, 0.0), expr)
        .map_err(|e| e.to_string())
}

/// The variables a command handler script sees: `cmdline` (the whole command line),
/// `command` (its first word), `args` (an array of the other words) and `stdin` (what
/// the client sent so far), all strings; and, set by the shell, `user` (the shell's
/// owner), `hostname` and `env` (a map of the shell's environment variables), empty
/// here.
pub fn handler_scope(cmdline: &str, stdin: &str) -> Scope<'static> {
    let mut words = cmdline.split_whitespace();
    let command = words.next().unwrap_or("").to_owned();
    let args: rhai::Array = words.map(|w| Dynamic::from(w.to_owned())).collect();
    let mut s = Scope::new();
    s.push("cmdline", cmdline.to_owned());
    s.push("command", command);
    s.push("args", args);
    s.push("stdin", stdin.to_owned());
    s.push("user", String::new());
    s.push("hostname", String::new());
    s.push("env", rhai::Map::new());
    s
}

/// Compiles a command handler script (a full script) against [`handler_scope`]'s
/// variables, to check it at load time.
pub fn compile_script(engine: &Engine, script: &str) -> Result<AST, String> {
    engine
        .compile_with_scope(&handler_scope("", ""), script)
        .map_err(|e| e.to_string())
}

/// Evaluates a compiled sensor expression at `t_ms`. The result must be a finite number
/// (integer or float).
pub fn eval_sensor_expr(
    engine: &Engine,
    ast: &AST,
    t_ms: u64,
    nominal: f64,
) -> Result<f64, String> {
    let mut scope = sensor_scope(t_ms, nominal);
    let v: Dynamic = engine
        .eval_ast_with_scope(&mut scope, ast)
        .map_err(|e| e.to_string())?;
    let x = if let Ok(f) = v.as_float() {
        f
    } else if let Ok(i) = v.as_int() {
        i as f64
    } else {
        return Err(format!(
            "the expression gave a {}, not a number",
            v.type_name()
        ));
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("the expression gave {x}, not a finite number"))
    }
}

/// Registers `raise_event(class)` and `raise_event(class, #{...})` on another engine
/// (the mock's rule scripts use it): the calls are collected by [`collecting_events`]
/// and are errors outside it.
pub fn register_raise_event(e: &mut Engine) {
    e.register_fn("raise_event", |class: &str| {
        raise_event(class, rhai::Map::new())
    });
    e.register_fn("raise_event", raise_event);
}

/// The script function's name.
const RAISE_EVENT: &str = "raise_event";

/// Most indications one evaluation may raise.
pub const MAX_RAISED: usize = 64;

/// An indication a script raised with `raise_event` (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedEvent {
    /// The indication's CIM class.
    pub class: String,
    /// Property name and value as text, in the map's order (sorted by name).
    pub properties: Vec<(String, String)>,
}

thread_local! {
    /// The indications raised by the evaluation running on this thread, when one is
    /// being collected (`None`: raising is not allowed here).
    static RAISED: RefCell<Option<Vec<RaisedEvent>>> = const { RefCell::new(None) };
}

/// Runs `f` (which evaluates scripts on this thread) with `raise_event` allowed, and
/// returns its result with the indications raised, oldest first. Nested calls collect
/// separately.
pub fn collecting_events<R>(f: impl FnOnce() -> R) -> (R, Vec<RaisedEvent>) {
    /// Puts back the outer collection even if `f` panics.
    struct Restore(Option<Option<Vec<RaisedEvent>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                RAISED.with(|r| *r.borrow_mut() = outer);
            }
        }
    }
    let outer = RAISED.with(|r| r.replace(Some(Vec::new())));
    let mut restore = Restore(Some(outer));
    let out = f();
    let outer = restore.0.take().unwrap_or(None);
    let raised = RAISED.with(|r| r.replace(outer)).unwrap_or_default();
    (out, raised)
}

/// Whether `name` can name a CIM class or property (and so an XML element): an ASCII
/// letter or `_`, then letters, digits or `_`, at most 256 bytes.
pub fn is_cim_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 256
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A script value as property text, if it is a scalar.
fn property_text(v: &Dynamic) -> Option<String> {
    if v.is_string() || v.is_char() || v.is_int() || v.is_float() || v.is_bool() {
        Some(v.to_string())
    } else {
        None
    }
}

fn raise_event(class: &str, properties: rhai::Map) -> Result<(), Box<EvalAltResult>> {
    let fail = |message: String| -> Result<(), Box<EvalAltResult>> { Err(message.into()) };
    if !is_cim_name(class) {
        return fail(format!(
            "{RAISE_EVENT}: {class:?} is not a CIM class name (letters, digits and _, \
             not starting with a digit, e.g. \"CIM_AlertIndication\")"
        ));
    }
    let mut props = Vec::with_capacity(properties.len());
    for (name, value) in &properties {
        if !is_cim_name(name) {
            return fail(format!(
                "{RAISE_EVENT}: property {:?} is not a CIM property name",
                name.as_str()
            ));
        }
        let Some(text) = property_text(value) else {
            return fail(format!(
                "{RAISE_EVENT}: property {name} is a {}; give text, a number or a bool",
                value.type_name()
            ));
        };
        props.push((name.to_string(), text));
    }
    RAISED.with(|r| match r.borrow_mut().as_mut() {
        None => fail(format!(
            "{RAISE_EVENT} works only in a command handler ([[machine.commands]] or \
             [[machine.scripts]] `handler`)"
        )),
        Some(raised) if raised.len() >= MAX_RAISED => fail(format!(
            "{RAISE_EVENT}: a script may raise at most {MAX_RAISED} events"
        )),
        Some(raised) => {
            raised.push(RaisedEvent {
                class: class.to_owned(),
                properties: props,
            });
            Ok(())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        let e = engine();
        let ast = compile_sensor_expr(&e, "40.0 + 5.0 * sin(t / 60.0)").unwrap();
        assert_eq!(eval_sensor_expr(&e, &ast, 0, 0.0).unwrap(), 40.0);
        let ast = compile_sensor_expr(&e, "if t > 10.0 { 1 } else { 2 }").unwrap();
        assert_eq!(eval_sensor_expr(&e, &ast, 11_000, 0.0).unwrap(), 1.0);
        assert!(
            compile_sensor_expr(&e, "tt + 1").is_err(),
            "unknown variables are compile errors"
        );
        assert!(compile_sensor_expr(&e, "loop {}").is_err());
        assert!(compile_sensor_expr(&e, "while true {}").is_err());
        let ast = compile_sensor_expr(&e, "\"a\"").unwrap();
        assert!(eval_sensor_expr(&e, &ast, 0, 0.0).is_err());
    }

    fn handler(e: &Engine, src: &str) -> Result<Dynamic, String> {
        let mut scope = handler_scope("alert now", "");
        let ast = e
            .compile_with_scope(&scope, src)
            .map_err(|e| e.to_string())?;
        e.eval_ast_with_scope(&mut scope, &ast)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn handlers_raise_events_collected_in_order() {
        let e = engine();
        let (out, raised) = collecting_events(|| {
            handler(
                &e,
                r#"raise_event("CIM_AlertIndication", #{ Message: `${command} ${args[0]}`,
                       PerceivedSeverity: 6, Probable: 1.5, Ack: true });
                   raise_event("CIM_InstCreation");
                   "done""#,
            )
        });
        assert_eq!(out.unwrap().into_string().unwrap(), "done");
        assert_eq!(
            raised,
            vec![
                RaisedEvent {
                    class: "CIM_AlertIndication".into(),
                    properties: vec![
                        ("Ack".into(), "true".into()),
                        ("Message".into(), "alert now".into()),
                        ("PerceivedSeverity".into(), "6".into()),
                        ("Probable".into(), "1.5".into()),
                    ],
                },
                RaisedEvent {
                    class: "CIM_InstCreation".into(),
                    properties: vec![],
                },
            ]
        );
        // Nothing is left behind for the next evaluation.
        let (_, again) = collecting_events(|| handler(&e, "1"));
        assert!(again.is_empty());
    }

    #[test]
    fn a_failing_handler_keeps_what_it_raised_before_failing() {
        let e = engine();
        let (out, raised) =
            collecting_events(|| handler(&e, r#"raise_event("A_B"); throw "broken""#));
        assert!(out.unwrap_err().contains("broken"));
        assert_eq!(raised.len(), 1);
    }

    #[test]
    fn bad_calls_are_evaluation_errors_naming_the_problem() {
        let e = engine();
        for (src, says) in [
            (r#"raise_event("1bad")"#, "not a CIM class name"),
            (r#"raise_event("has space")"#, "not a CIM class name"),
            (
                r#"raise_event("C", #{ "a-b": 1 })"#,
                "not a CIM property name",
            ),
            (
                r#"raise_event("C", #{ P: [1, 2] })"#,
                "property P is a array",
            ),
            (r#"raise_event("C", #{ P: () })"#, "property P is a ()"),
            (r#"raise_event(42)"#, "raise_event"),
            (
                r#"for i in 0..100 { raise_event("C") }"#,
                "at most 64 events",
            ),
        ] {
            let (out, raised) = collecting_events(|| handler(&e, src));
            let err = out.expect_err(src);
            assert!(err.contains(says), "{src}: {err}");
            if !src.starts_with("for") {
                assert!(raised.is_empty(), "{src}");
            } else {
                assert_eq!(raised.len(), MAX_RAISED);
            }
        }
    }

    #[test]
    fn sensor_expressions_cannot_raise() {
        let e = engine();
        let err =
            compile_sensor_expr(&e, r#"if raise_event("C") == () { 1 } else { 2 }"#).unwrap_err();
        assert!(err.contains("cannot call raise_event"), "{err}");
        // Outside a collection (as a sensor reading is evaluated) the call fails.
        let err = handler(&e, r#"raise_event("C")"#).unwrap_err();
        assert!(err.contains("works only in a command handler"), "{err}");
    }

    #[test]
    fn cim_names() {
        for ok in ["CIM_AlertIndication", "_x", "a1"] {
            assert!(is_cim_name(ok), "{ok}");
        }
        for bad in ["", "1a", "a-b", "a b", "é", &"a".repeat(257)] {
            assert!(!is_cim_name(bad), "{bad}");
        }
    }
}

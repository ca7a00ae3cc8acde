//! The Rhai sandbox for scenario scripts: sensor `expr` sources now, shell command
//! handlers later. One engine configuration, used everywhere, so that a script that
//! loads in one place behaves the same in another.
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

use rhai::packages::{
    BasicArrayPackage, BasicMapPackage, BasicMathPackage, CorePackage, LogicPackage,
    MoreStringPackage, Package,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rhai::{AST, Dynamic, Engine, OptimizationLevel, Scope};

/// The operation budget of one evaluation.
pub const MAX_OPERATIONS: u64 = 10_000;
/// The longest string a script may build, in bytes.
pub const MAX_STRING_SIZE: usize = 4096;

/// A new sandboxed engine (see the module docs for what it allows).
pub fn engine() -> Engine {
    let mut e = Engine::new_raw();
    e.register_global_module(CorePackage::new().as_shared_module());
    e.register_global_module(LogicPackage::new().as_shared_module());
    e.register_global_module(BasicMathPackage::new().as_shared_module());
    e.register_global_module(MoreStringPackage::new().as_shared_module());
    e.register_global_module(BasicArrayPackage::new().as_shared_module());
    e.register_global_module(BasicMapPackage::new().as_shared_module());
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

/// Compiles a sensor expression (an expression, not a script: no statements or loops).
pub fn compile_sensor_expr(engine: &Engine, expr: &str) -> Result<AST, String> {
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
}

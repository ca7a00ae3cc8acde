//! The little PowerShell syntax the mock reads in script text (a CREATE_PIPELINE
//! command with `IsScript`, `Invoke-Expression -Command ...`): statements separated by
//! newlines or `;`, each a pipeline of stages separated by `|`, each stage a command
//! with named (`-Name value`, `-Name:value`, switches) and positional arguments, or an
//! expression (a variable such as `$PSVersionTable.PSVersion`, a string or a number).
//! Blocks (`{...}`, `(...)`, `@{...}`) are kept whole as one argument's text. Anything
//! the engine does not know is then PowerShell's CommandNotFound, not a parse error.

use psrp::Value;

/// One argument of a command as written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    /// The parameter name (without `-`), or `None` for a positional argument.
    pub name: Option<String>,
    /// The value (`Null` for a switch).
    pub value: Value,
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stage {
    /// A command and its arguments.
    Command { name: String, args: Vec<Arg> },
    /// An expression: a variable path (`$pwd.Path`) or a literal value.
    Variable(String),
    /// A literal value.
    Literal(Value),
}

/// Splits `text` at `sep` characters outside quotes and brackets.
fn split_outside(text: &str, seps: &[char]) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '{' | '(' | '[' => {
                    depth += 1;
                    cur.push(c);
                }
                '}' | ')' | ']' => {
                    depth -= 1;
                    cur.push(c);
                }
                c if depth <= 0 && seps.contains(&c) => parts.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            },
        }
    }
    parts.push(cur);
    parts
}

/// The statements of a script, each a pipeline of stages. Comments (`# ...` to the end
/// of a line) and empty statements are dropped.
pub(crate) fn parse(script: &str) -> Vec<Vec<Stage>> {
    let uncommented: String = script
        .lines()
        .map(|l| match l.trim_start().starts_with('#') {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    split_outside(&uncommented, &[';', '\n'])
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .map(|s| {
            split_outside(&s, &['|'])
                .iter()
                .map(|stage| stage_of(stage.trim()))
                .collect()
        })
        .collect()
}

/// Words of a stage (the shared PowerShell tokenizer): each word's text and whether
/// it was quoted.
fn words(text: &str) -> Vec<(String, bool)> {
    machine::shell::powershell::words(text)
        .into_iter()
        .map(|w| (w.text, w.quoted))
        .collect()
}

/// A bare word as a value: a number when it reads as one, else a string.
fn bare_value(word: &str) -> Value {
    if let Ok(i) = word.parse::<i32>() {
        return Value::I32(i);
    }
    if let Ok(i) = word.parse::<i64>() {
        return Value::I64(i);
    }
    match word.to_ascii_lowercase().as_str() {
        "$true" => Value::Bool(true),
        "$false" => Value::Bool(false),
        "$null" => Value::Null,
        _ => Value::string(word),
    }
}

fn stage_of(text: &str) -> Stage {
    let ws = words(text);
    let Some((first, quoted)) = ws.first() else {
        return Stage::Literal(Value::Null);
    };
    if *quoted {
        return Stage::Literal(Value::string(first.as_str()));
    }
    if first.starts_with('$') {
        return Stage::Variable(first.clone());
    }
    if ws.len() == 1 && first.parse::<f64>().is_ok() {
        return Stage::Literal(bare_value(first));
    }
    let mut args = Vec::new();
    let mut rest = ws[1..].iter().peekable();
    while let Some((w, quoted)) = rest.next() {
        let param = (!quoted)
            .then(|| w.strip_prefix('-'))
            .flatten()
            .filter(|p| p.chars().next().is_some_and(char::is_alphabetic));
        match param {
            Some(p) => {
                if let Some((n, v)) = p.split_once(':') {
                    args.push(Arg {
                        name: Some(n.to_owned()),
                        value: bare_value(v),
                    });
                    continue;
                }
                let takes_value = rest.peek().is_some_and(|(next, q)| {
                    *q || !next.starts_with('-')
                        || next[1..].chars().next().is_some_and(|c| c.is_ascii_digit())
                });
                let value = if takes_value {
                    let (v, q) = rest
                        .next()
                        .map(|(v, q)| (v.clone(), *q))
                        .unwrap_or_default();
                    if q { Value::string(v) } else { bare_value(&v) }
                } else {
                    Value::Null
                };
                args.push(Arg {
                    name: Some(p.to_owned()),
                    value,
                });
            }
            None => args.push(Arg {
                name: None,
                value: if *quoted {
                    Value::string(w.as_str())
                } else {
                    bare_value(w)
                },
            }),
        }
    }
    Stage::Command {
        name: first.clone(),
        args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(name: &str, args: Vec<(Option<&str>, Value)>) -> Stage {
        Stage::Command {
            name: name.into(),
            args: args
                .into_iter()
                .map(|(n, value)| Arg {
                    name: n.map(str::to_owned),
                    value,
                })
                .collect(),
        }
    }

    #[test]
    fn statements_pipelines_and_arguments() {
        let s = parse(
            "# a comment\nGet-Service -Name 'Win RM' | Select-Object -First 1; Write-Output \"a;b\" 3 -Verbose\n$pwd.Path",
        );
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(
            s[0],
            vec![
                cmd("Get-Service", vec![(Some("Name"), Value::string("Win RM"))]),
                cmd("Select-Object", vec![(Some("First"), Value::I32(1))]),
            ]
        );
        assert_eq!(
            s[1],
            vec![cmd(
                "Write-Output",
                vec![
                    (None, Value::string("a;b")),
                    (None, Value::I32(3)),
                    (Some("Verbose"), Value::Null)
                ]
            )]
        );
        assert_eq!(s[2], vec![Stage::Variable("$pwd.Path".into())]);
    }

    #[test]
    fn blocks_quotes_and_literals_stay_whole() {
        let s = parse("Invoke-Command { a | b; c } -Arg:5; 'it''s'; 42");
        assert_eq!(
            s[0],
            vec![cmd(
                "Invoke-Command",
                vec![
                    (None, Value::string("{ a | b; c }")),
                    (Some("Arg"), Value::I32(5))
                ]
            )]
        );
        assert_eq!(s[1], vec![Stage::Literal(Value::string("it's"))]);
        assert_eq!(s[2], vec![Stage::Literal(Value::I32(42))]);
        assert_eq!(
            parse("Write-Progress -Activity x -PercentComplete -1")[0],
            vec![cmd(
                "Write-Progress",
                vec![
                    (Some("Activity"), Value::string("x")),
                    (Some("PercentComplete"), Value::I32(-1))
                ]
            )]
        );
        assert!(parse("  \n ; ").is_empty());
    }
}

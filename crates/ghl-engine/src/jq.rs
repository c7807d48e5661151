//! jq expressions (the `jaq` crates): field mappings, filters and `{{ }}` templates are all
//! jq, evaluated on `{trigger, steps, now}`. An expression is bounded (length, nesting,
//! operators) before jaq sees it: jaq recurses once per level, and too deep overflows the stack.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, RcIter};
use jaq_json::Val;
use serde_json::Value;

/// The longest jq expression or `{{ }}` template, in bytes.
pub const MAX_LENGTH: usize = 4096;
/// How deep brackets (`(`, `[`, `{`, `"\( )"`) may nest in one expression.
pub const MAX_NESTING: usize = 32;
/// How many operators and keywords (`|`, `+`, `,`, `and`, `if`, `as`, ...) one expression may
/// hold: a chain of them is as deep, for jaq, as as many brackets.
pub const MAX_OPERATORS: usize = 100;

/// jq builtins that loop, recurse or build data from a stream or a text without bound: jaq
/// evaluates and drops values recursively, so `reduce range(100000) as $i (null; [.])`
/// overflows the stack. `env` would read the process's environment (its secrets).
pub const UNBOUNDED: [&str; 11] = [
    "reduce",
    "foreach",
    "recurse",
    "repeat",
    "while",
    "until",
    "range",
    "setpath",
    "fromstream",
    "fromjson",
    "env",
];

/// Why a jq expression or `{{ }}` template is refused, or failed on its input. jaq's own
/// errors hold its values (not `Send`), so they are kept as their words, with their column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JqError {
    /// Too long, too deep, or using what flows may not: refused before jaq sees it.
    #[error("{0}")]
    OutOfBounds(String),
    /// Not valid jq: what jaq expected or does not know, and where.
    #[error("invalid jq `{}`: {reason}", shown(code))]
    Invalid { code: String, reason: String },
    /// A template with `{{` and no `}}`.
    #[error("unclosed `{{{{` in `{0}`")]
    Unclosed(String),
    /// Valid, but it failed on this input.
    #[error("`{code}` failed: {reason}")]
    Failed { code: String, reason: String },
}

/// A compiled jq program.
pub struct Program {
    filter: jaq_core::Filter<Native<Val>>,
    source: String,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Program({:?})", self.source)
    }
}

impl Program {
    /// Compiles `code`, or says in words why it is not valid jq, and where.
    pub fn compile(code: &str) -> Result<Self, JqError> {
        check_bounds(code)?;
        let arena = Arena::default();
        let loader = Loader::new(jaq_std::defs().chain(jaq_json::defs()));
        let invalid = |reason| JqError::Invalid { code: code.to_owned(), reason };
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| invalid(load_errors(code, &errors)))?;
        let filter = Compiler::default()
            .with_funs(jaq_std::funs().chain(jaq_json::funs()))
            .compile(modules)
            .map_err(|errors| invalid(undefined(code, &errors)))?;
        Ok(Self { filter, source: code.to_owned() })
    }

    /// The first value the program yields for `input`.
    pub fn first(&self, input: &Value) -> Result<Value, JqError> {
        let inputs = RcIter::new(core::iter::empty());
        let mut outputs = self.filter.run((Ctx::new([], &inputs), Val::from(input.clone())));
        match outputs.next() {
            Some(Ok(value)) => Ok(Value::from(value)),
            Some(Err(err)) => {
                Err(JqError::Failed { code: self.source.clone(), reason: err.to_string() })
            }
            None => Ok(Value::Null),
        }
    }

    /// A filter's verdict: jq truthiness (anything but `false` and `null`).
    pub fn holds(&self, input: &Value) -> Result<bool, JqError> {
        Ok(!matches!(self.first(input)?, Value::Null | Value::Bool(false)))
    }
}

/// A text with `{{ expression }}` parts.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Expression(Program),
}

impl Template {
    pub fn compile(text: &str) -> Result<Self, JqError> {
        if text.len() > MAX_LENGTH {
            return Err(JqError::OutOfBounds(format!(
                "the template is {} bytes long; at most {MAX_LENGTH} are allowed",
                text.len()
            )));
        }
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(length) = rest[start + 2..].find("}}") else {
                return Err(JqError::Unclosed(text.to_owned()));
            };
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            parts.push(Part::Expression(Program::compile(
                rest[start + 2..start + 2 + length].trim(),
            )?));
            rest = &rest[start + 2 + length + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    pub fn render(&self, input: &Value) -> Result<String, JqError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expression(program) => match program.first(input)? {
                    Value::String(text) => out.push_str(&text),
                    Value::Null => {}
                    other => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(out)
    }
}

/// Refuses an expression too long or too deep for jaq, by one pass over its characters that
/// follows jaq's lexer as far as depth goes: brackets, strings with `\( )` inside, comments.
fn check_bounds(code: &str) -> Result<(), JqError> {
    if code.len() > MAX_LENGTH {
        return Err(JqError::OutOfBounds(format!(
            "the jq expression is {} bytes long; at most {MAX_LENGTH} are allowed",
            code.len()
        )));
    }
    #[derive(PartialEq)]
    enum Open {
        Bracket,
        Text,
    }
    let mut open: Vec<Open> = Vec::new();
    let mut operators = 0;
    let mut chars = code.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let in_text = open.last() == Some(&Open::Text);
        let opened = match c {
            '\\' if in_text => match chars.next() {
                Some((_, '(')) => Some(Open::Bracket),
                _ => None,
            },
            '"' if in_text => {
                open.pop();
                None
            }
            _ if in_text => None,
            '"' => Some(Open::Text),
            '(' | '[' | '{' => Some(Open::Bracket),
            ')' | ']' | '}' => {
                if open.last() == Some(&Open::Bracket) {
                    open.pop();
                }
                None
            }
            '#' => {
                while chars.next_if(|(_, c)| *c != '\n').is_some() {}
                None
            }
            'a'..='z' | 'A'..='Z' | '_' => {
                let mut end = at + c.len_utf8();
                while let Some((next, c)) =
                    chars.next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                {
                    end = next + c.len_utf8();
                }
                match &code[at..end] {
                    "def" => {
                        return Err(JqError::OutOfBounds(format!(
                            "`def` at column {}: flows cannot define jq functions (a recursive \
                             one could exhaust the stack); write the expression inline",
                            column(code, at)
                        )))
                    }
                    // `.range` is a key and `$range` a variable, not the builtin.
                    name if UNBOUNDED.contains(&name) && !code[..at].ends_with(['.', '$']) => {
                        return Err(JqError::OutOfBounds(format!(
                            "`{name}` at column {}: flows cannot use jq's loops and recursion \
                             ({}); they can build data too deep for the stack or never end",
                            column(code, at),
                            UNBOUNDED.join(", ")
                        )))
                    }
                    "and" | "or" | "if" | "elif" | "reduce" | "foreach" | "try" | "label"
                    | "as" => operators += 1,
                    _ => {}
                }
                None
            }
            '|' | ',' | '+' | '-' | '*' | '/' | '%' | '=' | '<' | '>' | '!' | '?' => {
                operators += 1;
                while chars.next_if(|(_, c)| "|=!<>+*/%".contains(*c)).is_some() {}
                None
            }
            _ => None,
        };
        if let Some(opened) = opened {
            open.push(opened);
            let depth = open.iter().filter(|open| **open == Open::Bracket).count();
            if depth > MAX_NESTING {
                return Err(JqError::OutOfBounds(format!(
                    "brackets nest more than {MAX_NESTING} deep at column {}; split the \
                     expression over several steps",
                    column(code, at)
                )));
            }
        }
        if operators > MAX_OPERATORS {
            return Err(JqError::OutOfBounds(format!(
                "more than {MAX_OPERATORS} operators (`|`, `+`, `,`, `and`, ...) by column {}; \
                 split the expression over several steps",
                column(code, at)
            )));
        }
    }
    Ok(())
}

/// An expression as an error shows it: its first 80 characters.
fn shown(code: &str) -> String {
    match code.char_indices().nth(80) {
        Some((cut, _)) => format!("{}…", &code[..cut]),
        None => code.to_owned(),
    }
}

/// The 1-based column of byte `at` in `code`, counted in characters.
fn column(code: &str, at: usize) -> usize {
    code.get(..at).map_or(at, |before| before.chars().count()) + 1
}

/// jaq's lex and parse errors in words: what was expected, where, and what was found.
fn load_errors(code: &str, errors: &jaq_core::load::Errors<&str, ()>) -> String {
    use jaq_core::load::Error;
    let mut said = Vec::new();
    for (_, error) in errors {
        match error {
            Error::Io(errors) => {
                said.extend(errors.iter().map(|(path, error)| format!("`{path}`: {error}")))
            }
            Error::Lex(errors) => said.extend(
                errors.iter().map(|(expected, found)| expected_at(code, expected.as_str(), found)),
            ),
            Error::Parse(errors) => said.extend(
                errors.iter().map(|(expected, found)| expected_at(code, expected.as_str(), found)),
            ),
        }
    }
    said.join("; ")
}

/// `expected a term at column 9, found `)``; the end of the expression is said so.
fn expected_at(code: &str, expected: &str, found: &str) -> String {
    let Some(at) = offset(code, found) else { return format!("expected {expected}") };
    let shown: String = found.chars().take(20).collect();
    if shown.trim().is_empty() {
        format!("expected {expected} at the end of the expression")
    } else {
        format!("expected {expected} at column {}, found `{shown}`", column(code, at))
    }
}

/// Names jq refers to but does not know, with their columns.
fn undefined(code: &str, errors: &jaq_core::compile::Errors<&str, ()>) -> String {
    use jaq_core::compile::Undefined;
    let mut said = Vec::new();
    for (name, kind) in errors.iter().flat_map(|(_, errors)| errors) {
        let what = match kind {
            Undefined::Filter(arity) => {
                format!("no jq function `{name}` taking {arity} argument{}", plural(*arity))
            }
            Undefined::Var => format!("undefined variable `{name}`"),
            Undefined::Label => format!("undefined label `{name}`"),
            Undefined::Mod => format!("no module `{name}`"),
            _ => format!("`{name}` is not defined"),
        };
        said.push(match offset(code, name) {
            Some(at) => format!("{what} (column {})", column(code, at)),
            None => what,
        });
    }
    said.join("; ")
}

fn plural(count: usize) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

/// Where `part`, a slice of `code`, starts in it.
fn offset(code: &str, part: &str) -> Option<usize> {
    let at = (part.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    (at <= code.len()).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mappings_filters_and_templates_are_jq() {
        let input = json!({ "trigger": { "firstName": "Ada", "tags": ["vip"] }, "steps": [] });
        let greeting =
            Program::compile(r#""Welcome " + (.trigger.firstName // "there")"#).expect("compiles");
        assert_eq!(greeting.first(&input).expect("runs"), json!("Welcome Ada"));
        let vip = Program::compile(r#".trigger.tags | index("vip") != null"#).expect("compiles");
        assert!(vip.holds(&input).expect("runs"));
        let template =
            Template::compile("Hello {{ .trigger.firstName }}, tags: {{ .trigger.tags | length }}")
                .expect("compiles");
        assert_eq!(template.render(&input).expect("renders"), "Hello Ada, tags: 1");
        assert!(Program::compile(".trigger.(").is_err());
        assert!(Program::compile("nosuchfunction(1)").is_err());
        assert!(Template::compile("Hello {{ .trigger").is_err());
    }

    /// The worst expressions the bounds let through compile and run on a thread with tokio's
    /// 2 MiB stack, in a debug build (whose frames are the largest); one step further each is
    /// refused with the limit named.
    #[test]
    fn the_deepest_allowed_expressions_fit_a_worker_stack() {
        let nested = |depth: usize, inner: &str| {
            format!("{}{inner}{}", "(".repeat(depth), ")".repeat(depth))
        };
        let plus = |count: usize| format!("1{}", " + 1".repeat(count));
        let pipes = |count: usize| format!(".{}", " | .".repeat(count));
        let interpolated =
            |depth: usize| format!("{}1{}", "\"\\(".repeat(depth), ")\"".repeat(depth));
        let allowed = [
            nested(MAX_NESTING, "1"),
            plus(MAX_OPERATORS),
            pipes(MAX_OPERATORS),
            nested(MAX_NESTING - 1, &plus(MAX_OPERATORS)),
            nested(MAX_NESTING - 1, &pipes(MAX_OPERATORS)),
            interpolated(MAX_NESTING),
        ];
        let ran = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                for code in &allowed {
                    let program = Program::compile(code).expect("within the bounds");
                    program.first(&serde_json::json!({ "trigger": {} })).expect("runs");
                }
            })
            .expect("thread")
            .join();
        assert!(ran.is_ok());
        let refused = [
            (nested(MAX_NESTING + 1, "1"), "brackets nest more than 32"),
            (nested(1_000, "1"), "brackets nest more than 32"),
            (plus(MAX_OPERATORS + 1), "more than 100 operators"),
            (plus(1_000), "more than 100 operators"),
            (pipes(1_000), "more than 100 operators"),
            (interpolated(MAX_NESTING + 1), "brackets nest more than 32"),
            ("x".repeat(MAX_LENGTH + 1), "at most 4096 are allowed"),
            ("def f: f; f".into(), "cannot define jq functions"),
            ("reduce range(100000) as $i (null; [.])".into(), "`reduce` at column 1"),
            ("[limit(100000; repeat([.]))]".into(), "`repeat` at column 16"),
            ("env.GHL_CONNECTOR_MASTER_KEY".into(), "`env` at column 1"),
            ("\"\\(.a | fromjson)\"".into(), "`fromjson` at column 9"),
        ];
        for code in [".trigger.range", "1 as $env | .until? // $env"] {
            Program::compile(code).expect("keys and variables named like builtins");
        }
        for (code, reason) in refused {
            let error = Program::compile(&code).expect_err(reason).to_string();
            assert!(error.contains(reason), "{reason}: {error}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong_and_where() {
        let cases = [
            (".trigger | (", "expected closing parenthesis at the end of the expression"),
            (".a +", "expected term at the end of the expression"),
            ("nosuchfunction(1)", "no jq function `nosuchfunction` taking 1 argument (column 1)"),
            (".a | $nope", "undefined variable `$nope` (column 6)"),
            (".a ]", "column 4, found `]`"),
        ];
        for (code, said) in cases {
            let error = Program::compile(code).expect_err(code).to_string();
            assert!(error.contains(said), "{code}: {error}");
            assert!(!error.contains("Parse(") && !error.contains("Lex("), "no debug dump: {error}");
        }
    }
}

#[cfg(test)]
mod null_paths {
    use super::*;
    use serde_json::json;

    /// Unlike jq, jaq refuses to index `null`: a path through a missing record is an error,
    /// and `(path)?` (with `//` for a default) is how a flow says "if there is one".
    #[test]
    fn paths_through_null_need_a_question_mark() {
        let context = json!({ "steps": [null] });
        assert!(Program::compile(".steps[0].task.id").expect("compiles").first(&context).is_err());
        let guarded = Program::compile(r#"(.steps[0].task.id)? // "none""#).expect("compiles");
        assert_eq!(guarded.first(&context).expect("runs"), json!("none"));
        let template = Template::compile("task {{ (.steps[0].task.id)? }}").expect("compiles");
        assert_eq!(template.render(&context).expect("renders"), "task ");
    }
}

//! `m4host doc`: the reference of every primitive, generated from the primitive table, and the
//! `.d.rhai` editor definitions generated from the engine the table registered.

use crate::command::cli::DocArgs;
use crate::error::{Error, Result};
use crate::host::{Host, Mode};
use crate::script::primitives::{self, Primitive};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The width the reference is wrapped to: the terminal's ($COLUMNS), within 60..=120, else 100.
fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .map_or(100, |c| c.clamp(60, 120))
}

/// `text` wrapped to `width`, every line indented by `indent` spaces (words never split).
fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{pad}{line}\n"));
    }
    out
}

/// `label` padded to `label_width` after `indent` spaces, then `text` wrapped beside it, its
/// later lines under its first word.
fn hanging(label: &str, text: &str, indent: usize, label_width: usize, width: usize) -> String {
    let body = wrap(text, indent + label_width, width);
    let first = body.trim_start();
    format!(
        "{}{label:<label_width$}{first}",
        " ".repeat(indent),
        label_width = label_width
    )
}

/// "default X", or "required" as is.
fn default_text(default: &str) -> String {
    if default.starts_with("required") {
        default.to_owned()
    } else {
        format!("default {default}")
    }
}

/// The codes a row raises, each with what it means.
fn raised(p: &Primitive) -> Vec<(&'static str, &'static str)> {
    p.raised_codes()
        .into_iter()
        .map(|c| (c.as_str(), c.meaning()))
        .collect()
}

/// The result: its keys where the row states a shape, else what the doc says it returns.
fn result_text(p: &Primitive) -> String {
    match p.shape {
        primitives::Shape::Value => format!("{} (described above)", p.returns),
        primitives::Shape::Outcome(keys) => format!(
            "#{{{}}}: the same keys in pass, fail and error (absent facts are ())",
            keys.join(", ")
        ),
        primitives::Shape::PerItem(keys) => format!(
            "one map per item, each #{{{}}}: the same keys in pass, fail and error",
            keys.join(", ")
        ),
    }
}

/// A reference page: what it does, parameters, options (type, default, meaning), result,
/// raises, failure, AWS actions, and an example with what it prints, wrapped to the terminal.
fn text_entry(p: &Primitive) -> String {
    let w = width();
    let mut out = format!("{}\n", p.signature());
    let mut section = |title: &str, body: String| {
        out.push_str(&format!("  {title}\n{body}"));
    };
    section("what it does", wrap(&p.what_it_does(), 4, w));
    let params: String = p
        .params
        .iter()
        .map(|(n, t)| format!("    {n}: {}\n", t.rhai_name()))
        .collect();
    section(
        "parameters",
        if params.is_empty() {
            "    none\n".into()
        } else {
            params
        },
    );
    if !p.options.is_empty() {
        let options: String = p
            .options
            .iter()
            .map(|o| {
                format!(
                    "{}{}",
                    wrap(
                        &format!("{} ({}; {})", o.name, o.ty, default_text(o.default)),
                        4,
                        w
                    ),
                    wrap(o.meaning, 8, w)
                )
            })
            .collect();
        section("options", options);
    }
    section("result", wrap(&result_text(p), 4, w));
    let raises: String = raised(p)
        .into_iter()
        .map(|(c, m)| hanging(c, m, 4, 21, w))
        .collect();
    section("raises", raises);
    section("failure", wrap(p.failure.describe(), 4, w));
    section("aws", wrap(&aws_line(p), 4, w));
    let example: String = p.example.lines().map(|l| format!("    {l}\n")).collect();
    section("example", example);
    let prints: String = p
        .example_prints
        .iter()
        .map(|l| format!("    {l}\n"))
        .collect();
    section("prints", prints);
    out
}

/// The AWS actions a row may send, each with what it is authorized on; "none" for a primitive
/// that never calls AWS.
fn aws_line(p: &Primitive) -> String {
    if p.aws.is_empty() {
        return "none".to_owned();
    }
    p.aws
        .iter()
        .map(crate::rules::permissions::describe)
        .collect::<Vec<_>>()
        .join(", ")
}

fn markdown_entry(p: &Primitive) -> String {
    let mut out = format!("### `{}`\n\n{}\n\n", p.signature(), p.what_it_does());
    if !p.params.is_empty() {
        out.push_str("**Parameters**\n\n");
        for (n, t) in p.params {
            out.push_str(&format!("- `{n}`: {}\n", t.rhai_name()));
        }
        out.push('\n');
    }
    if !p.options.is_empty() {
        out.push_str("**Options**\n\n| option | type | default | meaning |\n|---|---|---|---|\n");
        for o in p.options {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                o.name,
                o.ty,
                default_text(o.default),
                o.meaning
            ));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "**Result**: {}.\n\n**Raises**\n\n",
        result_text(p)
    ));
    for (c, m) in raised(p) {
        out.push_str(&format!("- `{c}`: {m}\n"));
    }
    out.push_str(&format!(
        "\n**Failure**: {}.\n\n**AWS**: {}.\n\n```rhai\n{}\n```\n\nprints:\n\n```text\n{}\n```\n",
        p.failure.describe(),
        aws_line(p),
        p.example,
        p.example_prints.join("\n")
    ));
    out
}

fn json_entry(p: &Primitive) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "signature": p.signature(),
        "doc": p.full_doc(),
        "what_it_does": p.what_it_does(),
        "parameters": p.params.iter().map(|(n, t)| serde_json::json!({"name": n, "type": t.rhai_name()})).collect::<Vec<_>>(),
        "options": p.options.iter().map(|o| serde_json::json!({"name": o.name, "type": o.ty, "default": o.default, "meaning": o.meaning})).collect::<Vec<_>>(),
        "failure": p.failure.describe(),
        "result_keys": p.shape.keys(),
        "per_item": matches!(p.shape, primitives::Shape::PerItem(_)),
        "example": p.example,
        "example_prints": p.example_prints,
        "raises": raised(p).into_iter().map(|(c, m)| serde_json::json!({"code": c, "meaning": m})).collect::<Vec<_>>(),
        "aws_actions": p.aws.iter().map(|a| a.action).collect::<Vec<_>>(),
    })
}

/// The catchable error codes and what each means, after the primitives.
fn codes_table(markdown: bool) -> String {
    use crate::rules::error_code::ErrorCode;
    let rows = ErrorCode::ALL.iter().map(|c| {
        if markdown {
            format!("| `{c}` | {} |\n", c.meaning())
        } else {
            format!("  {:<20} {}\n", c.as_str(), c.meaning())
        }
    });
    let head = if markdown {
        "### Error codes\n\n| code | meaning |\n|---|---|\n"
    } else {
        "error codes (catch with try { ... } catch (e) { e.code }):\n"
    };
    std::iter::once(head.to_owned()).chain(rows).collect()
}

pub fn run(args: DocArgs) -> Result<i32> {
    if let Some(dir) = &args.definitions {
        if dir.exists() && !dir.is_dir() {
            return Err(Error::usage(
                format!("{} exists and is not a folder", dir.display()),
                "--definitions takes a folder (created when missing) to write the .d.rhai files into",
            ));
        }
        let host = Arc::new(Host::new(None, Mode::default(), BTreeMap::new(), None)?);
        let engine = crate::script::engine::build(&host, std::path::Path::new("."));
        std::fs::create_dir_all(dir)
            .and_then(|_| engine.definitions().with_headers(true).write_to_dir(dir))
            .map_err(|e| {
                Error::usage(
                    format!("cannot write definitions to {}: {e}", dir.display()),
                    "give a writable folder",
                )
            })?;
        crate::out::line(&format!("wrote editor definitions to {}", dir.display()));
        return Ok(0);
    }
    let rows: Vec<&Primitive> = match &args.name {
        None => primitives::all().collect(),
        Some(name) => {
            let rows: Vec<&Primitive> = primitives::all().filter(|p| p.name == name).collect();
            if rows.is_empty() {
                let near: Vec<&str> = primitives::all()
                    .map(|p| p.name)
                    .filter(|n| n.contains(name.as_str()) || name.contains(n))
                    .collect();
                return Err(Error::usage(
                    format!("no primitive named `{name}`"),
                    if near.is_empty() {
                        "run `m4host doc` for the list".to_owned()
                    } else {
                        format!("did you mean {}?", near.join(", "))
                    },
                ));
            }
            rows
        }
    };
    if args.json {
        let table: Vec<serde_json::Value> = rows.iter().map(|p| json_entry(p)).collect();
        crate::out::line(&serde_json::Value::Array(table).to_string());
        return Ok(0);
    }
    let mut body: Vec<String> = rows
        .iter()
        .map(|p| {
            if args.markdown {
                markdown_entry(p)
            } else {
                text_entry(p)
            }
        })
        .collect();
    if args.name.is_none() {
        body.push(codes_table(args.markdown));
    }
    crate::out::line(&body.join("\n"));
    Ok(0)
}

//! `m4host doc`: the reference of every primitive, generated from the primitive table, and the
//! `.d.rhai` editor definitions generated from the engine the table registered.

use crate::command::cli::DocArgs;
use crate::error::{Error, Result};
use crate::host::{Host, Mode};
use crate::script::primitives::{self, Primitive};
use std::collections::BTreeMap;
use std::sync::Arc;

fn text_entry(p: &Primitive) -> String {
    let example: String = p.example.lines().map(|l| format!("    {l}\n")).collect();
    let prints: String = p
        .example_prints
        .iter()
        .map(|l| format!("    {l}\n"))
        .collect();
    format!(
        "{}\n  {}\n  failure: {}\n  aws: {}\n  example:\n{example}  prints:\n{prints}",
        p.signature(),
        p.full_doc(),
        p.failure.describe(),
        aws_line(p)
    )
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
    format!(
        "### `{}`\n\n{}\n\nFailure: {}.\n\nAWS: {}.\n\n```rhai\n{}\n```\n\nprints:\n\n```text\n{}\n```\n",
        p.signature(),
        p.full_doc(),
        p.failure.describe(),
        aws_line(p),
        p.example,
        p.example_prints.join("\n")
    )
}

fn json_entry(p: &Primitive) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "signature": p.signature(),
        "doc": p.full_doc(),
        "failure": p.failure.describe(),
        "result_keys": p.shape.keys(),
        "per_item": matches!(p.shape, primitives::Shape::PerItem(_)),
        "example": p.example,
        "example_prints": p.example_prints,
        "raises": p.raises.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
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

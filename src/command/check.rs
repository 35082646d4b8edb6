//! `m4host check`: compile scripts and every module they import, confined as at run time, and
//! flag calls to functions that exist nowhere (no primitive, no built-in, no function defined in
//! the file). No network, no evaluation.

use crate::command::cli::CheckArgs;
use crate::error::{Error, Result};
use crate::host::{Host, Mode};
use crate::script::resolver::ConfinedResolver;
use rhai::{ASTNode, Expr, Stmt};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Words that look like calls but are language keywords.
const KEYWORD_CALLS: &[&str] = &[
    "print",
    "debug",
    "type_of",
    "Fn",
    "call",
    "curry",
    "is_shared",
    "is_def_fn",
    "is_def_var",
    "this",
];

fn collect_scripts(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            if entry.is_dir() || entry.extension().is_some_and(|e| e == "rhai") {
                collect_scripts(&entry, out)?;
            }
        }
        Ok(())
    } else if path.is_file() {
        out.push(path.to_path_buf());
        Ok(())
    } else {
        Err(Error::usage(
            format!("{} not found", path.display()),
            "give scripts or folders of scripts",
        ))
    }
}

/// Problems found in one file (empty when it is clean).
fn check_file(
    engine: &rhai::Engine,
    known: &BTreeSet<String>,
    file: &Path,
    seen: &mut BTreeSet<PathBuf>,
) -> Vec<String> {
    let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if !seen.insert(canonical.clone()) {
        return Vec::new();
    }
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return vec![format!("{}:1:1: cannot read: {e}", file.display())],
    };
    let ast = match engine.compile(&text) {
        Ok(ast) => ast,
        Err(e) => {
            return vec![format!(
                "{}: syntax error: {}",
                at(file, e.position()),
                e.err_type()
            )]
        }
    };
    let defined: BTreeSet<String> = ast.iter_functions().map(|f| f.name.to_string()).collect();
    let resolver = ConfinedResolver::new(&crate::command::run::script_root(file));
    let source = canonical.display().to_string();
    let mut problems = Vec::new();
    let mut imports = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(x, pos))) => match &x.0 {
                Expr::StringConstant(p, _) => match resolver.locate(Some(&source), p) {
                    Ok(found) => imports.push(found),
                    Err(why) => problems.push(format!("{}: import \"{p}\": {why}", at(file, *pos))),
                },
                _ => problems.push(format!(
                    "{}: import path is not a string constant; it cannot be checked",
                    at(file, *pos)
                )),
            },
            Some(ASTNode::Expr(Expr::FnCall(call, pos)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, pos))) => {
                let name = call.name.as_str();
                if call.namespace.is_empty()
                    && call.op_token.is_none()
                    && !known.contains(name)
                    && !defined.contains(name)
                    && !KEYWORD_CALLS.contains(&name)
                {
                    problems.push(format!(
                        "{}: call to unknown function `{name}`",
                        at(file, *pos)
                    ));
                }
            }
            _ => {}
        }
        true
    });
    for import in imports {
        problems.extend(check_file(engine, known, &import, seen));
    }
    problems
}

pub fn run(args: CheckArgs) -> Result<i32> {
    let mut files = Vec::new();
    for path in &args.scripts {
        collect_scripts(path, &mut files)?;
    }
    let host = Arc::new(Host::new(None, Mode::default(), BTreeMap::new(), None)?);
    let engine = crate::script::engine::build(&host, Path::new("."));
    let known: BTreeSet<String> = engine
        .gen_fn_signatures(true)
        .iter()
        .filter_map(|s| s.split('(').next())
        .map(|n| n.trim().to_owned())
        .collect();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for file in &files {
        if let Some(cycle) = crate::script::resolver::import_cycle(&engine, file) {
            problems.push(format!(
                "{}:1:1: import cycle: {}",
                file.display(),
                crate::script::resolver::describe_cycle(&cycle)
            ));
        }
        problems.extend(check_file(&engine, &known, file, &mut seen));
    }
    if problems.is_empty() {
        crate::out::line(&format!(
            "checked {} script(s) and their imports: no problems",
            seen.len()
        ));
        Ok(0)
    } else {
        // `file:line:col: message`, the form editors and CI problem matchers read.
        for p in &problems {
            crate::out::err_line(p);
        }
        crate::out::err_line(&format!(
            "{} problem(s) in {} script(s)",
            problems.len(),
            seen.len()
        ));
        // Findings are a failed check (1); 2 stays for usage errors (a path that does not exist).
        Ok(1)
    }
}

/// `file:line:col` of a position (1:1 when Rhai gives none).
fn at(file: &Path, pos: rhai::Position) -> String {
    format!(
        "{}:{}:{}",
        file.display(),
        pos.line().unwrap_or(1),
        pos.position().unwrap_or(1)
    )
}

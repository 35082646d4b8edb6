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

/// Function name -> the numbers of parameters it is defined with.
type Arities = BTreeMap<String, BTreeSet<usize>>;

/// The script functions a compiled file defines (private ones included: its own calls reach them).
fn arities(ast: &rhai::AST) -> Arities {
    let mut out = Arities::new();
    for f in ast.iter_functions() {
        out.entry(f.name.to_string())
            .or_default()
            .insert(f.params.len());
    }
    out
}

/// "2" or "1 or 2".
fn listed(counts: &BTreeSet<usize>) -> String {
    counts
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The engine's functions by name, with the numbers of parameters of each form, read from its
/// signatures (`hold(code: String, reason: String) -> ()`).
fn known_arities(engine: &rhai::Engine) -> Arities {
    let mut out = Arities::new();
    for sig in engine.gen_fn_signatures(true) {
        let Some((name, rest)) = sig.split_once('(') else {
            continue;
        };
        let params = rest.rsplit_once(')').map_or("", |(p, _)| p).trim();
        let count = if params.is_empty() {
            0
        } else {
            // Types hold no top-level commas but generic ones (`Map<K, V>` is not written so).
            params.split(", ").count()
        };
        out.entry(name.trim().to_owned()).or_default().insert(count);
    }
    out
}

/// Edits (insert, delete, substitute one character) between two names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The name an author most likely meant: the nearest of `offered` within a third of the name's
/// length (at least one edit), those taking `given` arguments first; with its arity, as
/// ` (did you mean `rb::publish`/2?)`, or nothing when none is near.
fn did_you_mean(name: &str, given: usize, offered: &[&Arities], alias: Option<&str>) -> String {
    let reach = (name.chars().count() / 3).max(1);
    let nearest = offered
        .iter()
        .flat_map(|a| a.iter())
        .map(|(n, counts)| (edit_distance(name, n), !counts.contains(&given), n, counts))
        .filter(|(d, ..)| *d <= reach && *d > 0)
        .min();
    match nearest {
        Some((_, wrong_arity, n, counts)) => {
            let arity = if wrong_arity {
                listed(counts)
            } else {
                given.to_string()
            };
            let full = alias.map_or_else(|| n.clone(), |a| format!("{a}::{n}"));
            format!(" (did you mean `{full}`/{arity}?)")
        }
        None => String::new(),
    }
}

/// Problems found in one file (empty when it is clean).
fn check_file(
    engine: &rhai::Engine,
    known: &Arities,
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
    let defined = arities(&ast);
    let resolver = ConfinedResolver::new(&crate::script::resolver::script_root(file));
    let source = canonical.display().to_string();
    let mut problems = Vec::new();
    let mut imports = Vec::new();
    // What each `import ... as ALIAS` offers: its functions and their arities (None when the
    // module could not be read; its own check reports why).
    let mut modules: BTreeMap<String, Option<Arities>> = BTreeMap::new();
    for stmt in ast.statements() {
        if let Stmt::Import(x, _) = stmt {
            if let Expr::StringConstant(p, _) = &x.0 {
                let offered = resolver
                    .locate(Some(&source), p)
                    .ok()
                    .and_then(|f| std::fs::read_to_string(f).ok())
                    .and_then(|t| engine.compile(&t).ok())
                    .map(|m| arities(&m));
                modules.insert(x.1.as_str().to_owned(), offered);
            }
        }
    }
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
                let given = call.args.len();
                if call.op_token.is_some() || KEYWORD_CALLS.contains(&name) {
                    return true;
                }
                if !call.namespace.is_empty() {
                    // `alias::f(...)`: the module the alias imports must define f with that many
                    // parameters (else "Function not found" at run time).
                    let alias = call.namespace.to_string();
                    if let Some(Some(offered)) = modules.get(&alias) {
                        match offered.get(name) {
                            None => problems.push(format!(
                                "{}: call to unknown function `{alias}::{name}`/{given} (the module imported as `{alias}` defines no `{name}`){}",
                                at(file, *pos),
                                did_you_mean(name, given, &[offered], Some(&alias))
                            )),
                            Some(counts) if !counts.contains(&given) => problems.push(format!(
                                "{}: `{alias}::{name}` takes {} argument(s), given {given}",
                                at(file, *pos),
                                listed(counts)
                            )),
                            Some(_) => {}
                        }
                    }
                    return true;
                }
                let known_counts = known.get(name);
                let defined_counts = defined.get(name);
                if known_counts.is_none() && defined_counts.is_none() {
                    problems.push(format!(
                        "{}: call to unknown function `{name}`/{given}{}",
                        at(file, *pos),
                        did_you_mean(name, given, &[known, &defined], None)
                    ));
                } else {
                    let all: BTreeSet<usize> = known_counts
                        .into_iter()
                        .chain(defined_counts)
                        .flatten()
                        .copied()
                        .collect();
                    if !all.contains(&given) {
                        problems.push(format!(
                            "{}: `{name}` takes {} argument(s), given {given}",
                            at(file, *pos),
                            listed(&all)
                        ));
                    }
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
    let known = known_arities(&engine);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(names: &[(&str, usize)]) -> Arities {
        let mut out = Arities::new();
        for (n, c) in names {
            out.entry((*n).to_owned()).or_default().insert(*c);
        }
        out
    }

    #[test]
    fn a_near_name_is_suggested_with_its_arity_a_far_one_is_not() {
        assert_eq!(edit_distance("publsh", "publish"), 1);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("resolve_handel", "resolve_handle"), 2);
        let rb = offered(&[("publish", 4), ("expect", 3), ("run_steps", 2)]);
        assert_eq!(
            did_you_mean("publsh", 4, &[&rb], Some("rb")),
            " (did you mean `rb::publish`/4?)"
        );
        // The arity it takes, when the call gives another.
        assert_eq!(
            did_you_mean("publsh", 2, &[&rb], Some("rb")),
            " (did you mean `rb::publish`/4?)"
        );
        // Near miss: nothing within a third of the name is offered.
        assert_eq!(did_you_mean("deploy", 1, &[&rb], Some("rb")), "");
        // The same arity wins between two equally near names.
        let two = offered(&[("hold", 2), ("held", 0)]);
        assert_eq!(
            did_you_mean("hald", 0, &[&two], None),
            " (did you mean `held`/0?)"
        );
        assert_eq!(
            did_you_mean("hald", 2, &[&two], None),
            " (did you mean `hold`/2?)"
        );
    }
}

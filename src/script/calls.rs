//! The primitives a script can call, found statically: every call by name in the script and in
//! each module it imports (transitively, confined as at run time), read from the compiled AST
//! without evaluating anything. `m4host policy` grants what these primitives may send; a call
//! inside a branch that never runs still counts, since the policy must hold for every path.

use crate::script::primitives::{self, Primitive};
use crate::script::resolver::ConfinedResolver;
use rhai::{ASTNode, Expr, Stmt};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What a script and its imports call, or why it could not be read whole.
#[derive(Debug, Default)]
pub struct Calls {
    /// Function names called without a namespace (primitives among them).
    pub names: BTreeSet<String>,
    /// Every file read (the script and its imports).
    pub files: BTreeSet<PathBuf>,
    /// A file that could not be read or compiled, or an import that is not a constant path:
    /// then the calls are not known whole, and a policy built from them would be short.
    pub problems: Vec<String>,
}

impl Calls {
    /// The primitive rows called (every row of a name registered more than once).
    pub fn primitives(&self) -> Vec<&'static Primitive> {
        primitives::all()
            .filter(|p| self.names.contains(p.name))
            .collect()
    }
}

/// The calls of `file` and everything it imports.
pub fn of_script(engine: &rhai::Engine, file: &Path) -> Calls {
    let mut calls = Calls::default();
    visit(engine, file, &mut calls);
    calls
}

fn visit(engine: &rhai::Engine, file: &Path, calls: &mut Calls) {
    let canonical = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if !calls.files.insert(canonical.clone()) {
        return;
    }
    let ast = match std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|text| {
            engine
                .compile(&text)
                .map_err(|e| format!("syntax error: {}", e.err_type()))
        }) {
        Ok(ast) => ast,
        Err(why) => {
            calls.problems.push(format!("{}: {why}", file.display()));
            return;
        }
    };
    let resolver = ConfinedResolver::new(&crate::script::resolver::script_root(file));
    let source = canonical.display().to_string();
    let mut imports = Vec::new();
    ast.walk(&mut |path: &[ASTNode]| {
        match path.last() {
            Some(ASTNode::Stmt(Stmt::Import(x, _))) => match &x.0 {
                Expr::StringConstant(p, _) => match resolver.locate(Some(&source), p) {
                    Ok(found) => imports.push(found),
                    Err(why) => calls
                        .problems
                        .push(format!("{}: import \"{p}\": {why}", file.display())),
                },
                _ => calls.problems.push(format!(
                    "{}: an import path is not a string constant",
                    file.display()
                )),
            },
            Some(ASTNode::Expr(Expr::FnCall(call, _)))
            | Some(ASTNode::Stmt(Stmt::FnCall(call, _)))
                if call.namespace.is_empty() && call.op_token.is_none() =>
            {
                calls.names.insert(call.name.to_string());
            }
            // `Fn("name")` and `call("name", ...)` reach a function by a string: counted as a
            // call of that name, so a primitive called that way is not left out of a policy.
            Some(ASTNode::Expr(Expr::StringConstant(s, _)))
                if primitives::all().any(|p| p.name == s.as_str()) =>
            {
                calls.names.insert(s.to_string());
            }
            _ => {}
        }
        true
    });
    for import in imports {
        visit(engine, &import, calls);
    }
}

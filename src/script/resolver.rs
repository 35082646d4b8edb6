//! A module resolver that confines `import` to the running script's folder tree and the repo's
//! `stdlib/` (SPEC §1, issue #2 point 4). Rhai's own `FileModuleResolver` accepts absolute paths
//! and `..` and wraps a block raised at a module's top level in a catchable `ErrorInModule`; this
//! one refuses the former and passes non-catchable errors (a block) through unchanged.

use crate::sync::Locked;
use rhai::{Engine, EvalAltResult, Module, Position, Scope, Shared};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

type SharedModule = Shared<Module>;

#[derive(Debug)]
pub struct ConfinedResolver {
    script_root: PathBuf,
    stdlib_root: Option<PathBuf>,
    cache: Mutex<HashMap<PathBuf, SharedModule>>,
    /// The modules being evaluated now, outermost first: an import of one of them is a cycle.
    loading: Mutex<Vec<PathBuf>>,
    /// Every file loaded, with the SHA-256 of its text: the runbook's provenance in evidence.
    pub loaded: std::sync::Arc<Mutex<std::collections::BTreeMap<String, String>>>,
}

/// Finds the stdlib folder: `M4HOST_STDLIB`, else the nearest `stdlib/` above `start`.
pub fn find_stdlib(start: &Path) -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("M4HOST_STDLIB") {
        return std::fs::canonicalize(dir).ok();
    }
    let start = std::fs::canonicalize(start).ok()?;
    start
        .ancestors()
        .map(|a| a.join("stdlib"))
        .find(|p| p.is_dir())
        .and_then(|p| std::fs::canonicalize(p).ok())
}

/// A refused import is not catchable: confinement is not something a script may try around.
fn refused(path: &str, why: String) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorSystem(
        format!("import \"{path}\" refused"),
        why.into(),
    ))
}

impl ConfinedResolver {
    pub fn new(script_root: &Path) -> ConfinedResolver {
        let script_root =
            std::fs::canonicalize(script_root).unwrap_or_else(|_| script_root.to_path_buf());
        ConfinedResolver {
            stdlib_root: find_stdlib(&script_root),
            script_root,
            cache: Mutex::new(HashMap::new()),
            loading: Mutex::new(Vec::new()),
            loaded: Default::default(),
        }
    }

    /// The same, recording loaded files into `loaded` (shared with the host).
    pub fn recording(
        script_root: &Path,
        loaded: std::sync::Arc<Mutex<std::collections::BTreeMap<String, String>>>,
    ) -> ConfinedResolver {
        ConfinedResolver {
            loaded,
            ..ConfinedResolver::new(script_root)
        }
    }

    /// The file an import path names, or why it is refused.
    pub fn locate(&self, source: Option<&str>, path: &str) -> Result<PathBuf, String> {
        let segments_ok = !path.is_empty()
            && path.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            });
        if !segments_ok {
            return Err(
                "imports are relative paths of plain names: no absolute paths, no `..`".into(),
            );
        }
        let (base, rest) = match path.strip_prefix("stdlib/") {
            Some(rest) => (
                self.stdlib_root
                    .clone()
                    .ok_or("no stdlib/ folder found above the script (or set M4HOST_STDLIB)")?,
                rest,
            ),
            None => {
                let importer_dir = source
                    .map(PathBuf::from)
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| d.starts_with(&self.script_root));
                (
                    importer_dir.unwrap_or_else(|| self.script_root.clone()),
                    path,
                )
            }
        };
        let file = base.join(format!("{}.rhai", rest.trim_end_matches(".rhai")));
        let file =
            std::fs::canonicalize(&file).map_err(|_| format!("no file {}", file.display()))?;
        let inside = file.starts_with(&self.script_root)
            || self
                .stdlib_root
                .as_ref()
                .is_some_and(|s| file.starts_with(s));
        if !inside {
            return Err(format!(
                "{} is outside the script folder {} and stdlib/",
                file.display(),
                self.script_root.display()
            ));
        }
        Ok(file)
    }
}

/// The imports a compiled script makes with constant paths, as (path as written, position).
pub fn constant_imports(ast: &rhai::AST) -> Vec<(String, Position)> {
    let mut found = Vec::new();
    ast.walk(&mut |path: &[rhai::ASTNode]| {
        if let Some(rhai::ASTNode::Stmt(rhai::Stmt::Import(x, pos))) = path.last() {
            if let rhai::Expr::StringConstant(p, _) = &x.0 {
                found.push((p.to_string(), *pos));
            }
        }
        true
    });
    found
}

/// The first import cycle reachable from `file` (`a.rhai -> b.rhai -> a.rhai`), found by reading
/// and compiling the files without evaluating them: an import cycle would otherwise recurse
/// until the stack overflows. Files that do not compile or resolve are left to the run's own
/// errors.
pub fn import_cycle(engine: &Engine, file: &Path) -> Option<Vec<PathBuf>> {
    fn visit(
        engine: &Engine,
        resolver: &ConfinedResolver,
        file: &Path,
        stack: &mut Vec<PathBuf>,
        done: &mut std::collections::BTreeSet<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        if let Some(at) = stack.iter().position(|f| f == file) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(file.to_path_buf());
            return Some(cycle);
        }
        if done.contains(file) {
            return None;
        }
        let text = std::fs::read_to_string(file).ok()?;
        let ast = engine.compile(&text).ok()?;
        stack.push(file.to_path_buf());
        let source = file.display().to_string();
        for (path, _) in constant_imports(&ast) {
            if let Ok(next) = resolver.locate(Some(&source), &path) {
                if let Some(cycle) = visit(engine, resolver, &next, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        done.insert(file.to_path_buf());
        None
    }
    let canonical = std::fs::canonicalize(file).ok()?;
    let root = canonical
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let resolver = ConfinedResolver::new(&root);
    visit(
        engine,
        &resolver,
        &canonical,
        &mut Vec::new(),
        &mut Default::default(),
    )
}

/// A cycle as a reader follows it: file names relative to the first file's folder.
pub fn describe_cycle(cycle: &[PathBuf]) -> String {
    let base = cycle
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    cycle
        .iter()
        .map(|f| f.strip_prefix(&base).unwrap_or(f).display().to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

impl rhai::ModuleResolver for ConfinedResolver {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<SharedModule, Box<EvalAltResult>> {
        let file = self
            .locate(source, path)
            .map_err(|why| refused(path, why))?;
        if let Some(module) = self.cache.locked().get(&file) {
            return Ok(module.clone());
        }
        let mut ast = engine
            .compile_file(file.clone())
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(path.to_owned(), e, pos)))?;
        if let Ok(text) = std::fs::read(&file) {
            self.loaded.locked().insert(
                crate::infra::evidence::source_name(&file),
                crate::infra::evidence::sha256_hex(&text),
            );
        }
        ast.set_source(file.display().to_string());
        {
            let mut loading = self.loading.locked();
            if let Some(at) = loading.iter().position(|f| f == &file) {
                let mut cycle = loading[at..].to_vec();
                cycle.push(file.clone());
                return Err(refused(
                    path,
                    format!(
                        "import cycle: {}; break it by moving what both need into a third module",
                        describe_cycle(&cycle)
                    ),
                ));
            }
            loading.push(file.clone());
        }
        let evaluated = Module::eval_ast_as_new(Scope::new(), &ast, engine);
        self.loading.locked().pop();
        let module = evaluated.map_err(|err| {
            if err.is_catchable() {
                Box::new(EvalAltResult::ErrorInModule(path.to_owned(), err, pos))
            } else {
                // A block (or a limit) at a module's top level must not become catchable.
                err
            }
        })?;
        let module: SharedModule = module.into();
        self.cache.locked().insert(file, module.clone());
        Ok(module)
    }
}

/// The folder a script's imports are confined to: its own.
pub fn script_root(script: &Path) -> PathBuf {
    script
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Property test (issue #28): scripts made of random imports among a few files, function
    /// definitions and token soup; finding import cycles and compiling never panics, every cycle
    /// of imports is found, and an acyclic set reports none.
    #[test]
    fn generated_scripts_never_panic_and_cycles_are_found() {
        let host = std::sync::Arc::new(
            crate::host::Host::new(None, crate::host::Mode::default(), Default::default(), None)
                .unwrap(),
        );
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::script::engine::build(&host, dir.path());
        let mut rng = fastrand::Rng::with_seed(28);
        let soup = [
            "fn f(x) { x + 1 }",
            "let a = [1, #{b: 2}];",
            "f(",
            "}}",
            "import",
            "\"",
            "// c",
            "let s = `${1}`;",
            "exit(1);",
            "throw 1;",
        ];
        let mut cycles = 0;
        for round in 0..150 {
            let n = rng.usize(1..5);
            // edges[i] = the files file i imports (only to later ones when acyclic).
            let acyclic = rng.bool();
            let mut edges = vec![Vec::new(); n];
            for (i, e) in edges.iter_mut().enumerate() {
                for j in 0..n {
                    if (if acyclic { j > i } else { true }) && rng.u8(0..3) == 0 {
                        e.push(j);
                    }
                }
            }
            for (i, e) in edges.iter().enumerate() {
                let mut text: String = e
                    .iter()
                    .map(|j| format!("import \"m{round}_{j}\" as x{j};\n"))
                    .collect();
                for _ in 0..rng.usize(0..4) {
                    text.push_str(soup[rng.usize(0..soup.len())]);
                    text.push('\n');
                }
                std::fs::write(dir.path().join(format!("m{round}_{i}.rhai")), text).unwrap();
            }
            let first = dir.path().join(format!("m{round}_0.rhai"));
            // A panic fails the test with the round named (the test harness catches it).
            let found = import_cycle(&engine, &first);
            if acyclic {
                assert!(found.is_none(), "round {round}: no cycle, found {found:?}");
            }
            if let Some(cycle) = &found {
                assert_eq!(cycle.first(), cycle.last(), "round {round}: a cycle closes");
                cycles += 1;
            }
        }
        assert!(cycles > 10, "the generated sets hold cycles ({cycles})");
    }
}

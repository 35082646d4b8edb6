//! docs/writing-a-runbook.md runs: every `rhai` block of the authors' guide is executed against a
//! fresh tenant of dev_min and must exit with the status and print the lines its first comment
//! lines state (`// exit: N`, `// prints: TEXT`), so the guide cannot drift from the host.

use crate::harness::{next_execution_second, Run, Tenant};

const GUIDE: &str = include_str!("../../docs/writing-a-runbook.md");

/// The guide's `rhai` blocks, in order.
fn snippets() -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in GUIDE.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rhai") => current = Some(String::new()),
            (Some(block), "```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), text) => {
                block.push_str(text);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// Every "```rhai excerpt PATH" block of the guide is, line for line, a part of PATH: an excerpt
/// of a worked example cannot drift from it.
#[test]
fn every_excerpt_of_the_authors_guide_is_in_its_file() {
    let mut found = 0;
    let mut lines = GUIDE.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line.trim_end().strip_prefix("```rhai excerpt ") else {
            continue;
        };
        let excerpt: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_end() != "```")
            .collect();
        let file = std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            file.contains(&excerpt.join("\n")),
            "the guide's excerpt of {path} is not in it:\n{}",
            excerpt.join("\n")
        );
        found += 1;
    }
    assert!(found >= 1, "no excerpt found");
}

#[test]
fn every_snippet_of_the_authors_guide_runs_as_it_says() {
    let blocks = snippets();
    assert!(blocks.len() >= 6, "{} snippets", blocks.len());
    let t = Tenant::new();
    for (i, block) in blocks.iter().enumerate() {
        let exit: i32 = block
            .lines()
            .find_map(|l| l.strip_prefix("// exit: "))
            .unwrap_or_else(|| panic!("snippet {i} states no exit status:\n{block}"))
            .parse()
            .unwrap();
        let prints: Vec<&str> = block
            .lines()
            .filter_map(|l| l.strip_prefix("// prints: "))
            .collect();
        assert!(
            !prints.is_empty(),
            "snippet {i} states nothing it prints:\n{block}"
        );
        let path = t.path(&format!("guide_{i}.rhai"));
        std::fs::write(&path, block).unwrap();
        next_execution_second();
        let out = Run::new()
            .arg("run")
            .arg(&path)
            .arg("--env")
            .arg(t.path("local.toml"))
            .run();
        assert_eq!(
            out.status, exit,
            "snippet {i}:\n{block}\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        for line in prints {
            assert!(
                out.stdout.lines().any(|l| l.trim() == line),
                "snippet {i} did not print `{line}`:\n{block}\nstdout:\n{}\nstderr:\n{}",
                out.stdout,
                out.stderr
            );
        }
    }
}

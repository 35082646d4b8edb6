//! Redaction by construction: a Secret shows as <redacted:HANDLE> in print, debug, string
//! interpolation and concatenation, error messages and JSON output; serialising it is refused.

use crate::harness::Env;

#[test]
fn every_text_form_is_redacted() {
    let env = Env::new();
    let out = env
        .run(
            r#"
let s = resolve_handle("API_SECRET");
print(s);
print(`interpolated ${s}`);
print("concatenated " + s);
debug(s);
print(s.to_string());
print([s]);
print(#{ k: s });
try { to_json(#{ k: s }) } catch (e) { print(e.message) }
throw `failing with ${s}`;
"#,
        )
        .run();
    out.status(1)
        .stdout_has("<redacted:API_SECRET>")
        .stdout_has("interpolated <redacted:API_SECRET>")
        .stdout_has("concatenated <redacted:API_SECRET>")
        .stdout_has("value.k holds a Secret")
        .stderr_has("failing with <redacted:API_SECRET>")
        .nowhere("sekret-value-123");
}

#[test]
fn plaintext_copies_are_redacted_in_output() {
    let env = Env::new();
    // The vault redacts any known plaintext wherever it appears, even from a non-secret road.
    env.run("let s = resolve_handle(\"API_SECRET\");\nprint(`pasted: ${arg(\"p\")}`);\nblock(\"M4E-B3\", `leak ${arg(\"p\")}`);")
        .args(["--set", "p=sekret-value-123", "--output", "json"])
        .run()
        .status(3)
        .stderr_has("pasted: <redacted:API_SECRET>")
        .stdout_has("leak <redacted:API_SECRET>")
        .nowhere("sekret-value-123");
}

//! `m4host completions SHELL` and `m4host man`: generated from the same clap model that parses
//! the command line, so they can never describe flags the binary does not take.

use crate::command::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{Error, Result};
use clap::CommandFactory;

pub fn completions(args: CompletionsArgs) -> Result<i32> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "m4host", &mut script);
    crate::out::text(&String::from_utf8_lossy(&script));
    Ok(0)
}

/// The page of `m4host` or of one subcommand (`m4host-run(1)`, named as the top page's
/// SUBCOMMANDS section names it), or every page written into a folder.
pub fn man(args: ManArgs) -> Result<i32> {
    let top = Cli::command();
    let mut pages: Vec<(String, clap::Command)> = vec![("m4host".to_owned(), top.clone())];
    for sub in top.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("m4host-{}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("m4host {}", sub.get_name()))
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((name, page));
    }
    let render = |command: clap::Command| -> Result<Vec<u8>> {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .map_err(|e| Error::usage(format!("cannot render the man page: {e}"), "report this"))?;
        Ok(page)
    };
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::usage(
                format!("cannot create {}: {e}", dir.display()),
                "give a writable folder",
            )
        })?;
        for (name, command) in pages {
            let path = dir.join(format!("{name}.1"));
            crate::infra::evidence::write_local_replacing(&path, &render(command)?)
                .map_err(|why| Error::usage(why, "give a writable folder"))?;
            crate::out::line(&path.display().to_string());
        }
        return Ok(0);
    }
    let wanted = match &args.subcommand {
        None => "m4host".to_owned(),
        Some(sub) => format!("m4host-{sub}"),
    };
    let names: Vec<String> = pages
        .iter()
        .filter_map(|(name, _)| name.strip_prefix("m4host-").map(str::to_owned))
        .collect();
    let Some((_, command)) = pages.into_iter().find(|(name, _)| *name == wanted) else {
        return Err(Error::usage(
            format!("no man page for `{wanted}`"),
            format!("subcommands: {}", names.join(", ")),
        ));
    };
    crate::out::text(&String::from_utf8_lossy(&render(command)?));
    Ok(0)
}

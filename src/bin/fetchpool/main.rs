/*!
The `fetchpool` binary: parse the command line, build a library `Config`, run, print the
summary, and map the outcome to an exit code. Everything else lives in the library.

The download run is `get.rs` (with `config.rs`, the options into a `Config`, and
`input_file.rs`, the list on disk or stdin); the subcommands `demo` and `report` have a file
each; `output.rs` is where documents and text go.
*/

mod cli;
mod config;
mod demo;
mod exit_codes;
mod get;
mod input_file;
mod logging;
mod output;
mod peers;
mod progress;
mod report;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use clap::{CommandFactory, Parser};
use indicatif::{MultiProgress, ProgressDrawTarget};

use cli::{Cli, Command};
use exit_codes::Exit;
use output::write_stdout;

fn main() -> ExitCode {
    let cli = parse_args();
    let verbose = match &cli.command {
        None => cli.get.verbose,
        Some(_) => 0,
    };
    // Hidden until `get` knows whether to draw: then every line of text goes above the bars.
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    logging::init(verbose, &multi);
    match run(cli, &multi) {
        Ok(exit) => exit.into(),
        Err(err) => {
            // A closed stderr must not turn the exit status into a panic.
            let _ = writeln!(io::stderr(), "fetchpool: error: {}", causes(&err));
            Exit::Fatal.into()
        }
    }
}

/// The error and its causes, each said once (a cause whose text the message already ends
/// with is not repeated).
fn causes(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !msg.ends_with(&text) {
            if !msg.is_empty() {
                msg += ": ";
            }
            msg += &text;
        }
    }
    msg
}

fn run(cli: Cli, multi: &MultiProgress) -> anyhow::Result<Exit> {
    let cancel = Arc::new(AtomicBool::new(false));
    on_ctrl_c(cancel.clone());
    match cli.command {
        Some(Command::Demo(args)) => demo::demo(&args, cancel),
        Some(Command::Report(args)) => report::report(&args),
        Some(Command::Completions { shell }) => {
            write_stdout(&cli::completions(shell)).context("cannot write the completions")?;
            Ok(Exit::Success)
        }
        Some(Command::Man) => {
            write_stdout(&cli::man()?).context("cannot write the manual page")?;
            Ok(Exit::Success)
        }
        None => get::get(cli.get, cancel, multi),
    }
}

/// First Ctrl-C: stop taking jobs, abort transfers between chunks, keep partials, print the
/// summary. Second Ctrl-C: leave at once.
fn on_ctrl_c(cancel: Arc<AtomicBool>) {
    let installed = ctrlc::set_handler(move || {
        if cancel.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code().into());
        }
        let _ = writeln!(
            io::stderr(),
            "fetchpool: interrupted; keeping partial files (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = installed {
        log::warn!("cannot handle Ctrl-C: {e}");
    }
}

/// The command line, or exit: help and version to stdout, usage errors (exit 2) to stderr
/// with every URL's credentials hidden, since clap quotes the offending value.
fn parse_args() -> Cli {
    Cli::try_parse().unwrap_or_else(|e| clap_exit(with_pointer(e)))
}

/// An unknown flag that curl, wget or aria2c users type from habit gets the fetchpool way.
fn with_pointer(e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return e;
    }
    let reported = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        _ => None,
    };
    // `-nv` reaches clap as `-n`: the word as typed is looked up too.
    let typed = std::env::args().skip(1).take_while(|a| a != "--");
    let found = reported
        .into_iter()
        .chain(typed.filter(|a| a.starts_with('-')))
        .find_map(|a| peers::pointer(&a).map(|hint| (a, hint)));
    match found {
        Some((arg, hint)) => Cli::command().error(
            ErrorKind::UnknownArgument,
            format!("fetchpool has no '{arg}': {hint}"),
        ),
        None => e,
    }
}

fn clap_exit(e: clap::Error) -> ! {
    let text = fetchpool::url::redact_text(&e.render().to_string());
    let _ = if e.use_stderr() {
        write!(io::stderr(), "{text}")
    } else {
        write!(io::stdout(), "{text}")
    };
    std::process::exit(e.exit_code())
}

/// A usage error found after parsing: clap's format and exit code 2.
fn usage(msg: impl std::fmt::Display) -> ! {
    clap_exit(Cli::command().error(clap::error::ErrorKind::ValueValidation, msg))
}

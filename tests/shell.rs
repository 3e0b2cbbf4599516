//! Completions for every shell clap_complete knows, and a manual page that renders.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::*;

/// The binary with only `args` (`Env::run` puts `-d DIR` first, which rules out a
/// subcommand).
fn bare(args: &[&str]) -> Run {
    Run::from(
        Command::new(env!("CARGO_BIN_EXE_fetchpool"))
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn completions_generate_for_every_shell_with_the_real_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = bare(&["completions", shell]);
        run.code(0);
        for flag in ["max-per-host", "update", "content-disposition"] {
            assert!(run.stdout.contains(flag), "{shell} lacks {flag}\n{run}");
        }
    }
    bare(&["completions", "tcsh"]).code(2);
}

#[test]
fn bash_loads_the_completion_script() {
    let env = Env::new();
    let script = bare(&["completions", "bash"]).stdout;
    let path = env.write("fetchpool.bash", &script);
    let loaded = Command::new("bash")
        .args(["-c", &format!("source '{path}' && complete -p fetchpool")])
        .output()
        .expect("bash");
    let shown = String::from_utf8_lossy(&loaded.stdout);
    assert!(
        loaded.status.success() && shown.contains("fetchpool"),
        "{shown}"
    );
}

#[test]
fn the_manual_page_renders_with_every_option() {
    let run = bare(&["man"]);
    run.code(0).stdout_has(".TH fetchpool 1");
    let mut groff = Command::new("groff")
        .args(["-man", "-Tascii", "-ww", "-P-bou"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff (scripts/test.sh installs groff-base)");
    groff
        .stdin
        .take()
        .unwrap()
        .write_all(run.stdout.as_bytes())
        .unwrap();
    let out = groff.wait_with_output().unwrap();
    // Justified text has runs of blanks: compare on words.
    let page = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for option in [
        "--update",
        "--max-per-host",
        "--limit-rate",
        "--keep-paths",
        "Exit status",
    ] {
        assert!(page.contains(option), "the page lacks {option}\n{page}");
    }
}

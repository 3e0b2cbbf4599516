//! Live progress: drawn and redrawn on a terminal (a pseudo-terminal made by `script`),
//! absent and free of escape codes anywhere else, silent under -q.

use std::process::Command;

use fetchpool::server::{Reply, Server};

use crate::harness::*;

const SIZE: usize = 400 * 1024;

/// Two files sent at 160 KiB/s each: a few seconds of transfer to draw.
fn slow_server() -> Server {
    Server::start(|req| {
        let seed = if req.path == "/a" { 70 } else { 71 };
        Reply::file(req, &blob(seed, SIZE), Some("\"p\""), None).rate(Some(160 * 1024))
    })
    .expect("server")
}

/// Run the binary with `args` inside a pseudo-terminal: stdout and stderr are both the
/// terminal, and `script` copies what was drawn to its own stdout.
fn under_terminal(env: &Env, args: &[String], vars: &[(&str, &str)]) -> Run {
    let mut line = format!(
        "{} -d {}",
        env!("CARGO_BIN_EXE_fetchpool"),
        env.out().display()
    );
    for a in args {
        line += &format!(" '{a}'");
    }
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &line, "/dev/null"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("script (util-linux) is needed"))
}

#[test]
fn on_a_terminal_progress_is_drawn_redrawn_and_cleared_for_the_lines() {
    let env = Env::new();
    let server = slow_server();
    let run = under_terminal(&env, &[server.url("/a"), server.url("/b")], &[]);
    run.code(0);
    let shown = &run.stdout;
    // The overall bar, redrawn as bytes arrive, then each file done.
    assert!(shown.matches("/2 files").count() >= 3, "{run}");
    assert!(
        shown.contains("2/2 files") || shown.contains("1/2 files"),
        "{run}"
    );
    assert!(shown.contains("\x1b["), "no cursor movement: {run}");
    assert!(shown.contains("\x1b[36m"), "no colour: {run}");
    // The finished-file lines and the summary, whole.
    assert!(shown.contains("(downloaded)"), "{run}");
    assert!(shown.contains("parallel: 2 ok"), "{run}");
    assert_file(&env.out().join("a"), &blob(70, SIZE));
    assert_file(&env.out().join("b"), &blob(71, SIZE));
}

#[test]
fn no_color_keeps_the_bars_but_drops_the_colour() {
    let env = Env::new();
    let server = slow_server();
    let run = under_terminal(&env, &[server.url("/a")], &[("NO_COLOR", "1")]);
    run.code(0);
    assert!(run.stdout.contains("/1 files ["), "{run}");
    assert!(!run.stdout.contains("\x1b[36m"), "{run}");
}

#[test]
fn progress_never_and_quiet_draw_nothing_on_a_terminal() {
    let env = Env::new();
    let server = slow_server();
    let never = under_terminal(
        &env,
        &["--progress".into(), "never".into(), server.url("/a")],
        &[],
    );
    never.code(0).stdout_has("(downloaded)");
    assert!(!never.stdout.contains(" files"), "{never}");
    let quiet = under_terminal(
        &env,
        &["-q".into(), "--force".into(), server.url("/b")],
        &[],
    );
    quiet.code(0);
    assert_eq!(quiet.stdout, "", "{quiet}");
    assert_file(&env.out().join("b"), &blob(71, SIZE));
}

#[test]
fn off_a_terminal_output_has_no_carriage_return_or_escape_code() {
    let env = Env::new();
    let server = slow_server();
    let run = env.run(&[&server.url("/a"), &server.url("/b")]);
    run.code(0).stdout_has("parallel: 2 ok");
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{run}");
    }
    assert_eq!(run.stdout.lines().count(), 3, "{run}");
}

#[test]
fn progress_always_draws_even_when_stderr_is_a_pipe() {
    let env = Env::new();
    let server = slow_server();
    let run = env.run(&["--progress", "always", &server.url("/a")]);
    run.code(0).stdout_has("(downloaded)");
    assert!(run.stderr.contains("/1 files"), "{run}");
    // The lines on stdout stay clean: the bars are stderr's alone.
    assert!(!run.stdout.contains('\x1b'), "{run}");
    assert_file(&env.out().join("a"), &blob(70, SIZE));
}

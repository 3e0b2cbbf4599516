/*!
Exit codes, in one place, for scripts and cron: 0 everything is in place (already complete
counts), 1 some file failed, 2 usage or fatal error (nothing was attempted), 130 interrupted.
*/

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    SomeFailed,
    Fatal,
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::SomeFailed => 1,
            Exit::Fatal => 2,
            Exit::Interrupted => 130,
        }
    }

    /// The exit of a finished run: interruption wins over failures.
    pub fn of_run(failed: usize, interrupted: bool) -> Exit {
        if interrupted {
            Exit::Interrupted
        } else if failed > 0 {
            Exit::SomeFailed
        } else {
            Exit::Success
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(Exit::Success.code(), 0);
        assert_eq!(Exit::SomeFailed.code(), 1);
        assert_eq!(Exit::Fatal.code(), 2);
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Exit::of_run(0, false), Exit::Success);
        assert_eq!(Exit::of_run(3, false), Exit::SomeFailed);
        assert_eq!(Exit::of_run(3, true), Exit::Interrupted);
    }
}

/*!
Logging for the binary: env_logger, its lines printed above the progress bars, and never the
HTTP and TLS libraries' wire dump. The library only calls `log`; this is where it shows.
*/

use std::io;

use indicatif::MultiProgress;

use crate::progress::AboveBars;

/// env_logger as `RUST_LOG` says (else warnings, and fetchpool's own story with -v / -vv),
/// except the HTTP and TLS libraries' trace output: that is a dump of the bytes on the wire,
/// headers and credentials included.
pub fn init(verbose: u8, multi: &MultiProgress) {
    struct NoWireDump(env_logger::Logger);
    impl log::Log for NoWireDump {
        fn enabled(&self, m: &log::Metadata) -> bool {
            let wire = m.level() == log::Level::Trace
                && ["ureq", "rustls"].iter().any(|t| m.target().starts_with(t));
            !wire && self.0.enabled(m)
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                self.0.log(record);
            }
        }
        fn flush(&self) {
            self.0.flush();
        }
    }
    let default = match verbose {
        0 => "warn",
        1 => "warn,fetchpool=debug",
        _ => "warn,fetchpool=trace",
    };
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
            .format_timestamp_millis()
            .target(env_logger::Target::Pipe(Box::new(AboveBars::new(
                multi,
                io::stderr(),
            ))))
            .build();
    log::set_max_level(logger.filter());
    let _ = log::set_boxed_logger(Box::new(NoWireDump(logger)));
}

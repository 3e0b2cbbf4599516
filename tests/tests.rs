//! The integration tests: one binary, a shared harness, one module per area.

mod harness;

mod cli;
mod cookies;
mod habits;
mod hostile;
mod interop_nginx;
mod library;
mod lists;
mod logins;
mod naming;
mod polite;
mod progress;
mod promise;
mod property;
mod proxy;
mod resume;
mod retry;
mod review;
mod shards;
mod shell;
mod signals;
mod split;
mod timeline;
mod tls;
mod update;

use resume::get as resume_get;

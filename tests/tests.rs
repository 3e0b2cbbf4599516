//! The integration tests: one binary, a shared harness, one module per area.

mod harness;

mod cli;
mod cookies;
mod hostile;
mod interop_nginx;
mod library;
mod logins;
mod promise;
mod property;
mod proxy;
mod resume;
mod retry;
mod review;
mod shards;
mod signals;
mod timeline;
mod tls;

use resume::get as resume_get;

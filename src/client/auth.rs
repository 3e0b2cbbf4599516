/*!
Logins: Basic credentials from the URL (`user:password@`), `--user`, or a `.netrc` file,
turned into one `Authorization` value for the host they belong to. Which hop receives it is
decided in `client::Client::get` (the origin only, never after a redirect to another host).
*/

use std::path::{Path, PathBuf};

use base64::Engine as _;
use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::Error;

/// `Basic base64(user:password)`.
pub(crate) fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// `Authorization: Basic …` from `user:password@` in the URL, percent-decoded.
pub(crate) fn from_userinfo(url: &Url) -> Option<String> {
    if url.username().is_empty() && url.password().is_none() {
        return None;
    }
    let user = percent_decode_str(url.username()).decode_utf8_lossy();
    let pass = percent_decode_str(url.password().unwrap_or("")).decode_utf8_lossy();
    Some(basic(&user, &pass))
}

/// `--user USER[:PASSWORD]` (no password: an empty one, as wget sends).
pub(crate) fn from_user_option(text: &str) -> String {
    let (user, pass) = text.split_once(':').unwrap_or((text, ""));
    basic(user, pass)
}

/// The credentials of a `.netrc` file, by host.
#[derive(Debug, Default)]
pub(crate) struct Netrc {
    machines: Vec<(String, Login)>,
    default: Option<Login>,
}

#[derive(Default, Clone)]
struct Login {
    user: String,
    password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Login(..)")
    }
}

impl Netrc {
    /// Read and parse `path`. The file format (`machine`, `default`, `login`, `password`,
    /// `account`, `macdef`) is the one ftp, curl and wget read.
    pub(crate) fn load(path: &Path) -> Result<Netrc, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        parse(&text).map_err(|reason| Error::Netrc {
            path: PathBuf::from(path),
            reason,
        })
    }

    /// `Authorization` for `host`: its `machine` entry, else `default`.
    pub(crate) fn authorization(&self, host: &str) -> Option<String> {
        self.machines
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(host))
            .map(|(_, l)| l)
            .or(self.default.as_ref())
            .map(|l| basic(&l.user, &l.password))
    }
}

/// Tokens separated by white space; `"…"` quotes with `\` escapes, as curl reads them.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut tok = String::new();
        if c == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => tok.extend(chars.next()),
                    c => tok.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                tok.push(c);
                chars.next();
            }
        }
        out.push(tok);
    }
    out
}

fn parse(text: &str) -> Result<Netrc, String> {
    // macdef bodies run to the next blank line; drop them before tokenising.
    let mut kept = String::new();
    let mut in_macro = false;
    for line in text.lines() {
        if in_macro {
            in_macro = !line.trim().is_empty();
            continue;
        }
        if line.split_whitespace().any(|t| t == "macdef") {
            in_macro = true;
            let before: Vec<&str> = line
                .split_whitespace()
                .take_while(|t| *t != "macdef")
                .collect();
            kept.push_str(&before.join(" "));
            kept.push('\n');
            continue;
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let toks = tokens(&kept);
    let mut netrc = Netrc::default();
    // The entry being filled: Some(Some(host)) for a machine, Some(None) for default.
    let mut current: Option<(Option<String>, Login)> = None;
    let finish = |cur: Option<(Option<String>, Login)>, netrc: &mut Netrc| match cur {
        Some((Some(host), login)) => netrc.machines.push((host, login)),
        Some((None, login)) => netrc.default = netrc.default.take().or(Some(login)),
        None => {}
    };
    let mut it = toks.into_iter();
    while let Some(tok) = it.next() {
        let mut value = |what: &str| it.next().ok_or(format!("{what} without a value"));
        match tok.as_str() {
            "machine" => {
                finish(current.take(), &mut netrc);
                current = Some((Some(value("machine")?), Login::default()));
            }
            "default" => {
                finish(current.take(), &mut netrc);
                current = Some((None, Login::default()));
            }
            "login" | "password" | "account" => {
                let v = value(&tok)?;
                let Some((_, login)) = current.as_mut() else {
                    return Err(format!("{tok} before any machine"));
                };
                match tok.as_str() {
                    "login" => login.user = v,
                    "password" => login.password = v,
                    _ => {}
                }
            }
            // Never quoted back: it may be the second word of an unquoted password.
            _ => return Err("a word netrc does not know (quote a password with spaces)".into()),
        }
    }
    finish(current, &mut netrc);
    Ok(netrc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_comes_from_userinfo_and_the_user_option() {
        let u = Url::parse("http://al%40ice:p%3Ass@h:8/x").unwrap();
        assert_eq!(from_userinfo(&u).unwrap(), "Basic YWxAaWNlOnA6c3M=");
        assert!(from_userinfo(&Url::parse("http://h/x").unwrap()).is_none());
        assert_eq!(from_user_option("alice:p:ss"), basic("alice", "p:ss"));
        assert_eq!(from_user_option("alice"), basic("alice", ""));
    }

    #[test]
    fn netrc_picks_the_machine_then_default() {
        let n = parse(
            "# comment\nmachine a.test login alice password \"s e\\\"cret\"\n\
             macdef init\ncd /pub\n\n\
             machine b.test\n  login bob\n  password two\n\
             default login anon password guest\n",
        )
        .unwrap();
        assert_eq!(n.authorization("A.test"), Some(basic("alice", "s e\"cret")));
        assert_eq!(n.authorization("b.test"), Some(basic("bob", "two")));
        assert_eq!(n.authorization("c.test"), Some(basic("anon", "guest")));
        assert!(!format!("{n:?}").contains("two"));
        assert!(parse("machine").is_err());
        assert!(parse("login x").is_err());
        assert!(parse("machine h bogus x").is_err());
    }
}

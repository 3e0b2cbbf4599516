/*!
Which certificates fetchpool trusts. ureq's default is the Mozilla roots compiled into the
binary, so a company CA or a lab's own CA installed by the administrator is refused; here the
operating system's store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) is trusted, plus the user's
`--ca-certificate` files, as curl and wget do.
*/

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::error::Error;

/// The TLS settings of the agent: verification against the system store plus `extra` PEM
/// files, or none at all when `insecure`.
///
/// `--ca-certificate` *adds* to the system store: a CA of one's own should not make every
/// public site fail. When `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, it replaces the system
/// store (OpenSSL's meaning of those variables); `--ca-certificate` adds to that too.
pub(crate) fn tls_config(extra: &[PathBuf], insecure: bool) -> Result<TlsConfig, Error> {
    if insecure {
        return Ok(TlsConfig::builder().disable_verification(true).build());
    }
    let native = rustls_native_certs::load_native_certs();
    let from_env = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .find_map(|v| std::env::var_os(v).map(|p| (v, p)));
    if let (Some((var, path)), Some(err)) = (&from_env, native.errors.first()) {
        // The user pointed at these certificates: failing to read them is an error, not a
        // silent fall back to something else.
        return Err(Error::CaCertificate {
            path: PathBuf::from(path),
            reason: format!("from {var}: {err}"),
        });
    }
    for err in &native.errors {
        log::debug!("system certificate store: {err}");
    }
    let mut roots: Vec<Certificate<'static>> = native
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    log::debug!("{} certificates from the system store", roots.len());
    if roots.is_empty() && extra.is_empty() {
        // A system without a store (a bare container): the compiled-in Mozilla roots are
        // better than trusting nothing.
        log::debug!("no system certificate store; using the compiled-in Mozilla roots");
        return Ok(TlsConfig::builder().root_certs(RootCerts::WebPki).build());
    }
    for path in extra {
        roots.extend(read_pem_bundle(path)?);
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

/// The certificates of a PEM file; an error when there are none.
fn read_pem_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, Error> {
    let bad = |reason: String| Error::CaCertificate {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item.map_err(|e| bad(e.to_string()))? {
            PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_string()));
    }
    log::debug!("{} certificates from {}", certs.len(), path.display());
    Ok(certs)
}

/// The reason, when `err` is a certificate the client refused (unknown issuer, expired,
/// wrong name…): retrying cannot help, the user has to say what to trust.
pub(crate) fn certificate_problem(err: &ureq::Error) -> Option<String> {
    let rustls_err = match err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    }?;
    match rustls_err {
        rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_) => {
            Some(rustls_err.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let err = read_pem_bundle(&p).unwrap_err().to_string();
        assert!(
            err.contains("empty.pem") && err.contains("no PEM certificate"),
            "{err}"
        );
        let missing = read_pem_bundle(&dir.path().join("missing.pem")).unwrap_err();
        assert!(missing.to_string().contains("missing.pem"));
    }

    #[test]
    fn unknown_issuer_is_a_certificate_problem_and_io_is_not() {
        let e = ureq::Error::Rustls(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        assert!(certificate_problem(&e).unwrap().contains("UnknownIssuer"));
        let wrapped = ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::Expired),
        ));
        assert!(certificate_problem(&wrapped).is_some());
        assert!(certificate_problem(&ureq::Error::ConnectionFailed).is_none());
    }
}

//! TLS for the HTTP and WebSocket listeners: the certificate and key from
//! PEM files, served through a resolver whose key can be swapped, so a
//! renewed certificate is picked up on SIGHUP without a restart. Open
//! connections keep the session they negotiated; new handshakes get the
//! new certificate.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use rustls::{
    ServerConfig,
    crypto::ring,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file is missing, unreadable or holds no PEM of the expected kind.
    #[error("reading {path}: {reason}")]
    Read {
        /// The file named by `--tls-cert` or `--tls-key`.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The key does not fit the certificate, or is of a kind rustls cannot
    /// sign with.
    #[error("the key in {key} cannot serve the certificate in {cert}: {reason}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

/// The certificate chain and key files, read again on each reload.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks both files: the chain is not empty and the key
    /// matches its leaf.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let read = |path: &Path, reason: String| TlsError::Read { path: path.to_owned(), reason };
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| read(&self.cert, e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| read(&self.cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(read(&self.cert, "no CERTIFICATE block".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(|e| read(&self.key, e.to_string()))?;
        let mismatch = |reason: String| TlsError::Mismatch { cert: self.cert.clone(), key: self.key.clone(), reason };
        let provider = ring::default_provider();
        let signing = provider.key_provider.load_private_key(key).map_err(|e| mismatch(e.to_string()))?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| mismatch(e.to_string()))?;
        Ok(certified)
    }
}

/// Hands every handshake the current certificate; `reload` swaps it.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads the files once; a server with bad files does not start.
    pub fn new(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let first = files.load()?;
        Ok(Arc::new(Self { files, current: RwLock::new(Arc::new(first)) }))
    }

    /// The certificates `--tls-cert`/`--tls-key` name, reloading on SIGHUP
    /// from now on; `None` without them.
    pub fn configured(cfg: &crate::config::ServeConfig) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(files) = cfg.tls_files() else { return Ok(None) };
        let certs = Self::new(files).map_err(|e| anyhow::anyhow!("--tls-cert / --tls-key: {e}"))?;
        certs.reload_on_sighup();
        Ok(Some(certs))
    }

    /// Reads the files again. On an error the old certificate stays, so a
    /// renewal half written to disk does not take the server off TLS.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.load()?);
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// A server configuration over this resolver, offering `alpn` (the
    /// HTTP listener adds its own; the WebSocket one speaks HTTP/1.1 only).
    pub fn server_config(self: &Arc<Self>, alpn: &[&[u8]]) -> ServerConfig {
        let provider = Arc::new(ring::default_provider());
        #[allow(clippy::expect_used)] // ring's defaults always include TLS 1.2 and 1.3
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }

    /// Reloads on every SIGHUP for the process's life, logging the outcome.
    /// The handler is in place when this returns, so a SIGHUP right after
    /// start reloads rather than ends the process.
    pub fn reload_on_sighup(self: &Arc<Self>) {
        let certs = self.clone();
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; TLS certificates reload only on restart");
            return;
        };
        actix_rt::spawn(async move {
            while hup.recv().await.is_some() {
                match certs.reload() {
                    Ok(()) => tracing::info!(cert = %certs.files.cert.display(), "reloaded the TLS certificate"),
                    Err(e) => tracing::error!(error = %e, "TLS reload failed; still serving the previous certificate"),
                }
            }
        });
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str) -> TlsFiles {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
        let files = TlsFiles { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
        std::fs::write(&files.cert, made.cert.pem()).expect("write");
        std::fs::write(&files.key, made.key_pair.serialize_pem()).expect("write");
        files
    }

    #[test]
    fn bad_files_are_refused_with_their_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write(dir.path(), "a");
        let b = write(dir.path(), "b");
        assert!(a.load().is_ok());
        let crossed = TlsFiles { cert: a.cert.clone(), key: b.key.clone() };
        assert!(matches!(crossed.load(), Err(TlsError::Mismatch { .. })), "a key of another certificate");
        let missing = TlsFiles { cert: dir.path().join("none.crt"), key: a.key.clone() };
        let err = missing.load().expect_err("a missing file");
        assert!(err.to_string().contains("none.crt"), "{err}");
        let swapped = TlsFiles { cert: a.key.clone(), key: a.cert.clone() };
        assert!(matches!(swapped.load(), Err(TlsError::Read { .. })), "PEM of the wrong kind");
    }

    #[test]
    fn a_failed_reload_keeps_the_certificate_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write(dir.path(), "a");
        let certs = Certificates::new(files.clone()).expect("loads");
        let before = certs.current.read().expect("lock").cert.clone();
        std::fs::write(&files.cert, "half a renewal").expect("write");
        assert!(certs.reload().is_err());
        assert_eq!(certs.current.read().expect("lock").cert, before);
        write(dir.path(), "a");
        certs.reload().expect("a good renewal loads");
        assert_ne!(certs.current.read().expect("lock").cert, before);
    }
}

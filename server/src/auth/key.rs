//! The symmetric key of access tokens: given by `METAVERSE_TOKEN_KEY`, or
//! generated once into the data directory so tokens survive restarts.

use std::{io::Write, path::Path};

use anyhow::{Context, bail};
use rand::RngCore;

pub const KEY_FILE: &str = "token.key";

/// Parses 32 bytes written as 64 hex characters.
pub fn parse_hex(s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the token key must be 64 hex characters (32 bytes)");
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16)?;
    }
    Ok(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key a serving node signs with: as `load_or_create`, but refusing a
/// weak key wherever it came from, and refusing to generate one per node
/// in a cluster, where tokens signed on one node are checked on others.
pub fn for_serve(configured: Option<&str>, data_dir: &Path, clustered: bool) -> anyhow::Result<[u8; 32]> {
    if clustered && configured.is_none() {
        bail!(
            "cluster mode (--redis-url) needs --token-key (METAVERSE_TOKEN_KEY), the same on every node: \
             a key generated per node makes tokens from one node fail on the others; {}",
            super::key_policy::GENERATE_HINT
        );
    }
    let key = load_or_create(configured, data_dir)?;
    let source = match configured {
        Some(_) => "METAVERSE_TOKEN_KEY".to_owned(),
        None => data_dir.join(KEY_FILE).display().to_string(),
    };
    super::key_policy::check(&key).with_context(|| format!("refusing the token key from {source}"))?;
    Ok(key)
}

/// The configured key, else the one in `data_dir`, else a new one written
/// there (owner-readable only).
pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    if let Some(hex) = configured {
        return parse_hex(hex).context("METAVERSE_TOKEN_KEY");
    }
    let path = data_dir.join(KEY_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        return parse_hex(&text).with_context(|| format!("{} is corrupt", path.display()));
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&path).with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", to_hex(&key))?;
    tracing::info!(path = %path.display(), "generated a new token key");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(None, dir.path()).unwrap();
        let b = load_or_create(None, dir.path()).unwrap();
        assert_eq!(a, b);
        let given = "11".repeat(32);
        assert_eq!(load_or_create(Some(&given), dir.path()).unwrap(), [0x11; 32]);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn serving_refuses_weak_keys_and_a_cluster_without_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let weak = "ab".repeat(32);
        let err = format!("{:#}", for_serve(Some(&weak), dir.path(), false).unwrap_err());
        assert!(err.contains("METAVERSE_TOKEN_KEY") && err.contains("openssl rand -hex 32"), "{err}");
        let err = format!("{:#}", for_serve(None, dir.path(), true).unwrap_err());
        assert!(err.contains("--token-key") && err.contains("openssl rand -hex 32"), "{err}");
        assert!(!dir.path().join(KEY_FILE).exists(), "no per-node key was generated for the cluster");
        std::fs::write(dir.path().join(KEY_FILE), format!("{weak}\n")).unwrap();
        let err = format!("{:#}", for_serve(None, dir.path(), false).unwrap_err());
        assert!(err.contains(KEY_FILE), "a weak key file is refused too: {err}");
        let strong: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
        assert!(for_serve(Some(&strong), dir.path(), true).is_ok());
    }
}

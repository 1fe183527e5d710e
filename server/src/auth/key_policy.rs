//! Which token keys a server refuses. Whoever holds the key can mint an
//! access token for any user, admins included, so a key that was ever
//! published, or one a person typed by hand, protects nothing.

/// How to get a good key; every refusal repeats it.
pub const GENERATE_HINT: &str = "generate one with: openssl rand -hex 32";

/// Every 64-hex string this repository has published, in examples or
/// elsewhere: whoever copied one into production must be stopped, as
/// anyone can read it. The unit tests keep this list complete.
const PUBLISHED: &[&str] = &[
    // The placeholder deploy/cluster.env once shipped.
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    // Proptest regression seeds: random-looking, and public.
    "c3c18abab9c84cd4ae45a4304eb073cb5917015652518e466c6241808deeb4c7",
    "8b4150c0c9d1be89455370f51bf86e25312c30019083e76ba4caec9053524ca8",
];

/// Fewer distinct byte values than this among 32 random bytes happens
/// with a probability far below 2^-100; a human-made key hits it easily.
const MIN_DISTINCT_BYTES: usize = 16;

/// Longest period of a repeating or counting pattern that is refused.
const MAX_PATTERN_PERIOD: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakKey {
    #[error("the token key is published in the metaverse repository, so anyone can forge tokens; {GENERATE_HINT}")]
    Published,
    #[error(
        "the token key has only {0} distinct byte values (random keys have about 30); it was not generated randomly; {GENERATE_HINT}"
    )]
    FewDistinctBytes(usize),
    #[error("the token key repeats a pattern every {0} bytes; it was not generated randomly; {GENERATE_HINT}")]
    Pattern(usize),
}

/// Refuses a published key or one with visibly low entropy.
pub fn check(key: &[u8; 32]) -> Result<(), WeakKey> {
    if PUBLISHED.iter().any(|hex| decode(hex) == *key) {
        return Err(WeakKey::Published);
    }
    let distinct = distinct_bytes(key);
    if distinct < MIN_DISTINCT_BYTES {
        return Err(WeakKey::FewDistinctBytes(distinct));
    }
    if let Some(period) = pattern_period(key) {
        return Err(WeakKey::Pattern(period));
    }
    Ok(())
}

fn distinct_bytes(key: &[u8; 32]) -> usize {
    let mut seen = [false; 256];
    for &b in key {
        seen[b as usize] = true;
    }
    seen.iter().filter(|&&s| s).count()
}

/// The period of the key's byte-to-byte steps, if short. Looking at the
/// steps rather than the bytes catches counting (`00 01 02 …`) as well as
/// repetition, which both have all-distinct or periodic steps.
fn pattern_period(key: &[u8; 32]) -> Option<usize> {
    let steps: Vec<u8> = key.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
    (1..=MAX_PATTERN_PERIOD).find(|&p| steps.iter().zip(&steps[p..]).all(|(a, b)| a == b))
}

fn decode(hex: &str) -> [u8; 32] {
    super::key::parse_hex(hex).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::key::parse_hex;

    #[test]
    fn published_and_patterned_keys_are_refused() {
        let published = parse_hex(PUBLISHED[0]).unwrap();
        assert_eq!(check(&published), Err(WeakKey::Published));
        let uppercase = parse_hex(&PUBLISHED[1].to_uppercase()).unwrap();
        assert_eq!(check(&uppercase), Err(WeakKey::Published));
        assert_eq!(check(&[0x11; 32]), Err(WeakKey::FewDistinctBytes(1)));
        let counting: Vec<u8> = (0..32).collect();
        assert_eq!(check(&counting.try_into().unwrap()), Err(WeakKey::Pattern(1)));
        let mut repeated = [0u8; 32];
        for (i, b) in repeated.iter_mut().enumerate() {
            *b = u8::try_from(i % 16).unwrap() * 17;
        }
        assert_eq!(check(&repeated), Err(WeakKey::Pattern(16)));
        let message = WeakKey::Published.to_string();
        assert!(message.contains("openssl rand -hex 32"), "{message}");
    }

    #[test]
    fn random_keys_pass() {
        use rand::RngCore;
        for _ in 0..1000 {
            let mut key = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut key);
            assert_eq!(check(&key), Ok(()), "{key:?}");
        }
    }

    /// A new example key somewhere in the repository must join the list.
    #[test]
    fn every_hex_key_in_the_repository_is_on_the_list() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let mut found = Vec::new();
        scan(root, &mut found);
        assert!(!found.is_empty(), "the scan found nothing under {}", root.display());
        for (path, hex) in found {
            assert_eq!(
                check(&parse_hex(&hex).unwrap()).err(),
                Some(WeakKey::Published),
                "{hex} in {} is not refused as published",
                path.display()
            );
        }
    }

    fn scan(dir: &std::path::Path, found: &mut Vec<(std::path::PathBuf, String)>) {
        let skip = ["target", ".git", "node_modules"];
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !skip.contains(&name.as_str()) && !name.starts_with("tgt") {
                    scan(&path, found);
                }
            } else if !name.ends_with(".lock") && !name.ends_with("-lock.json") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                found.extend(hex_runs(&text).map(|h| (path.clone(), h)));
            }
        }
    }

    /// Runs of exactly 64 hex digits: longer runs are digests, not keys.
    fn hex_runs(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split(|c: char| !c.is_ascii_hexdigit()).filter(|run| run.len() == 64).map(str::to_owned)
    }
}

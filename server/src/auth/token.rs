//! Access tokens: PASETO v4.local (encrypted and authenticated with one
//! symmetric key), carrying the user id, username, role and sign-in
//! session. v4.local keeps the claims private and needs one secret shared
//! by the nodes; nothing outside the server has to verify these tokens.

use chrono::{DateTime, SecondsFormat, Utc};
use pasetors::{
    Local,
    claims::{Claims, ClaimsValidationRules},
    keys::SymmetricKey,
    local,
    token::UntrustedToken,
    version4::V4,
};

use super::{AuthError, Role};

/// Binds tokens to this application; a v4.local token minted for another
/// purpose with the same key does not verify here.
const IMPLICIT: &[u8] = b"metaverse-access-v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

pub struct TokenIssuer {
    key: SymmetricKey<V4>,
    ttl: chrono::Duration,
}

fn crypto(e: impl std::fmt::Display) -> AuthError {
    AuthError::Crypto(e.to_string())
}

impl TokenIssuer {
    pub fn new(key: &[u8; 32], ttl: std::time::Duration) -> Result<Self, AuthError> {
        Ok(Self {
            key: SymmetricKey::<V4>::from(key).map_err(crypto)?,
            ttl: chrono::Duration::from_std(ttl).map_err(crypto)?,
        })
    }

    /// Mints a token valid from now for the configured lifetime.
    pub fn issue(
        &self,
        user_id: &str,
        username: &str,
        role: Role,
        session_id: &str,
    ) -> Result<(String, DateTime<Utc>), AuthError> {
        let now = Utc::now();
        let exp = now + self.ttl;
        let token = self.issue_between(user_id, username, role, session_id, now, exp)?;
        Ok((token, exp))
    }

    fn issue_between(
        &self,
        user_id: &str,
        username: &str,
        role: Role,
        session_id: &str,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut claims = Claims::new().map_err(crypto)?;
        claims.issued_at(&ts(from)).map_err(crypto)?;
        claims.not_before(&ts(from)).map_err(crypto)?;
        claims.expiration(&ts(until)).map_err(crypto)?;
        claims.subject(user_id).map_err(crypto)?;
        claims.add_additional("username", username).map_err(crypto)?;
        claims.add_additional("role", role.as_str()).map_err(crypto)?;
        claims.add_additional("sid", session_id).map_err(crypto)?;
        local::encrypt(&self.key, &claims, None, Some(IMPLICIT)).map_err(crypto)
    }

    /// Decrypts and checks a token: authenticity, expiry, and the claims we
    /// need. Whether its session was revoked is the caller's (database) check.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let untrusted = UntrustedToken::<Local, V4>::try_from(token).map_err(|_| AuthError::InvalidToken)?;
        let rules = ClaimsValidationRules::new();
        let trusted =
            local::decrypt(&self.key, &untrusted, &rules, None, Some(IMPLICIT)).map_err(|_| AuthError::InvalidToken)?;
        let claims = trusted.payload_claims().ok_or(AuthError::InvalidToken)?;
        let text = |name: &str| {
            claims.get_claim(name).and_then(|v| v.as_str()).map(str::to_owned).ok_or(AuthError::InvalidToken)
        };
        let expires_at =
            DateTime::parse_from_rfc3339(&text("exp")?).map_err(|_| AuthError::InvalidToken)?.with_timezone(&Utc);
        Ok(AccessClaims {
            user_id: text("sub")?,
            username: text("username")?,
            role: Role::parse(&text("role")?).ok_or(AuthError::InvalidToken)?,
            session_id: text("sid")?,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn issuer(byte: u8) -> TokenIssuer {
        TokenIssuer::new(&[byte; 32], Duration::from_secs(3600)).unwrap()
    }

    #[test]
    fn round_trip_carries_the_claims() {
        let t = issuer(1);
        let (token, exp) = t.issue("u1", "alice", Role::Admin, "s1").unwrap();
        assert!(token.starts_with("v4.local."));
        let c = t.verify(&token).unwrap();
        assert_eq!(
            (c.user_id.as_str(), c.username.as_str(), c.role, c.session_id.as_str()),
            ("u1", "alice", Role::Admin, "s1")
        );
        assert_eq!(c.expires_at.timestamp(), exp.timestamp());
    }

    #[test]
    fn expired_token_is_refused() {
        let t = issuer(1);
        let from = Utc::now() - chrono::Duration::hours(2);
        let token = t.issue_between("u1", "alice", Role::User, "s1", from, from + chrono::Duration::hours(1)).unwrap();
        assert!(matches!(t.verify(&token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn tampered_token_is_refused() {
        let t = issuer(1);
        let (token, _) = t.issue("u1", "alice", Role::User, "s1").unwrap();
        let mut bytes = token.into_bytes();
        let i = bytes.len() - 10;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        assert!(t.verify(&String::from_utf8(bytes).unwrap()).is_err());
        assert!(t.verify("v4.local.garbage").is_err());
        assert!(t.verify("").is_err());
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let (token, _) = issuer(1).issue("u1", "alice", Role::User, "s1").unwrap();
        assert!(issuer(2).verify(&token).is_err());
    }
}

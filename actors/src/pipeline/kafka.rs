//! Talking to Kafka: connection settings (SASL, TLS), topic creation, and
//! the partitioner shared by the writer and the consumer.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use rskafka::{
    BackoffConfig,
    client::{
        Client, ClientBuilder, Credentials, SaslConfig,
        error::{Error as ClientError, ProtocolError},
        partition::Compression,
    },
};

/// The three topics, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Chat messages: the durable log history is written from.
    Chat,
    /// Joins and leaves of spaces.
    UserEvents,
    /// Per-message facts without content.
    Analytics,
}

impl Topic {
    /// Every topic, for the loops that create or consume them all.
    pub const ALL: [Topic; 3] = [Topic::Chat, Topic::UserEvents, Topic::Analytics];

    /// The default topic name, and the `topic` label of the metrics
    /// (stable even when the topics are renamed).
    pub fn label(self) -> &'static str {
        match self {
            Topic::Chat => "chat-messages",
            Topic::UserEvents => "user-events",
            Topic::Analytics => "chat-analytics",
        }
    }
}

/// The topics' names on the brokers; configurable so several deployments
/// can share one Kafka.
#[derive(Clone, Debug)]
pub struct TopicNames {
    /// Name of the `Topic::Chat` topic.
    pub chat: String,
    /// Name of the `Topic::UserEvents` topic.
    pub user_events: String,
    /// Name of the `Topic::Analytics` topic.
    pub analytics: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            chat: Topic::Chat.label().into(),
            user_events: Topic::UserEvents.label().into(),
            analytics: Topic::Analytics.label().into(),
        }
    }
}

impl TopicNames {
    /// The name a topic has on the brokers.
    pub fn name(&self, t: Topic) -> &str {
        match t {
            Topic::Chat => &self.chat,
            Topic::UserEvents => &self.user_events,
            Topic::Analytics => &self.analytics,
        }
    }
}

/// How the brokers authenticate us (the mechanisms rskafka speaks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN`: the password is sent as is, so use it only over TLS.
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

/// SASL credentials. `Debug` leaves the password out, so settings can be
/// logged.
#[derive(Clone)]
pub struct Sasl {
    /// The mechanism the brokers expect.
    pub mechanism: SaslMechanism,
    /// The SASL user.
    pub username: String,
    /// The SASL password.
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl").field("mechanism", &self.mechanism).field("username", &self.username).finish()
    }
}

/// Everything the writer and the consumer need to reach the brokers and
/// the topics.
#[derive(Clone, Debug)]
pub struct KafkaSettings {
    /// Bootstrap brokers (`host:port`); the rest of the cluster is found
    /// through them.
    pub brokers: Vec<String>,
    /// Our name in the brokers' logs and quotas.
    pub client_id: String,
    /// The topics' names.
    pub topics: TopicNames,
    /// Partitions of topics this server creates.
    pub partitions: i32,
    /// Replication factor of topics this server creates: what keeps an
    /// acknowledged chat message when a broker is lost.
    pub replication: i16,
    /// Compression of produced batches.
    pub compression: Compression,
    /// How long the writer waits to fill a batch.
    pub linger: Duration,
    /// Records waiting for Kafka, at most; past it chat falls back to the
    /// database and analytics events are dropped (and counted).
    pub backlog: usize,
    /// How long a chat message waits for Kafka before it is written straight
    /// to the database instead.
    pub chat_wait: Duration,
    /// Bound of each request (connect, produce, fetch), retries included.
    pub request_timeout: Duration,
    /// SASL authentication; `None` for none.
    pub sasl: Option<Sasl>,
    /// TLS to the brokers: `Some(None)` trusts the Mozilla roots, `Some(Some(path))`
    /// a PEM bundle.
    pub tls: Option<Option<PathBuf>>,
}

impl KafkaSettings {
    /// The command line's defaults (three partitions, 5 ms linger, a
    /// 50 000-record backlog, 2 s chat wait, 5 s requests), except that
    /// compression is off; no SASL, no TLS.
    pub fn new(brokers: Vec<String>) -> Self {
        Self {
            brokers,
            client_id: "metaverse".into(),
            topics: TopicNames::default(),
            partitions: 3,
            replication: 1,
            compression: Compression::NoCompression,
            linger: Duration::from_millis(5),
            backlog: 50_000,
            chat_wait: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            sasl: None,
            tls: None,
        }
    }
}

/// Why talking to Kafka failed; the writer and the consumer back off and
/// retry on any of them.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The client or a broker reported an error.
    #[error("kafka: {0}")]
    Client(#[from] ClientError),
    /// No answer within the request bound (rskafka alone would retry forever).
    #[error("kafka: no answer within {0:?}")]
    Timeout(Duration),
    /// The CA bundle could not be read or the TLS setup failed.
    #[error("kafka TLS: {0}")]
    Tls(String),
    /// A topic exists without partitions, so nothing can be keyed to it.
    #[error("kafka: topic {0} has no partitions")]
    NoPartitions(String),
}

impl KafkaError {
    /// The fetch asked for an offset the log no longer (or not yet) holds:
    /// the consumer then restarts from the log's earliest record.
    pub fn is_offset_out_of_range(&self) -> bool {
        matches!(
            self,
            KafkaError::Client(ClientError::ServerError { protocol_error: ProtocolError::OffsetOutOfRange, .. })
        )
    }
}

/// Runs `f` within the request bound.
pub async fn bounded<T, F>(limit: Duration, f: F) -> Result<T, KafkaError>
where
    F: std::future::Future<Output = Result<T, ClientError>>,
{
    match tokio::time::timeout(limit, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(KafkaError::Timeout(limit)),
    }
}

fn tls_config(ca: Option<&PathBuf>) -> Result<Arc<rustls::ClientConfig>, KafkaError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| KafkaError::Tls(format!("{path:?}: {e}")))? {
                let cert = cert.map_err(|e| KafkaError::Tls(format!("{path:?}: {e}")))?;
                roots.add(cert).map_err(|e| KafkaError::Tls(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KafkaError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to the cluster. rskafka retries forever by default; the
/// deadline makes an unreachable broker an error the caller can back off
/// from.
pub async fn connect(s: &KafkaSettings) -> Result<Client, KafkaError> {
    let mut b = ClientBuilder::new(s.brokers.clone()).client_id(s.client_id.clone()).backoff_config(BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        base: 2.0,
        deadline: Some(s.request_timeout),
    });
    if let Some(sasl) = &s.sasl {
        let c = Credentials::new(sasl.username.clone(), sasl.password.clone());
        b = b.sasl_config(match sasl.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(c),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(c),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(c),
        });
    }
    if let Some(ca) = &s.tls {
        b = b.tls_config(tls_config(ca.as_ref())?);
    }
    bounded(s.request_timeout, b.build()).await
}

/// Creates missing topics and returns each topic's partition count.
pub async fn ensure_topics(client: &Client, s: &KafkaSettings) -> Result<HashMap<Topic, i32>, KafkaError> {
    let mut counts = HashMap::new();
    let existing = bounded(s.request_timeout, client.list_topics()).await?;
    let controller = client.controller_client()?;
    for t in Topic::ALL {
        let name = s.topics.name(t);
        let found =
            existing.iter().find(|x| x.name == name).map(|x| i32::try_from(x.partitions.len()).unwrap_or(i32::MAX));
        let n = match found {
            Some(n) => n,
            None => {
                let timeout_ms = i32::try_from(s.request_timeout.as_millis()).unwrap_or(i32::MAX);
                match bounded(s.request_timeout, controller.create_topic(name, s.partitions, s.replication, timeout_ms))
                    .await
                {
                    Ok(()) => tracing::info!(topic = name, partitions = s.partitions, "created Kafka topic"),
                    // Another node made it first.
                    Err(KafkaError::Client(ClientError::ServerError {
                        protocol_error: ProtocolError::TopicAlreadyExists,
                        ..
                    })) => {}
                    Err(e) => return Err(e),
                }
                let listed = bounded(s.request_timeout, client.list_topics()).await?;
                listed
                    .iter()
                    .find(|x| x.name == name)
                    .map(|x| i32::try_from(x.partitions.len()).unwrap_or(i32::MAX))
                    .unwrap_or(s.partitions)
            }
        };
        if n < 1 {
            return Err(KafkaError::NoPartitions(name.to_owned()));
        }
        counts.insert(t, n);
    }
    Ok(counts)
}

/// The partition of a key: FNV-1a, so every producer of ours (and any other
/// that hashes the same way) keeps one space's records in one partition,
/// in order.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    // The remainder is below `partitions`, so it always fits.
    i32::try_from(fnv1a(key) % u64::from(partitions.max(1).unsigned_abs())).unwrap_or(0)
}

/// FNV-1a, 64 bits: stable across builds and platforms.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitioning_is_stable_and_in_range() {
        assert_eq!(partition_for(b"space-1", 3), partition_for(b"space-1", 3));
        // FNV-1a of the empty key is the offset basis.
        assert_eq!(partition_for(b"", 7), (0xcbf2_9ce4_8422_2325u64 % 7) as i32);
        let spread: std::collections::HashSet<i32> =
            (0..100).map(|i| partition_for(format!("space-{i}").as_bytes(), 3)).collect();
        assert_eq!(spread.len(), 3, "keys spread over every partition");
        assert_eq!(partition_for(b"x", 0), 0, "no partitions is treated as one");
    }
}

//! Wires the event pipeline from the configuration: Kafka (writer, and
//! the consumer unless `--no-consumer`) when brokers are given, otherwise
//! the in-process analytics fold.

use std::time::Duration;

use anyhow::{Context, bail};
use metaverse_actors::{
    pipeline::{
        EventSink,
        consumer::{Consumer, ConsumerSettings},
        kafka::{KafkaSettings, Sasl, TopicNames},
    },
    writers::{analytics::LocalAnalytics, events::EventWriterHandle},
};
use metaverse_schema::store::DatabaseConnection;
use rskafka::client::partition::Compression;

use crate::config::{ConsumerConfig, KafkaCompression, KafkaConfig, SaslMechanism, ServeConfig};

/// Kafka's own rule for topic names.
fn check_topic(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!("Kafka topic name {name:?}: use 1 to 249 of [a-zA-Z0-9._-]");
    }
    Ok(())
}

fn check_broker(b: &str) -> anyhow::Result<()> {
    let port = b.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(p))) if !host.is_empty() && p > 0 => Ok(()),
        _ => bail!("Kafka broker {b:?}: expected host:port"),
    }
}

/// The Kafka settings, or `None` when no brokers are configured.
pub fn kafka_settings(k: &KafkaConfig) -> anyhow::Result<Option<KafkaSettings>> {
    let brokers: Vec<String> = k.kafka_brokers.iter().map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()).collect();
    if brokers.is_empty() {
        return Ok(None);
    }
    for b in &brokers {
        check_broker(b)?;
    }
    let topics = TopicNames {
        chat: k.kafka_topic_chat.clone(),
        user_events: k.kafka_topic_user_events.clone(),
        analytics: k.kafka_topic_analytics.clone(),
    };
    for t in [&topics.chat, &topics.user_events, &topics.analytics] {
        check_topic(t)?;
    }
    if topics.chat == topics.user_events || topics.chat == topics.analytics || topics.user_events == topics.analytics {
        bail!("the three Kafka topics must have different names");
    }
    let sasl = match k.kafka_sasl_mechanism {
        None => None,
        Some(m) => Some(Sasl {
            mechanism: match m {
                SaslMechanism::Plain => metaverse_actors::pipeline::kafka::SaslMechanism::Plain,
                SaslMechanism::ScramSha256 => metaverse_actors::pipeline::kafka::SaslMechanism::ScramSha256,
                SaslMechanism::ScramSha512 => metaverse_actors::pipeline::kafka::SaslMechanism::ScramSha512,
            },
            username: k.kafka_sasl_username.clone().context("--kafka-sasl-username is required with SASL")?,
            password: k.kafka_sasl_password.clone().context("--kafka-sasl-password is required with SASL")?,
        }),
    };
    let tls = match (&k.kafka_ca_file, k.kafka_tls) {
        (Some(path), _) => Some(Some(path.clone())),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let mut s = KafkaSettings::new(brokers);
    s.client_id = k.kafka_client_id.clone();
    s.topics = topics;
    s.partitions = k.kafka_partitions;
    s.replication = k.kafka_replication;
    s.compression = match k.kafka_compression {
        KafkaCompression::None => Compression::NoCompression,
        KafkaCompression::Gzip => Compression::Gzip,
        KafkaCompression::Lz4 => Compression::Lz4,
        KafkaCompression::Snappy => Compression::Snappy,
    };
    s.linger = k.kafka_linger;
    s.backlog = k.kafka_backlog as usize;
    s.chat_wait = k.kafka_chat_wait;
    s.request_timeout = k.kafka_timeout;
    s.sasl = sasl;
    s.tls = tls;
    Ok(Some(s))
}

fn default_consumer_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>())
}

pub fn consumer_settings(kafka: KafkaSettings, c: &ConsumerConfig) -> anyhow::Result<ConsumerSettings> {
    let owner = c.id.clone().unwrap_or_else(default_consumer_id);
    if owner.is_empty() || owner.len() > 128 {
        bail!("--consumer-id: 1 to 128 characters");
    }
    let mut s = ConsumerSettings::new(kafka, owner);
    if !c.partitions.is_empty() {
        let mut p = c.partitions.clone();
        p.sort_unstable();
        p.dedup();
        s.partitions = Some(p);
    }
    if c.lease < Duration::from_secs(1) {
        bail!("--consumer-lease: at least 1s");
    }
    s.lease = c.lease;
    Ok(s)
}

/// The running pipeline of one `serve`.
pub struct Pipeline {
    pub sink: EventSink,
    pub kafka: Option<EventWriterHandle>,
    consumer: Option<Consumer>,
    local: Option<LocalAnalytics>,
}

impl Pipeline {
    /// Must run inside the server's runtime.
    pub fn start(db: &DatabaseConnection, cfg: &ServeConfig) -> anyhow::Result<Self> {
        let Some(kafka) = kafka_settings(&cfg.kafka)? else {
            let local = LocalAnalytics::start(db.clone(), 100_000, Duration::from_millis(200));
            return Ok(Self { sink: EventSink::Local(local.clone()), kafka: None, consumer: None, local: Some(local) });
        };
        tracing::info!(brokers = ?kafka.brokers, "events go through Kafka");
        let consumer = if cfg.no_consumer {
            None
        } else {
            Some(Consumer::start(db.clone(), consumer_settings(kafka.clone(), &cfg.consumer)?))
        };
        let writer = EventWriterHandle::start(kafka);
        Ok(Self { sink: EventSink::Kafka(writer.clone()), kafka: Some(writer), consumer, local: None })
    }

    /// Produces (or folds) what is queued and stops consuming.
    pub async fn shutdown(self, within: Duration) {
        if let Some(l) = &self.local {
            l.shutdown(within).await;
        }
        if let Some(w) = &self.kafka {
            w.shutdown(within).await;
        }
        if let Some(c) = self.consumer {
            c.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked() {
        assert!(check_topic("chat-messages").is_ok());
        assert!(check_topic("a.b_c-1").is_ok());
        assert!(check_topic("..").is_err());
        assert!(check_topic("has space").is_err());
        assert!(check_topic(&"x".repeat(250)).is_err());
        assert!(check_broker("127.0.0.1:9092").is_ok());
        assert!(check_broker("kafka:9092").is_ok());
        assert!(check_broker("kafka").is_err());
        assert!(check_broker(":9092").is_err());
        assert!(check_broker("kafka:port").is_err());
    }
}

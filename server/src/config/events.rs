//! The event pipeline: Kafka and the consumer of its topics.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::{DbConfig, LogConfig, parse_duration};

#[derive(Debug, Clone, Args)]
pub struct ConsumeConfig {
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub log: LogConfig,
    #[command(flatten)]
    pub kafka: KafkaConfig,
    #[command(flatten)]
    pub consumer: ConsumerConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KafkaCompression {
    None,
    Gzip,
    Lz4,
    Snappy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    Plain,
    #[value(name = "scram-sha-256")]
    ScramSha256,
    #[value(name = "scram-sha-512")]
    ScramSha512,
}

/// The event pipeline. Without brokers, chat is written straight to the
/// database and analytics are folded in-process.
#[derive(Debug, Clone, Args)]
pub struct KafkaConfig {
    /// Kafka bootstrap brokers, comma-separated (`host:port`). Setting it
    /// makes Kafka the durable log of chat and the source of analytics.
    #[arg(long, env = "KAFKA_BROKERS", value_delimiter = ',')]
    pub kafka_brokers: Vec<String>,
    /// Topic of chat messages.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_CHAT", default_value = "chat-messages")]
    pub kafka_topic_chat: String,
    /// Topic of joins and leaves.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_USER_EVENTS", default_value = "user-events")]
    pub kafka_topic_user_events: String,
    /// Topic of per-message facts.
    #[arg(long, env = "METAVERSE_KAFKA_TOPIC_ANALYTICS", default_value = "chat-analytics")]
    pub kafka_topic_analytics: String,
    /// Partitions of the topics this server creates when they are missing.
    #[arg(long, env = "METAVERSE_KAFKA_PARTITIONS", default_value_t = 3,
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub kafka_partitions: i32,
    /// Replication factor of the topics this server creates.
    #[arg(long, env = "METAVERSE_KAFKA_REPLICATION", default_value_t = 1,
          value_parser = clap::value_parser!(i16).range(1..=100))]
    pub kafka_replication: i16,
    /// Compression of produced batches.
    #[arg(long, env = "METAVERSE_KAFKA_COMPRESSION", value_enum, default_value_t = KafkaCompression::Lz4)]
    pub kafka_compression: KafkaCompression,
    /// How long the writer waits to fill a batch.
    #[arg(long, env = "METAVERSE_KAFKA_LINGER", default_value = "5ms", value_parser = parse_duration)]
    pub kafka_linger: Duration,
    /// Records waiting for Kafka, at most. Past it chat is written straight
    /// to the database and analytics events are dropped (and counted).
    #[arg(long, env = "METAVERSE_KAFKA_BACKLOG", default_value_t = 50_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub kafka_backlog: u32,
    /// How long a chat message waits for Kafka before it is written straight
    /// to the database instead.
    #[arg(long, env = "METAVERSE_KAFKA_CHAT_WAIT", default_value = "2s", value_parser = parse_duration)]
    pub kafka_chat_wait: Duration,
    /// Bound of each Kafka request, retries included.
    #[arg(long, env = "METAVERSE_KAFKA_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
    /// Client id sent to the brokers.
    #[arg(long, env = "METAVERSE_KAFKA_CLIENT_ID", default_value = "metaverse")]
    pub kafka_client_id: String,
    /// SASL mechanism; needs `--kafka-sasl-username` and `--kafka-sasl-password`.
    #[arg(long, env = "METAVERSE_KAFKA_SASL_MECHANISM", value_enum, requires_all = ["kafka_sasl_username", "kafka_sasl_password"])]
    pub kafka_sasl_mechanism: Option<SaslMechanism>,
    #[arg(long, env = "METAVERSE_KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,
    #[arg(long, env = "METAVERSE_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,
    /// Connect to the brokers over TLS (trusting the Mozilla roots unless
    /// `--kafka-ca-file` is given).
    #[arg(long, env = "METAVERSE_KAFKA_TLS")]
    pub kafka_tls: bool,
    /// PEM bundle of the CAs to trust for the brokers' TLS; implies `--kafka-tls`.
    #[arg(long, env = "METAVERSE_KAFKA_CA_FILE")]
    pub kafka_ca_file: Option<PathBuf>,
}

/// The consumer of the Kafka topics (history and analytics).
#[derive(Debug, Clone, Args)]
pub struct ConsumerConfig {
    /// Partitions (of every topic) this process consumes, comma-separated.
    /// Empty: all, with leases deciding which process works on which.
    #[arg(long = "consumer-partitions", visible_alias = "partitions", env = "METAVERSE_CONSUMER_PARTITIONS", value_delimiter = ',',
          value_parser = clap::value_parser!(i32).range(0..=10_000))]
    pub partitions: Vec<i32>,
    /// This consumer's name in the partition leases (default: host, pid and
    /// a random suffix).
    #[arg(long = "consumer-id", env = "METAVERSE_CONSUMER_ID")]
    pub id: Option<String>,
    /// How long a consumer's partition lease lasts without renewal; another
    /// consumer takes the partition over after it.
    #[arg(long = "consumer-lease", env = "METAVERSE_CONSUMER_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub lease: Duration,
}

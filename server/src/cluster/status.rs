//! What each node publishes about itself, and the operator commands that
//! read it (`metaverse cluster status`, `metaverse cluster drain`).

use std::time::{Duration, Instant};

use fred::prelude::*;
use serde::{Deserialize, Serialize};

use super::wire::{self, Envelope};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub node: String,
    pub incarnation: String,
    pub ws_url: String,
    pub draining: bool,
    pub started_at_ms: i64,
    /// WebSocket sessions open on the node.
    pub sessions: u64,
    /// Sessions on the node relayed to spaces on other nodes.
    pub relayed_out: u64,
    /// Members of the node's spaces whose sockets are on other nodes.
    pub relayed_in: u64,
    pub spaces: Vec<SpaceInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpaceInfo {
    pub space_id: String,
    pub token: u64,
    pub lease_age_ms: u64,
    pub members: u64,
}

/// Node ids and key prefixes: they appear in Redis keys and lease values.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Every node that published its status recently; gone ones are dropped
/// from the node set.
pub async fn read_nodes(redis: &Client, prefix: &str) -> Result<Vec<NodeInfo>, fred::error::Error> {
    let set = format!("{prefix}:nodes");
    let ids: Vec<String> = redis.smembers(&set).await?;
    let mut nodes = Vec::with_capacity(ids.len());
    for id in ids {
        let raw: Option<String> = redis.get(format!("{prefix}:nodeinfo:{id}")).await?;
        match raw.and_then(|r| serde_json::from_str::<NodeInfo>(&r).ok()) {
            Some(info) => nodes.push(info),
            None => {
                let _: Result<i64, _> = redis.srem(&set, id).await;
            }
        }
    }
    nodes.sort_by(|a, b| a.node.cmp(&b.node));
    Ok(nodes)
}

fn age(ms: u64) -> String {
    humantime::format_duration(Duration::from_secs(ms / 1000)).to_string()
}

pub fn render(nodes: &[NodeInfo]) -> String {
    let mut out = String::new();
    if nodes.is_empty() {
        out.push_str("no live nodes\n");
        return out;
    }
    for n in nodes {
        let state = if n.draining { "draining" } else { "serving" };
        let members: u64 = n.spaces.iter().map(|s| s.members).sum();
        out.push_str(&format!(
            "{}  {state}  {}  sessions {}  (relayed out {}, in {})  spaces {}  members {}\n",
            n.node,
            n.ws_url,
            n.sessions,
            n.relayed_out,
            n.relayed_in,
            n.spaces.len(),
            members
        ));
        for s in &n.spaces {
            out.push_str(&format!(
                "    {}  members {}  lease token {}  held {}\n",
                s.space_id,
                s.members,
                s.token,
                age(s.lease_age_ms)
            ));
        }
    }
    out
}

/// Asks a node to drain; with `wait`, waits until it owns no space.
pub async fn drain(redis: &Client, prefix: &str, node: &str, wait: Option<Duration>) -> anyhow::Result<String> {
    let bytes = wire::encode(&[Envelope::Drain {}]).ok_or_else(|| anyhow::anyhow!("encoding the request"))?;
    let listeners: i64 = redis.publish(format!("{prefix}:node:{node}"), bytes).await?;
    if listeners == 0 {
        anyhow::bail!("node {node:?} is not running (nobody listens on its channel)");
    }
    let Some(wait) = wait else { return Ok(format!("asked {node} to drain")) };
    let until = Instant::now() + wait;
    loop {
        let raw: Option<String> = redis.get(format!("{prefix}:nodeinfo:{node}")).await?;
        match raw.and_then(|r| serde_json::from_str::<NodeInfo>(&r).ok()) {
            None => return Ok(format!("{node} is gone")),
            Some(info) if info.draining && info.spaces.is_empty() && info.relayed_out == 0 => {
                return Ok(format!("{node} is drained: it owns no space; {} sockets still open", info.sessions));
            }
            Some(info) if Instant::now() > until => {
                anyhow::bail!(
                    "{node} still owns {} spaces after {}",
                    info.spaces.len(),
                    humantime::format_duration(wait)
                );
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("node-1.a_b"));
        for bad in ["", "a b", "a:b", "ü", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn status_renders_nodes_and_spaces() {
        let n = NodeInfo {
            node: "n1".into(),
            incarnation: "i".into(),
            ws_url: "ws://h:1".into(),
            draining: true,
            started_at_ms: 0,
            sessions: 3,
            relayed_out: 1,
            relayed_in: 2,
            spaces: vec![SpaceInfo { space_id: "s1".into(), token: 7, lease_age_ms: 65_000, members: 4 }],
        };
        let text = render(&[n]);
        assert!(text.contains("n1  draining"));
        assert!(text.contains("s1  members 4  lease token 7  held 1m 5s"));
        assert_eq!(render(&[]), "no live nodes\n");
    }
}

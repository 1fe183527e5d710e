use super::*;
use std::net::SocketAddr;

#[test]
fn cli_definition_is_consistent() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
}

#[test]
fn durations_and_lists_parse() {
    let cli = Cli::try_parse_from(["metaverse", "--token-ttl", "15m", "--cors-origins", "http://a.test,http://b.test"])
        .unwrap();
    assert_eq!(cli.serve.token_ttl, Duration::from_secs(900));
    assert_eq!(cli.serve.cors_origins.len(), 2);
    assert!(Cli::try_parse_from(["metaverse", "--token-ttl", "0s"]).is_err());
    assert!(Cli::try_parse_from(["metaverse", "--admin-signup", "sometimes"]).is_err());
    let cli = Cli::try_parse_from(["metaverse", "--tick", "20ms", "--view", "60x45"]).unwrap();
    assert_eq!(cli.serve.tick, Duration::from_millis(20));
    assert_eq!(cli.serve.view, metaverse_actors::ViewWindow { width: 60, height: 45 });
    for bad in [["--tick", "2s"], ["--view", "40"], ["--view", "4x30"], ["--view", "40x-1"]] {
        assert!(Cli::try_parse_from(["metaverse", bad[0], bad[1]]).is_err(), "{bad:?} is refused");
    }
    let cli = Cli::try_parse_from([
        "metaverse",
        "--node-id",
        "n-1",
        "--advertised-ws-url",
        "wss://a.test/ws/",
        "--lease-ttl",
        "3s",
    ])
    .unwrap();
    assert_eq!(cli.serve.cluster.node_id.as_deref(), Some("n-1"));
    assert_eq!(cli.serve.cluster.advertised_ws_url.as_deref(), Some("wss://a.test/ws"));
    assert_eq!(cli.serve.cluster.lease_ttl, Duration::from_secs(3));
    for bad in [
        ["--node-id", "a b"],
        ["--node-id", "a:b"],
        ["--advertised-ws-url", "http://x"],
        ["--lease-ttl", "500ms"],
        ["--lease-ttl", "1h"],
    ] {
        assert!(Cli::try_parse_from(["metaverse", bad[0], bad[1]]).is_err(), "{bad:?} is refused");
    }
    let unspecified: SocketAddr = "0.0.0.0:3001".parse().unwrap();
    assert!(cli.serve.cluster.ws_url(unspecified).is_ok(), "the advertised URL wins");
    let plain = Cli::try_parse_from(["metaverse"]).unwrap().serve.cluster;
    assert!(plain.ws_url(unspecified).is_err());
    assert_eq!(plain.ws_url("127.0.0.1:4001".parse().unwrap()).unwrap(), "ws://127.0.0.1:4001");
    assert!(matches!(
        Cli::try_parse_from(["metaverse", "cluster", "--redis-url", "redis://x", "drain", "n-1"]).unwrap().command,
        Some(Command::Cluster { op: ClusterOp::Drain { .. }, .. })
    ));
    assert!(matches!(Cli::try_parse_from(["metaverse", "migrate"]).unwrap().command, Some(Command::Migrate { .. })));
}

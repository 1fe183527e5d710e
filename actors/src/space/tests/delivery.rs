//! Where frames are made and how they travel: spaces on the realtime
//! arbiters, and chat riding the tick's batch frame.

use super::*;

/// Which thread the space runs on.
#[derive(Message)]
#[rtype(result = "std::thread::ThreadId")]
struct WhichThread;

impl Handler<WhichThread> for SpaceActor {
    type Result = MessageResult<WhichThread>;

    fn handle(&mut self, _: WhichThread, _: &mut Self::Context) -> Self::Result {
        MessageResult(std::thread::current().id())
    }
}

#[actix::test]
async fn spaces_are_dealt_out_over_the_realtime_arbiters() {
    let (tx, _positions) = mpsc::channel(16);
    let registry = Registry::new(settings(), tx, EventSink::Off);
    let pool = [Arbiter::new(), Arbiter::new()];
    registry.run_spaces_on(pool.iter().map(Arbiter::handle).collect());
    let mut threads = Vec::new();
    for i in 0..4 {
        let space = registry.get_or_start(init(&format!("s{i}"), 10, 10));
        threads.push(space.send(WhichThread).await.expect("space alive"));
    }
    let here = std::thread::current().id();
    assert!(threads.iter().all(|t| *t != here), "no space on the caller's thread");
    assert_eq!((threads[0], threads[1]), (threads[2], threads[3]), "in turn");
    assert_ne!(threads[0], threads[1], "over both arbiters");
    // A space on another thread serves a join like any other.
    let (msg, mut port) = join_msg("ada", 1, 64, None);
    registry.get_or_start(init("s1", 10, 10)).send(msg).await.expect("space alive").expect("joined");
    expect(&mut port, "space-joined").await;
    for a in pool {
        a.stop();
    }
}

#[actix::test]
async fn chat_rides_the_tick_frame_for_batched_members_and_goes_at_once_to_the_others() {
    // A long tick, so the three messages surely fall into one.
    let h = start(10, 10, SpaceSettings { tick: Duration::from_secs(1), ..settings() });
    let (batched, mut b) = join_msg("bat", 1, 64, None);
    let batched = Join { link: batched.link.batched(true), ..batched };
    h.space.send(batched).await.expect("space alive").expect("joined");
    let (mut plain, _) = join(&h, "pla", 2).await;
    let room: Arc<str> = Arc::from("r1");
    for (user, session_id) in [("bat", 1), ("pla", 2)] {
        let sub = ChatSubscribe { user: user.into(), session_id, room: room.clone() };
        assert!(h.space.send(sub).await.expect("space alive"));
    }
    let chat = |n: u32| ServerMsg::ChatMessage {
        id: format!("m{n}"),
        chatroom_id: "r1".into(),
        user_id: "pla".into(),
        username: "PLA".into(),
        content: format!("hello {n}"),
        kind: "text".into(),
        sent_at: "2026-12-04T00:00:00Z".into(),
        client_id: None,
        attachment: None,
    };
    for n in 0..3 {
        h.space.send(ChatDeliver { room: room.clone(), msg: chat(n) }).await.expect("space alive");
    }
    // The plain member got three frames at once.
    for n in 0..3 {
        assert_eq!(expect(&mut plain, "chat-message").await["payload"]["id"], format!("m{n}"));
    }
    // The batched one gets the plain member's arrival and the three in one
    // tick frame, in the order they happened.
    let batch = expect(&mut b, "batch").await;
    let events = batch["payload"]["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().expect("a type")).collect();
    let ids: Vec<&str> = events.iter().filter_map(|e| e["payload"]["id"].as_str()).collect();
    assert_eq!(kinds, ["user-join", "chat-message", "chat-message", "chat-message"], "{batch}");
    assert_eq!(ids, ["m0", "m1", "m2"], "{batch}");
}

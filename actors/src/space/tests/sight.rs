//! Who sees whom: the view window, the whole space while it is not
//! crowded, and presence as a viewer sees it.

use super::*;

#[actix::test]
async fn presence_shows_a_viewer_its_view_window_only() {
    // Three is a crowd here, so everyone gets the window.
    let h = start(200, 200, SpaceSettings { view_all_up_to: 2, ..settings() });
    let mut ports = Vec::new();
    for (session, (user, x, y)) in (1..).zip([("a", 0, 0), ("near", 2, 2), ("far", 199, 199)]) {
        let (msg, port) = join_at(user, session, x, y);
        h.space.send(msg).await.expect("space alive").expect("joined");
        ports.push(port);
    }
    let seen = |viewer: Option<&str>| {
        let viewer = viewer.map(str::to_owned);
        let space = h.space.clone();
        async move {
            let mut ids: Vec<String> =
                space.send(Members { viewer }).await.expect("space alive").into_iter().map(|p| p.user_id).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(seen(Some("a")).await, ["a", "near"]);
    assert_eq!(seen(Some("far")).await, ["far"]);
    assert!(seen(Some("stranger")).await.is_empty(), "someone not in the space sees nobody");
    assert_eq!(seen(None).await.len(), 3);
}

fn ids(users: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        users.as_array().expect("a list").iter().map(|u| u["userId"].as_str().expect("an id").to_owned()).collect();
    ids.sort();
    ids
}

#[actix::test]
async fn everyone_is_seen_until_the_space_is_crowded_unless_a_window_was_asked_for() {
    let h = start(200, 200, SpaceSettings { view_all_up_to: 3, ..settings() });
    let (msg, mut a) = join_at("a", 1, 0, 0);
    h.space.send(msg).await.expect("space alive").expect("joined");
    let (msg, _far) = join_at("far", 2, 199, 199);
    h.space.send(msg).await.expect("space alive").expect("joined");
    assert_eq!(expect(&mut a, "user-join").await["payload"]["userId"], "far", "the whole space is in view");
    // A client that asked for a window sees its window even now.
    let (mut msg, mut w) = join_at("w", 3, 1, 0);
    msg.link.view = Some(crate::world::ViewWindow::default());
    h.space.send(msg).await.expect("space alive").expect("joined");
    let joined = expect(&mut w, "space-joined").await;
    assert_eq!(ids(&joined["payload"]["users"]), ["a"]);
    // A fourth person makes a crowd: the far one goes out of `a`'s view.
    let (msg, _near) = join_at("near", 4, 2, 2);
    h.space.send(msg).await.expect("space alive").expect("joined");
    assert_eq!(expect(&mut a, "view-leave").await["payload"]["userId"], "far");
    // Back to three: everyone again.
    h.space
        .send(Leave { user: "near".into(), session_id: 4, dropped: false, unsent: Vec::new() })
        .await
        .expect("alive");
    let back = expect(&mut a, "view-enter").await;
    assert_eq!((back["payload"]["userId"].as_str(), back["payload"]["x"].as_i64()), (Some("far"), Some(199)));
    // And `w` never saw the far one come or go (its frames of that tick
    // were queued with `a`'s).
    while let Some(v) = w.rx.try_recv() {
        let v: Value = serde_json::from_slice(&v).expect("JSON");
        assert_ne!(v["payload"]["userId"], "far", "{v}");
    }
}

//! Membership of rooms and spaces, and last positions.

use metaverse_schema::store::{chatrooms, members, positions};

use crate::common::{each_engine, space_with_room, user};

#[tokio::test]
async fn room_membership_is_added_once() {
    each_engine(|db| async move {
        let ann = user(&db, "ann").await;
        let bob = user(&db, "bob").await;
        let (_, room) = space_with_room(&db, &ann, "hall").await;
        assert!(members::is_room_member(&db, &room, &ann).await.unwrap(), "the creator is the first member");
        assert!(!members::is_room_member(&db, &room, &bob).await.unwrap());
        assert!(members::join_room(&db, &room, &bob, 9).await.unwrap(), "new member");
        assert!(!members::join_room(&db, &room, &bob, 10).await.unwrap(), "already a member");
        assert!(members::is_room_member(&db, &room, &bob).await.unwrap());
        let counts = chatrooms::member_counts(&db, vec![room.clone(), "r-none".into()]).await.unwrap();
        assert_eq!(counts.get(&room), Some(&2));
        assert_eq!(counts.get("r-none"), None);
    })
    .await;
}

#[tokio::test]
async fn space_membership_counts_the_creator_and_whoever_entered() {
    each_engine(|db| async move {
        let ann = user(&db, "ann").await;
        let bob = user(&db, "bob").await;
        let cy = user(&db, "cy").await;
        let (space, _) = space_with_room(&db, &ann, "hall").await;
        assert!(members::in_space(&db, &space, &ann).await.unwrap());
        assert!(!members::in_space(&db, &space, &bob).await.unwrap());
        assert!(!members::in_space(&db, "s-none", &bob).await.unwrap());
        assert_eq!(members::enter_space(&db, &space, &bob, 20).await.unwrap(), None, "first visit");
        assert!(members::in_space(&db, &space, &bob).await.unwrap());
        positions::save_last(&db, &space, &bob, (3, 4), 30).await.unwrap();
        assert_eq!(members::enter_space(&db, &space, &bob, 40).await.unwrap(), Some((3, 4)));
        // Saving a position makes a member of someone who never entered.
        positions::save_last(&db, &space, &cy, (1, 2), 50).await.unwrap();
        assert!(members::in_space(&db, &space, &cy).await.unwrap());
        assert_eq!(members::enter_space(&db, &space, &cy, 60).await.unwrap(), Some((1, 2)));
    })
    .await;
}

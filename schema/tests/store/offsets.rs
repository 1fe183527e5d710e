//! Consumer leases: one holder at a time, and commits only from the
//! offset the holder read.

use metaverse_schema::store::offsets::{self, Advance, Partition};

use crate::common::each_engine;

fn part(owner: &str) -> Partition<'_> {
    Partition { topic: "chat", partition: 0, owner }
}

fn advance(from: i64, to: i64, now: i64) -> Advance {
    Advance { from, to, digest: Some(format!("d{to}")), now, lease_until: now + 100 }
}

#[tokio::test]
async fn one_consumer_holds_a_partition_until_its_lease_ends() {
    each_engine(|db| async move {
        assert!(offsets::find(&db, "chat", 0).await.unwrap().is_none());
        assert!(offsets::take_lease(&db, part("a"), 1_000, 1_100).await.unwrap());
        let row = offsets::find(&db, "chat", 0).await.unwrap().unwrap();
        assert_eq!((row.next_offset, row.owner.as_deref(), row.lease_until), (-1, Some("a"), 1_100));
        assert!(!offsets::take_lease(&db, part("b"), 1_050, 1_150).await.unwrap(), "still a's");
        assert!(offsets::take_lease(&db, part("a"), 1_050, 1_150).await.unwrap(), "a renews");

        assert!(offsets::advance(&db, part("a"), advance(-1, 10, 1_060)).await.unwrap());
        assert!(!offsets::advance(&db, part("a"), advance(-1, 12, 1_070)).await.unwrap(), "not from -1 any more");
        assert!(!offsets::advance(&db, part("b"), advance(10, 12, 1_070)).await.unwrap(), "b does not hold it");
        let row = offsets::find(&db, "chat", 0).await.unwrap().unwrap();
        assert_eq!((row.next_offset, row.last_digest.as_deref()), (10, Some("d10")));

        assert!(offsets::take_lease(&db, part("b"), 1_200, 1_300).await.unwrap(), "a's lease ran out");
        offsets::release(&db, part("a")).await.unwrap();
        assert_eq!(
            offsets::find(&db, "chat", 0).await.unwrap().unwrap().owner.as_deref(),
            Some("b"),
            "a no longer held it"
        );
        offsets::release(&db, part("b")).await.unwrap();
        let row = offsets::find(&db, "chat", 0).await.unwrap().unwrap();
        assert_eq!((row.owner, row.lease_until, row.next_offset), (None, 0, 10), "released, offset kept");
        assert!(offsets::take_lease(&db, part("c"), 1_210, 1_310).await.unwrap());
    })
    .await;
}

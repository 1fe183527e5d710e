//! Folding analytics events into the analytics tables. The same fold runs
//! in the Kafka consumer (inside the transaction that stores its offset,
//! so each record counts once) and, without Kafka, in-process.
//!
//! rskafka has no idempotent producer: a produce retried after a timeout
//! may put a record in the log twice. Each event therefore has a key
//! (`m:<messageId>`, `j:<sessionId>`, `l:<sessionId>`) remembered in
//! `analytics_seen` for a day, and an event whose key is there is skipped.

use std::collections::{BTreeMap, BTreeSet};

use metaverse_schema::{
    entity::{analytics_minute_user, analytics_room_minute, analytics_seen, analytics_session, analytics_space_minute},
    store::{ConnectionTrait, DbErr, analytics::write},
};

use super::record::{AnalyticsEvent, UserEventKind};
use crate::metric_names;

/// The analytics tables' bucket: every row is one minute of one space or room.
pub const MINUTE_MS: i64 = 60_000;
/// A visit marks each of its minutes as present, up to this many (the
/// last day of a longer one).
pub const MAX_SPAN_MINUTES: i64 = 1_440;

/// The start of the minute bucket a Unix-millisecond time falls in (also
/// for times before 1970, so buckets never straddle zero).
pub fn minute_of(ms: i64) -> i64 {
    ms - ms.rem_euclid(MINUTE_MS)
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    joins: i64,
    leaves: i64,
    messages: i64,
    attachments: i64,
}

/// How long an event's key is remembered against repeats.
pub const SEEN_TTL_MS: i64 = 24 * 60 * MINUTE_MS;

/// A batch of events to fold in one write.
#[derive(Default, Debug)]
pub struct Fold {
    events: Vec<AnalyticsEvent>,
}

fn event_key(e: &AnalyticsEvent) -> String {
    match e {
        AnalyticsEvent::Chat(f) => format!("m:{}", f.message_id),
        AnalyticsEvent::User(u) if u.kind == UserEventKind::Join => format!("j:{}", u.session_id),
        AnalyticsEvent::User(u) => format!("l:{}", u.session_id),
    }
}

fn event_time(e: &AnalyticsEvent) -> i64 {
    match e {
        AnalyticsEvent::Chat(f) => f.at,
        AnalyticsEvent::User(u) => u.at,
    }
}

impl Fold {
    /// Nothing to write: the caller may skip the transaction.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events in the batch, repeats included: what a batch that keeps
    /// failing counts as dropped.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Queues an event; nothing is checked or written until `apply`.
    pub fn add(&mut self, e: AnalyticsEvent) {
        self.events.push(e);
    }

    /// Writes the batch, skipping events already folded. Run it inside a
    /// transaction: it is several statements, and counters must not be
    /// added twice. Returns what was counted, for `record_metrics` once
    /// the transaction committed.
    pub async fn apply<C: ConnectionTrait>(&self, db: &C) -> Result<Tally, DbErr> {
        let mut keys: Vec<(String, i64, &AnalyticsEvent)> =
            self.events.iter().map(|e| (event_key(e), event_time(e), e)).collect();
        // Repeats inside the batch, then repeats of earlier batches.
        let mut in_batch = std::collections::HashSet::new();
        keys.retain(|(k, _, _)| in_batch.insert(k.clone()));
        let wanted: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let seen: std::collections::HashSet<String> = write::seen_keys(db, &wanted).await?.into_iter().collect();
        if !seen.is_empty() {
            metrics::counter!(metric_names::ANALYTICS_REPEATS_TOTAL).increment(seen.len() as u64);
        }
        keys.retain(|(k, _, _)| !seen.contains(k));
        let rows = keys.iter().map(|(k, at, _)| analytics_seen::Model { event_key: k.clone(), at: *at }).collect();
        write::remember_keys(db, rows).await?;
        let mut tally = Tally::default();
        for (_, _, e) in keys {
            tally.add(e);
        }
        tally.write(db).await?;
        Ok(tally)
    }
}

/// Forgets event keys older than the repeat window.
pub async fn prune_seen<C: ConnectionTrait>(db: &C, now: i64) -> Result<u64, DbErr> {
    write::forget_keys_before(db, now - SEEN_TTL_MS).await
}

/// Events aggregated in memory before one write.
#[derive(Default, Debug)]
pub struct Tally {
    minutes: BTreeMap<(String, i64), Counts>,
    present: BTreeSet<(String, i64, String)>,
    rooms: BTreeMap<(String, i64), (String, i64)>,
    sessions: BTreeMap<String, analytics_session::Model>,
}

impl Tally {
    fn add(&mut self, e: &AnalyticsEvent) {
        match e {
            AnalyticsEvent::User(u) => {
                let minute = minute_of(u.at);
                let c = self.minutes.entry((u.space_id.clone(), minute)).or_default();
                match u.kind {
                    UserEventKind::Join => {
                        c.joins += 1;
                        self.present.insert((u.space_id.clone(), minute, u.user_id.clone()));
                    }
                    UserEventKind::Leave => {
                        c.leaves += 1;
                        let joined = u.joined_at.unwrap_or(u.at);
                        let first = minute_of(joined).max(minute - (MAX_SPAN_MINUTES - 1) * MINUTE_MS);
                        let mut m = first;
                        while m <= minute {
                            self.present.insert((u.space_id.clone(), m, u.user_id.clone()));
                            m += MINUTE_MS;
                        }
                        self.sessions.insert(
                            u.session_id.clone(),
                            analytics_session::Model {
                                session_id: u.session_id.clone(),
                                space_id: u.space_id.clone(),
                                user_id: u.user_id.clone(),
                                joined_at: joined,
                                left_at: u.at,
                                duration_ms: u.duration_ms.unwrap_or(u.at - joined).max(0),
                            },
                        );
                    }
                }
            }
            AnalyticsEvent::Chat(f) => {
                let minute = minute_of(f.at);
                let counts = self.minutes.entry((f.space_id.clone(), minute)).or_default();
                counts.messages += 1;
                counts.attachments += i64::from(matches!(f.kind.as_str(), "image" | "file"));
                self.present.insert((f.space_id.clone(), minute, f.user_id.clone()));
                self.rooms.entry((f.chatroom_id.clone(), minute)).or_insert_with(|| (f.space_id.clone(), 0)).1 += 1;
            }
        }
    }

    async fn write<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        // Every minute someone was present in needs a row for its count.
        let mut minutes = self.minutes.clone();
        for (space, minute, _) in &self.present {
            minutes.entry((space.clone(), *minute)).or_default();
        }
        let rows = minutes
            .iter()
            .map(|((space_id, minute), c)| analytics_space_minute::Model {
                space_id: space_id.clone(),
                minute: *minute,
                joins: c.joins,
                leaves: c.leaves,
                messages: c.messages,
                attachments: c.attachments,
                active_users: 0,
            })
            .collect();
        write::add_space_minutes(db, rows).await?;

        let present = self
            .present
            .iter()
            .map(|(space_id, minute, user_id)| analytics_minute_user::Model {
                space_id: space_id.clone(),
                minute: *minute,
                user_id: user_id.clone(),
            })
            .collect();
        write::mark_present(db, present).await?;

        // Recount presence over each touched space's span of minutes.
        let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (space, minute) in minutes.keys() {
            let span = spans.entry(space.as_str()).or_insert((*minute, *minute));
            span.0 = span.0.min(*minute);
            span.1 = span.1.max(*minute);
        }
        for (space, (from, to)) in spans {
            write::recount_active(db, space, from, to).await?;
        }

        let rooms = self
            .rooms
            .iter()
            .map(|((room, minute), (space, n))| analytics_room_minute::Model {
                chatroom_id: room.clone(),
                minute: *minute,
                space_id: space.clone(),
                messages: *n,
            })
            .collect();
        write::add_room_minutes(db, rooms).await?;
        write::insert_sessions(db, self.sessions.values().cloned().collect()).await
    }

    /// Exports what was folded (call after the write committed).
    pub fn record_metrics(&self) {
        let (mut joins, mut leaves, mut messages) = (0, 0, 0);
        for c in self.minutes.values() {
            joins += c.joins;
            leaves += c.leaves;
            messages += c.messages;
        }
        metrics::counter!(metric_names::ANALYTICS_JOINS_TOTAL).increment(joins as u64);
        metrics::counter!(metric_names::ANALYTICS_LEAVES_TOTAL).increment(leaves as u64);
        metrics::counter!(metric_names::ANALYTICS_MESSAGES_TOTAL).increment(messages as u64);
        for s in self.sessions.values() {
            metrics::histogram!(metric_names::ANALYTICS_SESSION_SECONDS).record(s.duration_ms as f64 / 1000.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::record::{ChatFact, SCHEMA_VERSION, UserEvent};

    fn user(kind: UserEventKind, at: i64, joined: Option<i64>) -> AnalyticsEvent {
        AnalyticsEvent::User(UserEvent {
            v: SCHEMA_VERSION,
            kind,
            space_id: "s".into(),
            user_id: "u".into(),
            session_id: "v1".into(),
            at,
            joined_at: joined,
            duration_ms: joined.map(|j| at - j),
        })
    }

    #[test]
    fn a_visit_marks_every_minute_it_spans() {
        let mut f = Tally::default();
        f.add(&user(UserEventKind::Join, 30_000, None));
        f.add(&user(UserEventKind::Leave, 3 * MINUTE_MS + 5, Some(30_000)));
        assert_eq!(f.present.len(), 4, "minutes 0..=3");
        assert_eq!(f.minutes[&("s".into(), 0)].joins, 1);
        assert_eq!(f.minutes[&("s".into(), 3 * MINUTE_MS)].leaves, 1);
        assert_eq!(f.sessions["v1"].duration_ms, 3 * MINUTE_MS + 5 - 30_000);
    }

    #[test]
    fn very_long_visits_mark_their_last_day() {
        let mut f = Tally::default();
        f.add(&user(UserEventKind::Leave, 10 * MAX_SPAN_MINUTES * MINUTE_MS, Some(0)));
        assert_eq!(i64::try_from(f.present.len()).unwrap(), MAX_SPAN_MINUTES);
    }

    #[test]
    fn messages_count_per_space_and_room() {
        let mut f = Tally::default();
        for i in 0..3 {
            f.add(&AnalyticsEvent::Chat(ChatFact {
                v: SCHEMA_VERSION,
                message_id: format!("m{i}"),
                space_id: "s".into(),
                chatroom_id: "r".into(),
                user_id: "u".into(),
                length: 2,
                kind: ["text", "image", "file"][i].into(),
                at: 61_000,
            }));
        }
        assert_eq!(f.minutes[&("s".into(), MINUTE_MS)].messages, 3);
        assert_eq!(f.minutes[&("s".into(), MINUTE_MS)].attachments, 2, "image and file messages");
        assert_eq!(f.rooms[&("r".into(), MINUTE_MS)], ("s".into(), 3));
    }
}

#[cfg(test)]
mod db_tests {
    use metaverse_schema::{Migrator, MigratorTrait, sea_orm::Database};

    use super::*;
    use crate::pipeline::record::test_chat_fact as fact;

    #[tokio::test]
    async fn a_repeated_event_counts_once() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, None).await.unwrap();
        let mut first = Fold::default();
        first.add(fact("m1"));
        first.add(fact("m1"));
        first.add(fact("m2"));
        first.apply(&db).await.unwrap();
        // The log held m2 twice: a later batch repeats it.
        let mut again = Fold::default();
        again.add(fact("m2"));
        again.add(fact("m3"));
        again.apply(&db).await.unwrap();
        let rows = metaverse_schema::store::analytics::read::space_minutes(&db, "s", 0, 10 * MINUTE_MS).await.unwrap();
        let row = &rows[0];
        assert_eq!((rows.len(), row.minute), (1, 5 * MINUTE_MS));
        assert_eq!(row.messages, 3);
        assert_eq!(row.active_users, 1);
        assert_eq!(prune_seen(&db, 5 * MINUTE_MS + SEEN_TTL_MS - 1).await.unwrap(), 0);
        assert_eq!(prune_seen(&db, 5 * MINUTE_MS + SEEN_TTL_MS + 1).await.unwrap(), 3);
    }
}

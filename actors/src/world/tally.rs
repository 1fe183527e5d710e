//! Events sent in a tick, counted by type for the messages-out metric.
//!
//! A typed counter rather than a bare array, so that a slot can only be
//! reached through the event it counts and the metric label comes from the
//! same place.

/// The world events a tick delivers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// `user-join`: someone entered the space within the viewer's view.
    UserJoin,
    /// `user-left`: someone in view left the space, so the client drops them.
    UserLeft,
    /// `movement`: someone in view stepped and stays in view.
    Movement,
    /// `view-enter`: someone came into the viewer's window without joining
    /// (either of them moved).
    ViewEnter,
    /// `view-leave`: someone left the viewer's window without leaving the
    /// space.
    ViewLeave,
}

impl EventType {
    /// Every type, in the order of `Tally`'s slots.
    pub const ALL: [EventType; 5] =
        [EventType::UserJoin, EventType::UserLeft, EventType::Movement, EventType::ViewEnter, EventType::ViewLeave];

    /// The `type` label of `metaverse_ws_messages_out_total`: the message's
    /// name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            EventType::UserJoin => "user-join",
            EventType::UserLeft => "user-left",
            EventType::Movement => "movement",
            EventType::ViewEnter => "view-enter",
            EventType::ViewLeave => "view-leave",
        }
    }
}

/// How many events of each type went out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally([u64; 5]);

impl Tally {
    /// Counts one event.
    pub fn add(&mut self, kind: EventType) {
        self.0[kind as usize] += 1;
    }

    /// Adds every count of `other` (a shared batch sent to one more viewer).
    pub fn merge(&mut self, other: &Tally) {
        self.0.iter_mut().zip(other.0).for_each(|(t, n)| *t += n);
    }

    /// The count of one type.
    pub fn get(&self, kind: EventType) -> u64 {
        self.0[kind as usize]
    }

    /// The types that were sent at least once, with their counts.
    pub fn nonzero(&self) -> impl Iterator<Item = (EventType, u64)> + '_ {
        EventType::ALL.into_iter().map(|k| (k, self.get(k))).filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_own_type() {
        let mut t = Tally::default();
        t.add(EventType::Movement);
        t.add(EventType::Movement);
        t.add(EventType::ViewLeave);
        let mut u = Tally::default();
        u.add(EventType::UserJoin);
        t.merge(&u);
        let seen: Vec<_> = t.nonzero().map(|(k, n)| (k.name(), n)).collect();
        assert_eq!(seen, [("user-join", 1), ("movement", 2), ("view-leave", 1)]);
        assert_eq!(t.get(EventType::UserLeft), 0);
    }
}

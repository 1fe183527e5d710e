//! Uploads being received or processed: at most so many per node (their
//! bodies are held in memory), and at most a few per user, so one account
//! with slow connections cannot hold every slot.

use dashmap::DashMap;
use metaverse_actors::metric_names;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Uploads one user may have in flight at once.
pub const PER_USER: u32 = 4;

pub struct InFlight {
    total: Semaphore,
    per_user: DashMap<String, u32>,
}

/// One upload in flight, counted (per node, per user, in the gauge) while
/// held.
pub struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    owner: String,
    of: &'a InFlight,
}

impl InFlight {
    pub fn new(total: usize) -> Self {
        Self { total: Semaphore::new(total), per_user: DashMap::new() }
    }

    /// A slot for `owner`, or `None` when the node or the user has too
    /// many uploads in flight.
    pub fn enter(&self, owner: &str) -> Option<Slot<'_>> {
        let permit = self.total.try_acquire().ok()?;
        {
            let mut n = self.per_user.entry(owner.to_owned()).or_insert(0);
            if *n >= PER_USER {
                return None;
            }
            *n += 1;
        }
        metrics::gauge!(metric_names::MEDIA_UPLOADS_IN_FLIGHT).increment(1.0);
        Some(Slot { _permit: permit, owner: owner.to_owned(), of: self })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        metrics::gauge!(metric_names::MEDIA_UPLOADS_IN_FLIGHT).decrement(1.0);
        self.of.per_user.remove_if_mut(&self.owner, |_, n| {
            *n -= 1;
            *n == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_node_and_per_user_bounds() {
        let f = InFlight::new(6);
        let ada: Vec<_> = (0..PER_USER).map(|_| f.enter("ada").expect("within her share")).collect();
        assert!(f.enter("ada").is_none(), "a fifth upload of hers waits");
        let bob = f.enter("bob").expect("others still upload");
        let _cy = f.enter("cy").expect("the sixth slot");
        assert!(f.enter("dee").is_none(), "the node is full");
        drop(bob);
        assert!(f.enter("dee").is_some(), "a slot came back");
        drop(ada);
        assert!(f.per_user.get("ada").is_none(), "no state kept for idle users");
        assert!(f.enter("ada").is_some());
    }
}

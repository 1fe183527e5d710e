//! The setup section: how the users and spaces came to be, and how many
//! clients joined.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Rows,
    format::{counts, n},
};
use crate::setup::UserCounts;

#[derive(Debug, Default, Serialize)]
pub struct SetupSummary {
    pub users: usize,
    pub user_counts: UserCounts,
    pub spaces: usize,
    pub setup_seconds: f64,
    pub joined: u32,
    pub join_failures: BTreeMap<String, u64>,
    pub join_seconds: f64,
    pub open_file_limit: u64,
}

impl SetupSummary {
    pub(super) fn rows(&self, rows: &mut Rows) {
        let uc = &self.user_counts;
        rows.push((
            "setup",
            format!(
                "{} users ({} signed up, {} signed in, {} cached), {} spaces, in {:.1} s",
                n(self.users as u64),
                uc.created,
                uc.signed_in,
                uc.cached,
                self.spaces,
                self.setup_seconds
            ),
        ));
        rows.push((
            "joined",
            format!(
                "{} in {:.1} s; failures: {}",
                n(self.joined as u64),
                self.join_seconds,
                counts(&self.join_failures)
            ),
        ));
    }
}

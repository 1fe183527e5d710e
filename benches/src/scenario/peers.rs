//! Who is who: a user id as the server sends it → the bot's index. A bot
//! looks one up for every move it sees (millions a second in a crowded
//! space), so ids of the usual length (a UUID's 36 characters) are kept
//! inline in the table: the lookup follows no pointer and calls no
//! `memcmp`. Ids of any other length are kept too, boxed.

use rustc_hash::FxHashMap;

/// The length of a UUID in its text form.
const UUID: usize = 36;

#[derive(Debug, Default)]
pub struct Peers {
    uuids: FxHashMap<[u8; UUID], u32>,
    others: FxHashMap<Box<[u8]>, u32>,
}

impl Peers {
    pub fn insert(&mut self, id: &[u8], idx: u32) {
        match <[u8; UUID]>::try_from(id) {
            Ok(inline) => self.uuids.insert(inline, idx),
            Err(_) => self.others.insert(id.into(), idx),
        };
    }

    pub fn get(&self, id: &[u8]) -> Option<u32> {
        match <&[u8; UUID]>::try_from(id) {
            Ok(inline) => self.uuids.get(inline).copied(),
            Err(_) => self.others.get(id).copied(),
        }
    }

    pub fn len(&self) -> usize {
        self.uuids.len() + self.others.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_every_length_are_found_and_only_they() {
        let mut p = Peers::default();
        let uuid = b"019ae1c2-7a3b-7c00-8d4e-5f6a7b8c9d0e";
        p.insert(uuid, 3);
        p.insert(b"ada", 4);
        p.insert(b"", 5);
        assert_eq!((p.get(uuid), p.get(b"ada"), p.get(b""), p.len()), (Some(3), Some(4), Some(5), 3));
        assert_eq!(p.get(b"019ae1c2-7a3b-7c00-8d4e-5f6a7b8c9d0f"), None, "one byte off");
        assert_eq!(p.get(&uuid[..35]), None);
        assert_eq!(p.get(b"bob"), None);
    }
}

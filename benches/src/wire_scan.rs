//! The harness's fast path through MessagePack frames: a `batch` frame is
//! walked by hand and each `movement` in it is read without serde, since
//! a large walk receives millions of them a second and the harness must
//! cost less than the server it measures. Every other event is cut out of
//! the frame by its length and decoded by serde as before, so only the
//! shape the server sends most is special-cased.
//!
//! A movement is read in one pass (its extent is where its reading ends),
//! keys are compared as bytes, and the mover's id is handed over as bytes
//! (`Event::Moved`): the harness only looks it up among the ids it knows,
//! so it is never checked as UTF-8. A frame that is not a `batch` in the
//! expected layout is left to serde whole: `scan` returns `None` before it
//! has handed over any event.

use crate::wire::{Event, In};

/// The events of a MessagePack `batch` frame, handed to `f` in order;
/// `None` (and nothing handed over) when the frame is not a batch in the
/// layout servers send (`type` first, then `payload` with `events`).
pub fn scan(frame: &[u8], f: &mut impl FnMut(Event<'_>)) -> Option<usize> {
    let mut r = Reader { buf: frame, at: 0 };
    if r.map_len()? != 2 || r.str()? != b"type" || r.str()? != b"batch" || r.str()? != b"payload" {
        return None;
    }
    if r.map_len()? != 1 || r.str()? != b"events" {
        return None;
    }
    let n = r.array_len()?;
    for done in 0..n {
        let start = r.at;
        let mut mv = Reader { buf: frame, at: start };
        if let Some((user_id, x, y)) = movement(&mut mv) {
            r.at = mv.at;
            f(Event::Moved { user_id, x, y });
            continue;
        }
        if r.skip().is_none() {
            // A cut or malformed tail: what came before was handed over.
            f(Event::Unknown("undecodable event in a batch".into()));
            return Some(done + 1);
        }
        let event = &frame[start..r.at];
        match rmp_serde::from_slice::<In<'_>>(event) {
            Ok(msg) => f(Event::Msg(msg)),
            Err(_) => f(Event::Unknown(type_of(event))),
        }
    }
    Some(n)
}

/// `{"type":"movement","payload":{"userId":…,"x":…,"y":…}}`, the payload's
/// keys in any order, read from `r` to its end; `None` for anything else
/// (where `r` then stands does not matter).
fn movement<'a>(r: &mut Reader<'a>) -> Option<(&'a [u8], i32, i32)> {
    if r.map_len()? != 2 || r.str()? != b"type" || r.str()? != b"movement" || r.str()? != b"payload" {
        return None;
    }
    let (mut user, mut x, mut y) = (None, None, None);
    for _ in 0..r.map_len()? {
        match r.str()? {
            b"userId" => user = Some(r.str()?),
            b"x" => x = Some(r.int()?),
            b"y" => y = Some(r.int()?),
            _ => r.skip()?,
        }
    }
    Some((user?, x?, y?))
}

/// The `type` of an event serde could not decode, to report it by name.
fn type_of(event: &[u8]) -> String {
    let mut r = Reader { buf: event, at: 0 };
    let kind = (|| {
        for _ in 0..r.map_len()? {
            if r.str()? == b"type" {
                return Some(String::from_utf8_lossy(r.str()?).into_owned());
            }
            r.skip()?;
        }
        None
    })();
    kind.unwrap_or_else(|| "undecodable event in a batch".into())
}

/// Deeper nesting than this is not an event of ours (and must not exhaust
/// the stack).
const MAX_DEPTH: usize = 64;

/// A cursor over MessagePack bytes; every read is bounds-checked and
/// answers `None` past the end or on an unexpected marker.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.buf.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(self.take(n)?.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Option<usize> {
        usize::try_from(self.be(n)?).ok()
    }

    fn map_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x80..=0x8f => Some(usize::from(b & 0x0f)),
            0xde => self.len(2),
            0xdf => self.len(4),
            _ => None,
        }
    }

    fn array_len(&mut self) -> Option<usize> {
        match self.byte()? {
            b @ 0x90..=0x9f => Some(usize::from(b & 0x0f)),
            0xdc => self.len(2),
            0xdd => self.len(4),
            _ => None,
        }
    }

    fn str(&mut self) -> Option<&'a [u8]> {
        let n = match self.byte()? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 => self.len(1)?,
            0xda => self.len(2)?,
            0xdb => self.len(4)?,
            _ => return None,
        };
        self.take(n)
    }

    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    /// An integer that fits an `i32`, in any of MessagePack's int forms.
    fn int(&mut self) -> Option<i32> {
        let v: i64 = match self.byte()? {
            b @ 0x00..=0x7f => i64::from(b),
            b @ 0xe0..=0xff => i64::from(i8::from_be_bytes([b])),
            0xcc => i64::from(u8::from_be_bytes(self.arr()?)),
            0xcd => i64::from(u16::from_be_bytes(self.arr()?)),
            0xce => i64::from(u32::from_be_bytes(self.arr()?)),
            0xcf => i64::try_from(u64::from_be_bytes(self.arr()?)).ok()?,
            0xd0 => i64::from(i8::from_be_bytes(self.arr()?)),
            0xd1 => i64::from(i16::from_be_bytes(self.arr()?)),
            0xd2 => i64::from(i32::from_be_bytes(self.arr()?)),
            0xd3 => i64::from_be_bytes(self.arr()?),
            _ => return None,
        };
        i32::try_from(v).ok()
    }

    /// Steps over one whole value of any type.
    fn skip(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    /// `skip`, refusing values nested deeper than any event is.
    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let marker = self.byte()?;
        let (data, items) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * usize::from(marker & 0x0f)),
            0x90..=0x9f => (0, usize::from(marker & 0x0f)),
            0xa0..=0xbf => (usize::from(marker & 0x1f), 0),
            0xc4 | 0xd9 => (self.len(1)?, 0),
            0xc5 | 0xda => (self.len(2)?, 0),
            0xc6 | 0xdb => (self.len(4)?, 0),
            0xc7 => (self.len(1)?.checked_add(1)?, 0),
            0xc8 => (self.len(2)?.checked_add(1)?, 0),
            0xc9 => (self.len(4)?.checked_add(1)?, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, self.len(2)?),
            0xdd => (0, self.len(4)?),
            0xde => (0, self.len(2)?.checked_mul(2)?),
            0xdf => (0, self.len(4)?.checked_mul(2)?),
            0xc1 => return None,
        };
        self.take(data)?;
        // Each item is at least one byte: a count larger than what is
        // left cannot be real, and must not make us loop for long.
        if items > self.buf.len() - self.at {
            return None;
        }
        for _ in 0..items {
            self.skip_nested(depth + 1)?;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn events(frame: &[u8]) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let n = scan(frame, &mut |e| {
            out.push(match e {
                Event::Moved { user_id, x, y } => format!("move {} {x} {y}", String::from_utf8_lossy(user_id)),
                Event::Msg(other) => format!("other {other:?}"),
                Event::Unknown(t) => format!("unknown {t}"),
            });
        })?;
        assert_eq!(n, out.len());
        Some(out)
    }

    /// An event as servers encode it: `type` first, then `payload`
    /// (`json!` would sort the keys).
    #[derive(serde::Serialize)]
    struct Ev<'a> {
        r#type: &'a str,
        payload: serde_json::Value,
    }

    /// A `batch` frame as servers pack it: a fixed head, then the events.
    fn batch(events: &[(&str, serde_json::Value)]) -> Vec<u8> {
        let mut out = b"\x82\xa4type\xa5batch\xa7payload\x81\xa6events\xdc".to_vec();
        out.extend(u16::try_from(events.len()).unwrap().to_be_bytes());
        for (kind, payload) in events {
            out.extend(rmp_serde::to_vec_named(&Ev { r#type: kind, payload: payload.clone() }).unwrap());
        }
        out
    }

    fn mp(v: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(v).unwrap()
    }

    #[test]
    fn a_batch_of_moves_and_others_reads_like_serde() {
        let frame = batch(&[
            // A key we do not read, nested: the one-pass read must end
            // where the event does.
            ("movement", json!({"userId": "u1", "x": 3, "y": 4, "facing": {"to": ["left", 1]}})),
            ("movement", json!({"x": -2, "y": 70000, "userId": "u2"})),
            ("movement-rejected", json!({"x": 1, "y": 2})),
            ("user-join", json!({"userId": "u3", "x": 1, "y": 1, "username": "c", "extra": [1.5, null]})),
            ("weather", json!({"rain": true})),
            ("movement", json!({"userId": "u4", "x": 300, "y": -300})),
        ]);
        let got = events(&frame).unwrap();
        assert_eq!(got[..3], ["move u1 3 4", "move u2 -2 70000", "other MovementRejected { x: 1, y: 2 }"]);
        assert!(got[3].starts_with("other UserJoin"));
        assert_eq!(got[4..], ["unknown weather", "move u4 300 -300"]);
        // Without the type serde does not know, serde reads the same.
        let known = batch(&[
            ("movement", json!({"x": -2, "y": 70000, "userId": "u2"})),
            ("movement-rejected", json!({"x": 1, "y": 2})),
            ("movement", json!({"userId": "u4", "x": 300, "y": -300})),
        ]);
        let In::Batch { events: slow } = rmp_serde::from_slice(&known).unwrap() else { panic!("a batch") };
        let slow: Vec<String> = slow.into_iter().map(|e| format!("{e:?}")).collect();
        let mut fast = Vec::new();
        scan(&known, &mut |e| match e {
            Event::Moved { user_id, x, y } => {
                let user_id = std::str::from_utf8(user_id).unwrap().into();
                fast.push(format!("{:?}", In::Movement { user_id, x, y }));
            }
            Event::Msg(m) => fast.push(format!("{m:?}")),
            Event::Unknown(t) => panic!("{t}"),
        });
        assert_eq!(fast, slow);
    }

    #[test]
    fn a_frame_that_is_not_a_batch_is_left_to_serde() {
        let single = json!({"type": "movement", "payload": {"userId": "u1", "x": 3, "y": 4}});
        assert_eq!(events(&mp(&single)), None);
        let reordered = json!({"payload": {"events": []}, "type": "batch"});
        assert_eq!(events(&rmp_serde::to_vec_named(&reordered).unwrap()), None);
    }

    #[test]
    fn a_cut_frame_stops_with_an_unknown_and_never_panics() {
        let whole = batch(&[
            ("movement", json!({"userId": "u1", "x": 3, "y": 4})),
            ("movement", json!({"userId": "u2", "x": 5, "y": 6})),
        ]);
        for cut in 0..whole.len() {
            let got = events(&whole[..cut]);
            if let Some(got) = got {
                assert!(got.last().is_some_and(|e| e.starts_with("unknown")) || got.is_empty(), "{cut}: {got:?}");
            }
        }
        // A count far larger than the bytes behind it.
        let mut lying = b"\x82\xa4type\xa5batch\xa7payload\x81\xa6events\xdd\xff\xff\xff\xff".to_vec();
        lying.push(0xdf);
        lying.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(events(&lying).unwrap(), ["unknown undecodable event in a batch"]);
        // Nesting past any event's depth, e.g. 100,000 one-element arrays.
        let mut deep = b"\x82\xa4type\xa5batch\xa7payload\x81\xa6events\x91".to_vec();
        deep.extend(std::iter::repeat_n(0x91, 100_000));
        deep.push(0xc0);
        assert_eq!(events(&deep).unwrap(), ["unknown undecodable event in a batch"]);
    }
}

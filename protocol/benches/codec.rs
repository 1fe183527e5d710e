//! Encode and decode cost of the hottest messages, in both codecs:
//! `movement` (fanned out to every member on every accepted step), `move`
//! (the commonest client frame) and a `space-joined` listing 100 users
//! (sent on every join).
//!
//! `cargo bench -p metaverse-protocol --bench codec -- --quick`

// Bench setup unwraps: a panic there aborts a run that could not measure anything.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metaverse_protocol::{ClientMsg, Codec, MAX_FRAME_BYTES, Position, ServerMsg, SpaceSize, UserPosition};

fn movement() -> ServerMsg {
    ServerMsg::Movement { user_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(), x: 123, y: 45 }
}

fn space_joined(users: usize) -> ServerMsg {
    ServerMsg::SpaceJoined {
        user_id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
        spawn: Position { x: 10, y: 20 },
        users: (0..users)
            .map(|i| UserPosition {
                user_id: format!("0190a1b2-c3d4-7e5f-8a9b-{i:012x}"),
                x: i32::try_from(i % 100).unwrap(),
                y: i32::try_from(i / 100).unwrap(),
                username: Some(format!("user{i}")),
                avatar_id: None,
            })
            .collect(),
        space: SpaceSize { width: 100, height: 100 },
        resume_token: "v4.local.resume-token-of-typical-length-0123456789abcdef".into(),
        resumed: false,
    }
}

const CODECS: [(Codec, &str); 2] = [(Codec::MsgPack, "msgpack"), (Codec::Json, "json")];

fn bench_server_msg(c: &mut Criterion, group_name: &str, msg: &ServerMsg) {
    let mut group = c.benchmark_group(group_name);
    for (codec, name) in CODECS {
        let bytes = codec.encode(msg).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", name), msg, |b, msg| {
            b.iter(|| codec.encode(black_box(msg)).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| codec.decode::<ServerMsg>(black_box(bytes), MAX_FRAME_BYTES).unwrap());
        });
    }
    group.finish();
}

fn bench_move(c: &mut Criterion) {
    let msg = ClientMsg::Move { x: 123, y: 45 };
    let mut group = c.benchmark_group("move");
    for (codec, name) in CODECS {
        let bytes = codec.encode(&msg).unwrap();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", name), &msg, |b, msg| {
            b.iter(|| codec.encode(black_box(msg)).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("decode", name), &bytes, |b, bytes| {
            b.iter(|| codec.decode_client(black_box(bytes), MAX_FRAME_BYTES).unwrap());
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_server_msg(c, "movement", &movement());
    bench_move(c);
    bench_server_msg(c, "space-joined-100", &space_joined(100));
}

criterion_group!(codec, benches);
criterion_main!(codec);

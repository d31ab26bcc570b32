//! Framing and the response tracker on the two responses the proxy relays
//! most: a 100-row result set and a 1-row point select (sysbench
//! `oltp_point_select`: one CHAR(120) column).
//!
//! Run with `cargo bench -p splitrail-protocol`; divide the time per
//! iteration by the packet count printed in each benchmark's name for ns per
//! packet (criterion's "elem/s" line gives the same as a rate).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use splitrail_protocol::command::code;
use splitrail_protocol::response::TextResultSet;
use splitrail_protocol::{CapabilityFlags, PacketCodec, ResponseTracker, StatusFlags, Step};

/// The wire bytes of a result set and its packet count.
fn wire_of(rs: &TextResultSet, caps: CapabilityFlags) -> (BytesMut, usize) {
    let mut codec = PacketCodec::default();
    codec.set_seq(1);
    let mut wire = BytesMut::new();
    rs.write(
        caps,
        StatusFlags::SERVER_STATUS_AUTOCOMMIT,
        &mut codec,
        &mut wire,
    )
    .unwrap();
    let packets = scan(&wire, caps);
    (wire, packets)
}

fn result_set(rows: usize, caps: CapabilityFlags) -> (BytesMut, usize) {
    let rows = (0..rows)
        .map(|i| {
            vec![
                Some(i.to_string()),
                Some(format!("{:0>120}", i)),
                Some("68487932199-96439406143-93774651418".to_string()),
            ]
        })
        .collect();
    wire_of(&TextResultSet::new(&["id", "c", "pad"], rows), caps)
}

fn point_select(caps: CapabilityFlags) -> (BytesMut, usize) {
    let c = "83868641912-28773972837-60736120486-75162659906-27563526494-\
             20381887404-41576422241-93426793964-56405065102-33518432330";
    wire_of(
        &TextResultSet::new(&["c"], vec![vec![Some(c.into())]]),
        caps,
    )
}

/// Unframes every packet into `Bytes` (a copy of the wire stands in for
/// the socket read, and is timed), optionally running the tracker.
fn decode(wire: &BytesMut, caps: CapabilityFlags, track: bool) -> usize {
    let mut buf = wire.clone();
    let mut codec = PacketCodec::default();
    codec.set_seq(1);
    let mut tracker = ResponseTracker::new(caps);
    tracker.start(code::QUERY);
    let mut n = 0;
    while let Some(p) = codec.decode(&mut buf).unwrap() {
        n += 1;
        if track {
            black_box(tracker.feed(&p.payload).unwrap());
        }
        black_box(p);
    }
    n
}

/// The relay's zero-copy path: borrow each frame from the read buffer and
/// run the tracker on it; nothing is copied or allocated.
fn scan(wire: &[u8], caps: CapabilityFlags) -> usize {
    let mut codec = PacketCodec::default();
    codec.set_seq(1);
    let mut tracker = ResponseTracker::new(caps);
    tracker.start(code::QUERY);
    let mut at = 0;
    let mut n = 0;
    while let Some(f) = codec.next_frame(&wire[at..]).unwrap() {
        n += 1;
        at += f.wire_len();
        if let Step::Done(c) = tracker.feed_frame(f.payload).unwrap() {
            black_box(c);
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let classic = CapabilityFlags::CLIENT_PROTOCOL_41;
    let modern = classic | CapabilityFlags::CLIENT_DEPRECATE_EOF;
    let cases = [
        ("100 rows, EOF", result_set(100, classic), classic),
        ("100 rows, DEPRECATE_EOF", result_set(100, modern), modern),
        ("point select, EOF", point_select(classic), classic),
        ("point select, DEPRECATE_EOF", point_select(modern), modern),
    ];
    for (name, (wire, packets), caps) in &cases {
        let mut g = c.benchmark_group(format!("{name} ({packets} packets)"));
        g.throughput(Throughput::Elements(*packets as u64));
        g.bench_function("decode (copy of wire included)", |b| {
            b.iter(|| black_box(decode(wire, *caps, false)))
        });
        g.bench_function("decode + tracker (copy of wire included)", |b| {
            b.iter(|| black_box(decode(wire, *caps, true)))
        });
        g.bench_function("next_frame + feed_frame (zero-copy relay)", |b| {
            b.iter(|| black_box(scan(wire, *caps)))
        });
        let payloads: Vec<_> = {
            let mut buf = wire.clone();
            let mut codec = PacketCodec::default();
            codec.set_seq(1);
            std::iter::from_fn(|| codec.decode(&mut buf).unwrap().map(|p| p.payload)).collect()
        };
        g.bench_function("tracker", |b| {
            b.iter(|| {
                let mut t = ResponseTracker::new(*caps);
                t.start(code::QUERY);
                for p in &payloads {
                    black_box(t.feed(p).unwrap());
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

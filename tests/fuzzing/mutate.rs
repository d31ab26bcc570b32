//! Mutations of valid client packet streams: on packets (bit flips, truncation, wrong sequence
//! ids, dropped, doubled or swapped packets, splicing in packets of another stream, junk
//! bytes) and on the framed bytes (a wrong length in a header, a cut stream, flipped bits
//! anywhere). Each mutation is named so a failure says what was done.

use super::rng::Rng;
use super::streams::{Packet, frame};

/// Bytes that mean something in the protocol: NULL / length-encoded prefixes, EOF, ERR, OK.
const INTERESTING: &[u8] = &[0x00, 0x01, 0x7F, 0x80, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF];

/// Applies `n` random mutations to `packets` (with `donor` packets to splice from) and returns
/// the wire bytes, with the names of the mutations applied.
pub fn mutate(
    rng: &mut Rng,
    mut packets: Vec<Packet>,
    donor: &[Packet],
    n: usize,
) -> (Vec<u8>, Vec<&'static str>) {
    let mut applied = Vec::new();
    let mut wire_level = Vec::new();
    for _ in 0..n {
        if rng.one_in(4) {
            wire_level.push(rng.below(3));
            continue;
        }
        applied.push(on_packets(rng, &mut packets, donor));
    }
    let mut wire = frame(&packets);
    for m in wire_level {
        applied.push(on_wire(rng, &mut wire, m));
    }
    (wire, applied)
}

/// One packet-level mutation.
fn on_packets(rng: &mut Rng, packets: &mut Vec<Packet>, donor: &[Packet]) -> &'static str {
    if packets.is_empty() {
        packets.push(Packet {
            seq: 0,
            payload: rng.bytes(8),
        });
        return "junk packet";
    }
    let i = rng.below(packets.len());
    let p = &mut packets[i];
    match rng.below(10) {
        0 | 1 => {
            for _ in 0..rng.range(1, 4) {
                if !p.payload.is_empty() {
                    let at = rng.below(p.payload.len());
                    p.payload[at] ^= 1 << rng.below(8);
                }
            }
            "bit flips"
        }
        2 => {
            if !p.payload.is_empty() {
                let at = rng.below(p.payload.len());
                p.payload[at] = *rng.pick(INTERESTING);
            }
            "interesting byte"
        }
        3 => {
            let keep = rng.below(p.payload.len() + 1);
            p.payload.truncate(keep);
            "truncated payload"
        }
        4 => {
            p.seq = rng.byte();
            "wrong sequence id"
        }
        5 => {
            packets.remove(i);
            "dropped packet"
        }
        6 => {
            let copy = p.clone();
            packets.insert(i, copy);
            "doubled packet"
        }
        7 => {
            let j = rng.below(packets.len());
            packets.swap(i, j);
            "swapped packets"
        }
        8 => {
            if !donor.is_empty() {
                let from = rng.below(donor.len());
                let to = rng.range(from, donor.len().min(from + 3));
                let at = rng.below(packets.len() + 1);
                for (k, d) in donor[from..to].iter().enumerate() {
                    packets.insert(at + k, d.clone());
                }
            }
            "spliced packets"
        }
        _ => {
            let at = rng.below(p.payload.len() + 1);
            let len = rng.range(1, 16);
            let junk = rng.bytes(len);
            p.payload.splice(at..at, junk);
            "junk bytes"
        }
    }
}

/// One mutation of the framed bytes.
fn on_wire(rng: &mut Rng, wire: &mut Vec<u8>, which: usize) -> &'static str {
    if wire.is_empty() {
        wire.extend(rng.bytes(4));
        return "junk stream";
    }
    match which {
        0 => {
            // A header's length byte changed: the frames after it are misaligned.
            let starts = header_offsets(wire);
            let at = *rng.pick(&starts) + rng.below(3);
            if at < wire.len() {
                wire[at] = if rng.one_in(2) {
                    rng.byte()
                } else {
                    wire[at].wrapping_add(rng.range(1, 3) as u8)
                };
            }
            "wrong length"
        }
        1 => {
            let keep = rng.below(wire.len());
            wire.truncate(keep);
            "cut stream"
        }
        _ => {
            let at = rng.below(wire.len());
            wire[at] ^= 1 << rng.below(8);
            "wire bit flip"
        }
    }
}

/// Where each frame of a well-formed stream starts.
fn header_offsets(wire: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 4 <= wire.len() {
        offsets.push(at);
        let n = usize::from(wire[at])
            | usize::from(wire[at + 1]) << 8
            | usize::from(wire[at + 2]) << 16;
        at += 4 + n;
    }
    if offsets.is_empty() {
        offsets.push(0);
    }
    offsets
}

/// Splits `wire` into 1 to 4 writes at random points (1 most of the time: a pipelined burst).
pub fn chunks(rng: &mut Rng, wire: &[u8]) -> Vec<Vec<u8>> {
    if wire.len() < 2 || rng.below(3) != 0 {
        return vec![wire.to_vec()];
    }
    let mut cuts: Vec<usize> = (0..rng.range(1, 3))
        .map(|_| rng.range(1, wire.len() - 1))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts {
        out.push(wire[from..c].to_vec());
        from = c;
    }
    out.push(wire[from..].to_vec());
    out
}

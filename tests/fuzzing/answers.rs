//! The oracle for valid (unmutated) streams: the proxy's answer to a pipelined burst must parse
//! as one complete response per command, in order. The proxy may end the session early only
//! right after an ERR that ends sessions ([`CLOSING`]: a failed COM_CHANGE_USER, or the file
//! packets of a refused LOAD DATA LOCAL arriving as commands) or the end of a binlog dump
//! (which a server treats as a COM_QUIT), and only COM_QUIT may end it without a word.

use splitrail_protocol::command::code;
use splitrail_protocol::{CapabilityFlags, End, ResponseTracker, Step};

use super::streams::Packet;

/// The errors after which a server closes the session: access denied (a failed
/// COM_CHANGE_USER), bad handshake, packets out of order, packet too large, and the session
/// killed (by another fuzzed session's COM_PROCESS_KILL: 1317 while idle, 1927 mid-statement).
const CLOSING: &[u16] = &[1045, 1043, 1156, 1153, 1317, 1927];

/// Checks `answer` (every byte the proxy sent until it closed) against the commands of
/// `sent`, a valid stream sent in one go by a client with `caps`.
pub fn check(sent: &[Packet], answer: &[u8], caps: CapabilityFlags) -> Result<(), String> {
    let mut replies = packets(answer)?.into_iter();
    let mut tracker = ResponseTracker::new(caps);
    let mut closing = false;
    for (i, group) in commands(sent).iter().enumerate() {
        let command = group[0].payload.first().copied().unwrap_or(0);
        if command == code::QUIT {
            return none_left(replies.len());
        }
        tracker.start(command);
        let mut file = group[1..].iter();
        let mut asked = false;
        while !tracker.is_done() {
            let Some(reply) = replies.next() else {
                if closing {
                    return Ok(());
                }
                return Err(format!(
                    "command {i} (0x{command:02x}) got no (complete) answer"
                ));
            };
            match tracker.feed_frame(&reply) {
                Ok(Step::NeedClient) => {
                    asked = true;
                    for p in file.by_ref() {
                        let _ = tracker.feed_client(&p.payload);
                    }
                }
                Ok(Step::Done(c)) => {
                    // A server closes the connection of every binlog dump once it ended.
                    closing = matches!(c.end, End::Err { code } if CLOSING.contains(&code))
                        || matches!(command, code::BINLOG_DUMP | code::BINLOG_DUMP_GTID);
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(format!(
                        "command {i} (0x{command:02x}): answer does not parse ({e}): {reply:02x?}"
                    ));
                }
            }
        }
        if !asked && group.len() > 1 {
            // LOAD DATA refused before the file was asked for: the file's first packet comes
            // as a command with sequence id 2, which ends the session with an ERR 1156.
            return match replies.next() {
                Some(err) if err.first() == Some(&0xFF) && err.get(1..3) == Some(&[0x84, 0x04]) => {
                    none_left(replies.len())
                }
                other => Err(format!(
                    "an unasked-for LOAD DATA file got {other:02x?}, not ERR 1156"
                )),
            };
        }
    }
    none_left(replies.len())
}

fn none_left(n: usize) -> Result<(), String> {
    match n {
        0 => Ok(()),
        n => Err(format!("{n} packets more than the commands' answers")),
    }
}

/// The stream's commands: each packet with sequence id 0 and the client packets after it.
fn commands(sent: &[Packet]) -> Vec<&[Packet]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=sent.len() {
        if i == sent.len() || sent[i].seq == 0 {
            out.push(&sent[start..i]);
            start = i;
        }
    }
    out.retain(|g| !g.is_empty());
    out
}

/// The payloads of `wire`'s packets; a partial packet at the end is an error.
fn packets(wire: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let head = wire
            .get(at..at + 4)
            .ok_or_else(|| format!("partial header at byte {at}"))?;
        let n = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
        let payload = wire
            .get(at + 4..at + 4 + n)
            .ok_or_else(|| format!("partial packet at byte {at}"))?;
        out.push(payload.to_vec());
        at += 4 + n;
    }
    Ok(out)
}

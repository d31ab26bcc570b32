//! Streaming a backend's response to the client packet by packet: frames are handed to the
//! response tracker (which reads only headers and terminators) and written on as they arrive,
//! straight from the backend's read buffer. The final OK is decoded only when it carries
//! session-state changes (its GTID recorded first, see [`crate::consistency`]), and rewritten
//! for clients that did not ask for them.
use bytes::{Buf, BytesMut};
use splitrail_protocol::framing::HEADER_LEN;
use splitrail_protocol::response::OkPacket;
use splitrail_protocol::{CapabilityFlags, Completion, End, StatusFlags, Step};

use crate::backend::BackendConn;
use crate::backend::conn::protocol;
use crate::client::ClientIo;
use crate::consistency::Causal;
use crate::error::Error;
use crate::gtid::GtidSet;
use crate::io::forward;
use tracing::warn;

/// A response relayed to the end.
#[derive(Debug)]
pub struct Relayed {
    /// How it ended.
    pub completion: Completion,
    /// The final OK, decoded when it carried session-state changes.
    pub ok: Option<OkPacket>,
    /// OKs before the last result that carried session-state changes (`USE db; SELECT 1`).
    pub earlier: Vec<OkPacket>,
    /// Rows relayed (every result set of the response).
    pub rows: u64,
    /// The GTID of a write whose answer had no room for it (a result set ending in a classic
    /// EOF, as `INSERT … RETURNING` gives a client without CLIENT_DEPRECATE_EOF), asked of the
    /// backend before the EOF was relayed.
    pub fetched_gtid: Option<GtidSet>,
}

/// Why a relay stopped early.
#[derive(Debug)]
pub enum RelayError {
    /// The backend failed; `sent` is the sequence id of the last packet of this response that
    /// reached the client, if any did (an ERR can follow it).
    Backend {
        /// The error.
        error: Error,
        /// The last sequence id written to the client.
        sent: Option<u8>,
    },
    /// The client's socket failed.
    Client(std::io::Error),
}

/// What the relayed statement may do, as the router classified it: a write's answer may have
/// to wait for its GTID before it reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement {
    /// Reads only.
    Read,
    /// May change data (or is not known to read only).
    Write,
}

/// How a client wants to see OKs: as the server sent them, or (a client without
/// CLIENT_SESSION_TRACK) without their session-state block, encoded with its capabilities.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientView {
    /// Whether OKs carrying session state are rewritten without it.
    pub(crate) strip_tracking: bool,
    /// The client's capabilities.
    pub(crate) caps: CapabilityFlags,
}

impl ClientView {
    /// The view of a client with capabilities `caps`.
    pub(crate) fn of(caps: CapabilityFlags) -> Self {
        ClientView {
            strip_tracking: !caps.contains(CapabilityFlags::CLIENT_SESSION_TRACK),
            caps,
        }
    }
}

/// One complete frame of a backend's answer, read by [`next_frame`]: its length in the read
/// buffer, its sequence id, and what becomes of it on the way to the client.
pub(crate) struct FrameStep {
    /// Bytes of the frame in the read buffer (header included).
    pub(crate) len: usize,
    /// Its sequence id.
    pub(crate) seq: u8,
    /// What to do with it.
    pub(crate) next: Next,
}

/// What becomes of a frame.
pub(crate) enum Next {
    /// Passed on as it is; more of the answer follows.
    Pass,
    /// Replaced by these bytes (an OK rewritten for the client); more follows.
    Replace(BytesMut),
    /// The answer is complete with this frame, passed on as it is or replaced by `rewrite`.
    Done {
        /// How it ended.
        completion: Completion,
        /// The final OK, when it carried session state.
        ok: Option<OkPacket>,
        /// The frame rewritten for the client, if it must be.
        rewrite: Option<BytesMut>,
    },
    /// The server asks for the client's LOCAL INFILE data after this frame.
    NeedClient,
}

/// The one reading of a backend's answer that both the relay and the pipelined connection
/// use: the next complete frame at `at` in `conn`'s read buffer, fed to the response tracker;
/// an OK with session state is shown to `causal` (its GTID recorded) before anything decides
/// to pass it on, kept in `earlier` (intermediate OKs of multi-result answers) and rewritten
/// for a client that did not ask for session state. `None`: no complete frame yet.
pub(crate) fn next_frame(
    conn: &mut BackendConn,
    at: usize,
    client: ClientView,
    causal: &Causal,
    earlier: &mut Vec<OkPacket>,
) -> Result<Option<FrameStep>, Error> {
    let io = &mut conn.io;
    let frame = match io.codec.next_frame(&io.rbuf[at..]) {
        Ok(Some(frame)) => frame,
        Ok(None) => return Ok(None),
        Err(e) => return Err(protocol(&conn.address, e)),
    };
    let (seq, payload, len) = (frame.seq, frame.payload, frame.wire_len());
    let step = conn
        .tracker
        .feed_frame(payload)
        .map_err(|e| protocol(&conn.address, e))?;
    let rewritten = |ok: &OkPacket| {
        client
            .strip_tracking
            .then(|| client_view(ok, payload, seq, client.caps))
    };
    let next = match step {
        Step::More => Next::Pass,
        Step::MoreWithSessionState => match OkPacket::decode(payload, conn.caps) {
            Ok(ok) => {
                causal.observe(&ok);
                let next = match rewritten(&ok) {
                    Some(bytes) => Next::Replace(bytes),
                    None => Next::Pass,
                };
                earlier.push(ok);
                next
            }
            Err(_) => Next::Pass,
        },
        Step::Done(completion) => {
            let ok = final_ok(&completion, payload, conn.caps, causal);
            let rewrite = ok.as_ref().and_then(rewritten);
            Next::Done {
                completion,
                ok,
                rewrite,
            }
        }
        Step::NeedClient => Next::NeedClient,
    };
    Ok(Some(FrameStep { len, seq, next }))
}

/// Relays the response to the command just sent on `conn` (its tracker already started),
/// frame by frame through [`next_frame`], writing to the client straight from the backend's
/// read buffer. Every OK that carries session state is shown to `causal` before it reaches the
/// client, so a write's GTID is recorded before the client can know the write was
/// acknowledged. For a [`Statement::Write`] whose answer ends in a classic EOF outside a
/// transaction (no OK, so no GTID), the EOF is held back until the backend has told the
/// write's GTID.
pub async fn relay(
    conn: &mut BackendConn,
    client: &mut ClientIo,
    client_caps: CapabilityFlags,
    causal: &Causal,
    statement: Statement,
) -> Result<Relayed, RelayError> {
    let view = ClientView::of(client_caps);
    let mut sent: Option<u8> = None;
    let mut earlier = Vec::new();
    loop {
        let mut pos = 0;
        let mut last_seq = sent;
        loop {
            let step = match next_frame(conn, pos, view, causal, &mut earlier) {
                Ok(Some(step)) => step,
                Ok(None) => break,
                Err(error) => {
                    conn.broken = true;
                    return Err(RelayError::Backend { error, sent });
                }
            };
            match step.next {
                Next::Pass => {
                    pos += step.len;
                    last_seq = Some(step.seq);
                }
                Next::Replace(bytes) => {
                    client
                        .forward_from(&mut conn.io.rbuf, pos)
                        .await
                        .map_err(RelayError::Client)?;
                    conn.io.rbuf.advance(step.len);
                    client
                        .write_bytes(&bytes)
                        .await
                        .map_err(RelayError::Client)?;
                    pos = 0;
                    sent = Some(step.seq);
                    last_seq = sent;
                }
                Next::Done {
                    completion,
                    ok,
                    rewrite,
                } => {
                    // A write committed without its GTID: the classic EOF waits for it.
                    let fetch = (statement == Statement::Write
                        && committed_without_gtid(&completion)
                        && causal.gtids_seen())
                    .then_some(causal);
                    let fetched_gtid = finish(conn, client, pos, step.len, rewrite, fetch).await?;
                    return Ok(Relayed {
                        completion,
                        ok,
                        earlier,
                        rows: conn.tracker.rows(),
                        fetched_gtid,
                    });
                }
                Next::NeedClient => {
                    pos += step.len;
                    local_infile(conn, client, pos, step.seq).await?;
                    pos = 0;
                    sent = Some(step.seq);
                    last_seq = sent;
                }
            }
        }
        if pos > 0 {
            client
                .forward_from(&mut conn.io.rbuf, pos)
                .await
                .map_err(RelayError::Client)?;
            sent = last_seq;
        }
        fill(conn, sent).await?;
    }
}

/// Hands the client the backend's LOCAL INFILE request (the `pos` bytes up to it, its sequence
/// id `seq`) and relays the file the client sends.
async fn local_infile(
    conn: &mut BackendConn,
    client: &mut ClientIo,
    pos: usize,
    seq: u8,
) -> Result<(), RelayError> {
    client
        .forward_from(&mut conn.io.rbuf, pos)
        .await
        .map_err(RelayError::Client)?;
    client.codec.set_seq(seq.wrapping_add(1));
    relay_local_infile(conn, client).await?;
    conn.io.codec.set_seq(client.codec.seq());
    Ok(())
}

/// Writes the last frames of an answer: the `pos` bytes before the final frame and the final
/// frame of `len` bytes, or its `rewrite`. With `fetch`, the final frame waits until the
/// write's GTID was asked of the backend and recorded there (returned).
async fn finish(
    conn: &mut BackendConn,
    client: &mut ClientIo,
    pos: usize,
    len: usize,
    rewrite: Option<BytesMut>,
    fetch: Option<&Causal>,
) -> Result<Option<GtidSet>, RelayError> {
    if let Some(causal) = fetch {
        client
            .forward_from(&mut conn.io.rbuf, pos)
            .await
            .map_err(RelayError::Client)?;
        let last = conn.io.rbuf.split_to(len).freeze();
        let gtid = fetch_gtid(conn, causal).await;
        client
            .write_bytes(&last)
            .await
            .map_err(RelayError::Client)?;
        return Ok(gtid);
    }
    let rbuf = &mut conn.io.rbuf;
    let written = async {
        match rewrite {
            Some(bytes) => {
                client.forward_from(rbuf, pos).await?;
                rbuf.advance(len);
                client.write_bytes(&bytes).await
            }
            None => client.forward_from(rbuf, pos + len).await,
        }
    };
    written.await.map_err(RelayError::Client).map(|()| None)
}

/// Reads more of the answer from the backend; the end of the stream or an error breaks the
/// connection (`sent`: how far the client got).
async fn fill(conn: &mut BackendConn, sent: Option<u8>) -> Result<(), RelayError> {
    let source = match conn.io.fill().await {
        Ok(n) if n > 0 => return Ok(()),
        Ok(_) => std::io::ErrorKind::UnexpectedEof.into(),
        Err(source) => source,
    };
    conn.broken = true;
    Err(RelayError::Backend {
        error: Error::BackendIo {
            server: conn.address.clone(),
            source,
        },
        sent,
    })
}

/// The final packet of a response decoded as an OK when it carries session-state changes, and
/// shown to `causal` (its GTID is recorded before the client can see the OK).
pub(crate) fn final_ok(
    completion: &Completion,
    payload: &[u8],
    caps: CapabilityFlags,
    causal: &Causal,
) -> Option<OkPacket> {
    let changed = completion
        .status
        .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED);
    let ok = match completion.end {
        End::Ok { .. } if changed => OkPacket::decode(payload, caps).ok(),
        _ => None,
    };
    if let Some(ok) = &ok {
        causal.observe(ok);
    }
    ok
}

/// Whether a response ended in a classic EOF with no transaction open: a write it answered
/// is committed, and no OK told its GTID.
fn committed_without_gtid(completion: &Completion) -> bool {
    matches!(completion.end, End::Eof)
        && !completion
            .status
            .contains(StatusFlags::SERVER_STATUS_IN_TRANS)
}

/// Asks the backend for the GTID of the write it just committed on this connection, and records
/// it in the global position. A failure is logged: the write stands, its reads may then miss it.
async fn fetch_gtid(conn: &mut BackendConn, causal: &Causal) -> Option<GtidSet> {
    let sql = conn.flavor.last_write_gtid_sql();
    let payload = conn.query_payload(sql.as_bytes());
    let answer = match conn.send_command(&payload).await {
        Ok(()) => conn.read_value().await,
        Err(e) => Err(e),
    };
    let text = match answer {
        Ok(Ok(Some(text))) => text,
        Ok(Ok(None)) => return None,
        Ok(Err(err)) => {
            warn!(
                code = err.code,
                "cannot read the GTID of a write answered by a result set"
            );
            return None;
        }
        Err(error) => {
            conn.broken = true;
            warn!(%error, "cannot read the GTID of a write answered by a result set");
            return None;
        }
    };
    let gtid = GtidSet::parse(&text).ok().filter(|g| !g.is_empty())?;
    causal.acknowledge(&gtid);
    Some(gtid)
}

/// The final OK as a client without CLIENT_SESSION_TRACK expects it: no state-change block.
pub(crate) fn client_view(
    ok: &OkPacket,
    original: &[u8],
    seq: u8,
    client_caps: CapabilityFlags,
) -> BytesMut {
    let mut plain = ok.clone();
    plain.session_state.clear();
    plain
        .status
        .remove(StatusFlags::SERVER_SESSION_STATE_CHANGED);
    let mut payload = BytesMut::new();
    // An OK that ends a result set (CLIENT_DEPRECATE_EOF) keeps its 0xFE header: with 0x00 the
    // client would read it as one more row and wait for the end.
    if original.first() == Some(&splitrail_protocol::response::EOF_HEADER) {
        plain.encode_as_eof(client_caps, &mut payload);
    } else {
        plain.encode(client_caps, &mut payload);
    }
    let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
    let len = payload.len();
    out.extend_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq]);
    out.extend_from_slice(&payload);
    out
}

/// Forwards the client's LOCAL INFILE data packets to the backend until the empty packet that
/// ends them.
async fn relay_local_infile(
    conn: &mut BackendConn,
    client: &mut ClientIo,
) -> Result<(), RelayError> {
    // Mid-upload the client's side of the exchange cannot be brought back in step: the
    // session ends.
    let backend_err = |conn: &mut BackendConn, error: Error| {
        conn.broken = true;
        RelayError::Client(std::io::Error::other(error.to_string()))
    };
    while conn.tracker.awaiting_client() {
        let mut pos = 0;
        loop {
            let frame = match client.codec.next_frame(&client.rbuf[pos..]) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => return Err(RelayError::Client(std::io::Error::other(e.to_string()))),
            };
            let (payload, total) = (frame.payload, frame.wire_len());
            if let Err(e) = conn.tracker.feed_client(payload) {
                let error = protocol(&conn.address, e);
                return Err(backend_err(conn, error));
            }
            pos += total;
            if !conn.tracker.awaiting_client() {
                break;
            }
        }
        if pos > 0
            && let Err(source) = forward(&mut client.rbuf, pos, &mut conn.io.stream).await
        {
            let error = Error::BackendIo {
                server: conn.address.clone(),
                source,
            };
            return Err(backend_err(conn, error));
        }
        if conn.tracker.awaiting_client() {
            match client.fill().await {
                Ok(n) if n > 0 => {}
                Ok(_) => return Err(RelayError::Client(std::io::ErrorKind::UnexpectedEof.into())),
                Err(e) => return Err(RelayError::Client(e)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_set_end_stays_a_result_set_end_without_its_tracking() {
        let server = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SESSION_TRACK;
        let client = CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_DEPRECATE_EOF;
        // The OK ending a result set under CLIENT_DEPRECATE_EOF, with a tracked variable.
        let end = [
            &b"\xfe\x00\x00\x02\x40\x00\x00\x00\x1d\x00\x1b\x18"[..],
            b"innodb_lock_wait_timeout\x010",
        ]
        .concat();
        let ok = OkPacket::decode(&end, server).expect("decodes");
        let out = client_view(&ok, &end, 5, client);
        assert_eq!(out[3], 5, "sequence id");
        assert_eq!(out[4], 0xFE, "still the end of the result set");
        let plain = OkPacket::decode(&out[4..], client).expect("decodes");
        assert!(plain.session_state.is_empty());
        assert!(
            !plain
                .status
                .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED)
        );
        // An OK answering a statement stays an OK.
        let mut answer = end.clone();
        answer[0] = 0x00;
        assert_eq!(client_view(&ok, &answer, 1, client)[4], 0x00);
    }
}

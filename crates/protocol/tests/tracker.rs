//! ResponseTracker on synthetic responses: the shapes the captures do not
//! cover (cursors, prepare with EOFs, FIELD_LIST, errors midway, frames of
//! large packets), and the result sets the builders write.

use bytes::BytesMut;
use splitrail_protocol::command::code;
use splitrail_protocol::response::{
    ColumnDefinition, EofPacket, ErrPacket, OkPacket, TextResultSet, code as er,
};
use splitrail_protocol::{
    CapabilityFlags, Completion, End, Error, PacketCodec, ResponseTracker, StatusFlags, Step,
};

const CLASSIC: CapabilityFlags = CapabilityFlags::CLIENT_PROTOCOL_41;

fn modern() -> CapabilityFlags {
    CLASSIC | CapabilityFlags::CLIENT_DEPRECATE_EOF
}

fn ok(status: StatusFlags, caps: CapabilityFlags) -> Vec<u8> {
    ok_with(false, status, caps)
}

/// The OK that ends a result set under CLIENT_DEPRECATE_EOF (header 0xFE).
fn ok_eof(status: StatusFlags, caps: CapabilityFlags) -> Vec<u8> {
    ok_with(true, status, caps)
}

fn ok_with(eof_form: bool, status: StatusFlags, caps: CapabilityFlags) -> Vec<u8> {
    let mut b = BytesMut::new();
    let ok = OkPacket {
        status,
        ..OkPacket::default()
    };
    if eof_form {
        ok.encode_as_eof(caps, &mut b);
    } else {
        ok.encode(caps, &mut b);
    }
    b.to_vec()
}

fn eof(status: StatusFlags) -> Vec<u8> {
    let mut b = BytesMut::new();
    EofPacket {
        warnings: 0,
        status,
    }
    .encode(CLASSIC, &mut b);
    b.to_vec()
}

fn def(caps: CapabilityFlags) -> Vec<u8> {
    let mut b = BytesMut::new();
    ColumnDefinition::varchar("c", 45, 4).encode(caps, &mut b);
    b.to_vec()
}

fn err() -> Vec<u8> {
    let mut b = BytesMut::new();
    ErrPacket::new(er::ER_UNKNOWN_ERROR, "boom").encode(CLASSIC, &mut b);
    b.to_vec()
}

/// Feeds all packets; every one but the last must say More.
fn run(caps: CapabilityFlags, command: u8, packets: &[Vec<u8>]) -> Completion {
    let mut t = ResponseTracker::new(caps);
    t.start(command);
    let (last, rest) = packets.split_last().unwrap();
    for (i, p) in rest.iter().enumerate() {
        assert_eq!(t.feed(p).unwrap(), Step::More, "packet {i}");
    }
    match t.feed(last).unwrap() {
        Step::Done(c) => {
            assert!(t.is_done());
            c
        }
        other => panic!("last packet gave {other:?}"),
    }
}

const CURSOR: StatusFlags = StatusFlags::SERVER_STATUS_CURSOR_EXISTS;
const LAST_ROW: StatusFlags = StatusFlags::SERVER_STATUS_LAST_ROW_SENT;
const MORE: StatusFlags = StatusFlags::SERVER_MORE_RESULTS_EXISTS;

#[test]
fn prepare_with_eofs() {
    // OK: id 1, 2 columns, 1 param.
    let first = b"\x00\x01\x00\x00\x00\x02\x00\x01\x00\x00\x00\x00".to_vec();
    let packets = [
        first,
        def(CLASSIC),
        eof(StatusFlags::empty()),
        def(CLASSIC),
        def(CLASSIC),
        eof(StatusFlags::empty()),
    ];
    let c = run(CLASSIC, code::STMT_PREPARE, &packets);
    assert_eq!(
        c.end,
        End::Prepared {
            statement_id: 1,
            num_params: 1,
            num_columns: 2
        }
    );
}

#[test]
fn prepare_without_params_or_columns_and_errors() {
    let first = b"\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    run(modern(), code::STMT_PREPARE, std::slice::from_ref(&first));
    run(CLASSIC, code::STMT_PREPARE, &[first]);
    let c = run(CLASSIC, code::STMT_PREPARE, &[err()]);
    assert_eq!(c.end, End::Err { code: 1105 });
}

#[test]
fn cursor_open_then_fetch() {
    // Classic: the EOF after the definitions says a cursor is open.
    let c = run(
        CLASSIC,
        code::STMT_EXECUTE,
        &[vec![1], def(CLASSIC), eof(CURSOR)],
    );
    assert_eq!((c.end, c.status), (End::Eof, CURSOR));
    // DEPRECATE_EOF: an OK (0xFE) right after the definitions.
    let caps = modern();
    let c = run(
        caps,
        code::STMT_EXECUTE,
        &[vec![1], def(caps), ok_eof(CURSOR, caps)],
    );
    assert!(c.status.contains(CURSOR));
    // COM_STMT_FETCH: binary rows then a terminator.
    let row = b"\x00\x00\x01a".to_vec();
    let c = run(
        CLASSIC,
        code::STMT_FETCH,
        &[row.clone(), row.clone(), eof(CURSOR)],
    );
    assert_eq!(c.status, CURSOR);
    let c = run(
        caps,
        code::STMT_FETCH,
        &[row, ok_eof(CURSOR | LAST_ROW, caps)],
    );
    assert!(c.status.contains(LAST_ROW));
}

#[test]
fn field_list_statistics_simple_and_nothing() {
    run(
        CLASSIC,
        code::FIELD_LIST,
        &[def(CLASSIC), def(CLASSIC), eof(StatusFlags::empty())],
    );
    run(
        modern(),
        code::FIELD_LIST,
        &[def(modern()), ok_eof(StatusFlags::empty(), modern())],
    );
    let c = run(
        CLASSIC,
        code::STATISTICS,
        &[b"Uptime: 5  Threads: 1".to_vec()],
    );
    assert_eq!(c.end, End::Text);
    run(CLASSIC, code::PING, &[ok(StatusFlags::empty(), CLASSIC)]);
    let c = run(
        CLASSIC,
        code::SET_OPTION,
        &[eof(StatusFlags::SERVER_STATUS_AUTOCOMMIT)],
    );
    assert_eq!(c.end, End::Eof);
    run(
        modern(),
        code::SET_OPTION,
        &[ok_eof(StatusFlags::empty(), modern())],
    );

    let mut t = ResponseTracker::new(CLASSIC);
    t.start(code::QUIT);
    assert!(t.is_done());
    assert!(matches!(
        t.feed(b"\x00"),
        Err(Error::UnexpectedPacket { .. })
    ));
}

#[test]
fn errors_end_the_response_anywhere() {
    let row = b"\x011".to_vec();
    let c = run(
        CLASSIC,
        code::QUERY,
        &[vec![1], def(CLASSIC), eof(MORE), row, err()],
    );
    assert_eq!(c.end, End::Err { code: 1105 });
    run(CLASSIC, code::QUERY, &[vec![2], def(CLASSIC), err()]);
    // A second result after SERVER_MORE_RESULTS_EXISTS may fail too.
    let caps = modern();
    run(caps, code::QUERY, &[ok(MORE, caps), err()]);
}

#[test]
fn status_follows_the_last_terminator() {
    let caps = modern();
    let in_trans = StatusFlags::SERVER_STATUS_IN_TRANS;
    let c = run(
        caps,
        code::QUERY,
        &[
            ok(MORE | in_trans, caps),
            vec![1],
            def(caps),
            b"\x011".to_vec(),
            ok_eof(in_trans, caps),
        ],
    );
    assert_eq!(c.status, in_trans);
    assert!(matches!(c.end, End::Ok { .. }));
}

#[test]
fn change_user_exchange() {
    let mut t = ResponseTracker::new(CLASSIC);
    t.start(code::CHANGE_USER);
    assert_eq!(
        t.feed(b"\xfemysql_native_password\x00abc").unwrap(),
        Step::NeedClient
    );
    assert!(matches!(
        t.feed(&ok(StatusFlags::empty(), CLASSIC)).unwrap(),
        Step::Done(_)
    ));
}

#[test]
fn malformed_responses_are_errors_not_panics() {
    let mut t = ResponseTracker::new(CLASSIC);
    t.start(code::QUERY);
    assert!(t.feed(b"\x00").is_err()); // OK cut short
    t.start(code::QUERY);
    assert!(t.feed(b"").is_err());
    t.start(code::QUERY);
    assert!(t.feed(b"\x01").is_ok());
    assert!(t.feed(&def(CLASSIC)).is_ok());
    assert!(t.feed(b"\x011").is_err()); // a row where EOF must be
}

#[test]
fn large_rows_in_frames() {
    let mut t = ResponseTracker::new(CLASSIC);
    t.start(code::QUERY);
    for p in [vec![1], def(CLASSIC), eof(StatusFlags::empty())] {
        assert_eq!(t.feed_frame(&p).unwrap(), Step::More);
    }
    // A row whose first value has a 9-byte length starts with 0xFE; it is a
    // full frame, so it is a row, not an EOF; its continuations are skipped.
    let mut big = vec![0u8; 0xFF_FFFF];
    big[0] = 0xFE;
    assert_eq!(t.feed_frame(&big).unwrap(), Step::More);
    assert_eq!(t.feed_frame(&big).unwrap(), Step::More);
    assert_eq!(t.feed_frame(b"\xfe\x00\x00").unwrap(), Step::More);
    assert!(matches!(
        t.feed_frame(&eof(StatusFlags::empty())).unwrap(),
        Step::Done(_)
    ));
    // One row: the large one, whose continuation frames (the last one short) are not rows.
    assert_eq!(t.rows(), 1);
    t.start(code::QUERY);
    assert_eq!(t.rows(), 0);
}

#[test]
fn built_result_sets_are_tracked_to_the_end() {
    for caps in [CLASSIC, modern()] {
        let rs = TextResultSet::new(
            &["@@version_comment", "n"],
            vec![
                vec![Some("splitrail".into()), None],
                vec![Some("x".into()), Some("2".into())],
            ],
        );
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
        let mut reader = PacketCodec::default();
        reader.set_seq(1);
        let mut packets = Vec::new();
        while let Some(p) = reader.decode(&mut wire).unwrap() {
            packets.push(p.payload.to_vec());
        }
        let expected = if caps == CLASSIC { 7 } else { 6 };
        assert_eq!(packets.len(), expected);
        let c = run(caps, code::QUERY, &packets);
        assert_eq!(c.status, StatusFlags::SERVER_STATUS_AUTOCOMMIT);
        let d = ColumnDefinition::decode(&packets[1], caps).unwrap();
        assert_eq!(d.name, b"@@version_comment");
    }
}

#[test]
fn skipped_metadata() {
    // MariaDB's cache-metadata flag after the column count: 0 = no definitions.
    let caps = modern() | CapabilityFlags::MARIADB_CLIENT_CACHE_METADATA;
    let row = b"\x00\x00\x01a".to_vec();
    run(
        caps,
        code::STMT_EXECUTE,
        &[vec![1, 0], row.clone(), ok_eof(StatusFlags::empty(), caps)],
    );
    let caps = CLASSIC | CapabilityFlags::MARIADB_CLIENT_CACHE_METADATA;
    run(
        caps,
        code::STMT_EXECUTE,
        &[
            vec![1, 0],
            eof(StatusFlags::empty()),
            row.clone(),
            eof(StatusFlags::empty()),
        ],
    );
    run(
        caps,
        code::STMT_EXECUTE,
        &[
            vec![1, 1],
            def(caps),
            eof(StatusFlags::empty()),
            row,
            eof(StatusFlags::empty()),
        ],
    );
    // The flag byte is required when negotiated.
    let mut t = ResponseTracker::new(caps);
    t.start(code::QUERY);
    assert!(t.feed(&[1]).is_err());
}

#[test]
fn session_state_before_the_last_result_is_flagged() {
    let caps = modern() | CapabilityFlags::CLIENT_SESSION_TRACK;
    let changed = StatusFlags::SERVER_SESSION_STATE_CHANGED;
    let mut t = ResponseTracker::new(caps);
    t.start(code::QUERY);
    // `USE db; SELECT 1`: an OK with a schema change, then a result set.
    assert_eq!(
        t.feed(&ok(MORE | changed, caps)).unwrap(),
        Step::MoreWithSessionState
    );
    assert_eq!(t.feed(&[1]).unwrap(), Step::More);
    assert_eq!(t.feed(&def(caps)).unwrap(), Step::More);
    let last_of_first = ok_eof(MORE | changed, caps);
    assert_eq!(t.feed(&last_of_first).unwrap(), Step::MoreWithSessionState);
    assert_eq!(t.feed(&ok(MORE, caps)).unwrap(), Step::More);
    assert!(matches!(t.feed(&ok(changed, caps)).unwrap(), Step::Done(c) if c.status == changed));
}

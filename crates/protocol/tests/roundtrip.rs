//! Property tests: every packet type survives encode → decode, and no
//! decoder panics on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use splitrail_protocol::command::{Command, Query, QueryAttribute, SetOption};
use splitrail_protocol::handshake::{
    AuthMoreData, AuthSwitchRequest, ChangeUser, HandshakeResponse, InitialHandshake, SslRequest,
};
use splitrail_protocol::prepared::{CursorFlags, StmtExecute, StmtPrepareOk};
use splitrail_protocol::response::{
    BinaryRow, ColumnDefinition, ColumnFlags, EofPacket, ErrPacket, LocalInfileRequest, OkPacket,
    SessionStateChange, TextRow,
};
use splitrail_protocol::value::{ColumnType, Value};
use splitrail_protocol::{CapabilityFlags, PacketCodec, ResponseTracker, StatusFlags};

type C = CapabilityFlags;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// Bytes without NUL, for NUL-terminated fields.
fn cstr(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..max)
}

/// Capabilities with the MariaDB half only when CLIENT_MYSQL is clear, as on the wire.
fn caps() -> impl Strategy<Value = CapabilityFlags> {
    (any::<u32>(), any::<u32>()).prop_map(|(m, x)| {
        let ext = if m & 1 == 0 { x } else { 0 };
        C::from_halves(m | C::CLIENT_PROTOCOL_41.mysql_bits(), ext)
    })
}

fn value() -> impl Strategy<Value = Value<'static>> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        any::<f64>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::Double),
        any::<f32>()
            .prop_filter("NaN != NaN", |f| !f.is_nan())
            .prop_map(Value::Float),
        vec(any::<u8>(), 0..40).prop_map(|v| Value::Bytes(Box::leak(v.into_boxed_slice()))),
        (any::<u16>(), any::<[u8; 5]>(), any::<u32>()).prop_map(|(year, d, micros)| {
            Value::Date {
                year,
                month: d[0],
                day: d[1],
                hour: d[2],
                minute: d[3],
                second: d[4],
                micros,
            }
        }),
        (any::<bool>(), any::<u32>(), any::<[u8; 3]>(), any::<u32>()).prop_map(
            |(negative, days, t, micros)| Value::Time {
                negative,
                days,
                hours: t[0],
                minutes: t[1],
                seconds: t[2],
                micros,
            }
        ),
    ]
}

fn session_change() -> impl Strategy<Value = SessionStateChange> {
    prop_oneof![
        (bytes(20), bytes(20))
            .prop_map(|(name, value)| SessionStateChange::SystemVariable { name, value }),
        bytes(20).prop_map(SessionStateChange::Schema),
        any::<bool>().prop_map(SessionStateChange::StateChange),
        (any::<u8>(), bytes(40))
            .prop_map(|(encoding, gtids)| SessionStateChange::Gtids { encoding, gtids }),
        bytes(40).prop_map(SessionStateChange::TransactionCharacteristics),
        bytes(8).prop_map(SessionStateChange::TransactionState),
        (6u8..=255, bytes(10)).prop_map(|(kind, data)| SessionStateChange::Unknown { kind, data }),
    ]
}

proptest! {
    #[test]
    fn framing_round_trip_with_any_chunking(
        payloads in vec(bytes(300), 1..8),
        cuts in vec(any::<usize>(), 0..10),
    ) {
        let mut w = PacketCodec::default();
        let mut wire = BytesMut::new();
        for p in &payloads {
            w.encode(p, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (wire.len() + 1)).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut r = PacketCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for c in cuts {
            buf.extend_from_slice(&wire[at..c]);
            at = c;
            while let Some(p) = r.decode(&mut buf).unwrap() {
                got.push(p.payload.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn initial_handshake(
        server_version in cstr(40), connection_id: u32, nonce in vec(1u8..=255, 20),
        caps in caps(), charset: u8, status: u16, plugin in cstr(30),
    ) {
        let caps = caps | C::CLIENT_SECURE_CONNECTION;
        let hs = InitialHandshake {
            server_version, connection_id, auth_plugin_data: nonce, capabilities: caps, charset,
            status: StatusFlags::from_bits_retain(status),
            auth_plugin_name: if caps.contains(C::CLIENT_PLUGIN_AUTH) { plugin } else { Vec::new() },
        };
        let mut b = BytesMut::new();
        hs.encode(&mut b);
        prop_assert_eq!(InitialHandshake::decode(&b).unwrap(), hs);
    }

    #[test]
    fn ssl_request_and_handshake_response(
        caps in caps(), max_packet_size: u32, charset: u8, username in cstr(20),
        auth in bytes(100), db in cstr(20), plugin in cstr(30),
        attrs in vec((bytes(20), bytes(30)), 0..5),
    ) {
        let ssl = SslRequest { capabilities: caps | C::CLIENT_SSL, max_packet_size, charset };
        let mut b = BytesMut::new();
        ssl.encode(&mut b);
        prop_assert!(SslRequest::is_ssl_request(&b));
        prop_assert_eq!(SslRequest::decode(&b).unwrap(), ssl);

        let lenenc = caps.contains(C::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA);
        let secure = caps.contains(C::CLIENT_SECURE_CONNECTION);
        let auth_response = match (lenenc, secure) {
            (true, _) => auth,
            (false, true) => auth.into_iter().take(255).collect(),
            _ => auth.into_iter().filter(|b| *b != 0).collect(),
        };
        let resp = HandshakeResponse {
            capabilities: caps, max_packet_size, charset, username, auth_response,
            database: caps.contains(C::CLIENT_CONNECT_WITH_DB).then_some(db),
            auth_plugin_name: caps.contains(C::CLIENT_PLUGIN_AUTH).then_some(plugin),
            connect_attrs: caps.contains(C::CLIENT_CONNECT_ATTRS).then_some(attrs),
        };
        let mut b = BytesMut::new();
        resp.encode(&mut b);
        prop_assert_eq!(HandshakeResponse::decode(&b).unwrap(), resp);
    }

    #[test]
    fn auth_switch_and_more_data(name in cstr(30), data in bytes(60)) {
        let sw = AuthSwitchRequest { plugin_name: name, plugin_data: data.clone() };
        let mut b = BytesMut::new();
        sw.encode(&mut b);
        prop_assert_eq!(AuthSwitchRequest::decode(&b).unwrap(), sw);
        let more = AuthMoreData { data };
        let mut b = BytesMut::new();
        more.encode(&mut b);
        prop_assert_eq!(AuthMoreData::decode(&b).unwrap(), more);
    }

    #[test]
    fn change_user(
        caps in caps(), user in cstr(20), auth in vec(1u8..=255, 0..200), db in cstr(20),
        charset: u16, plugin in cstr(20), attrs in vec((bytes(10), bytes(10)), 0..4),
    ) {
        let attrs: Vec<(&[u8], &[u8])> = attrs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
        let cu = ChangeUser {
            user: &user, auth_response: &auth, database: &db, charset: Some(charset),
            auth_plugin_name: caps.contains(C::CLIENT_PLUGIN_AUTH).then_some(&plugin[..]),
            connect_attrs: (caps.contains(C::CLIENT_CONNECT_ATTRS) && caps.contains(C::CLIENT_PLUGIN_AUTH))
                .then_some(attrs),
        };
        let mut b = BytesMut::new();
        cu.encode(caps, &mut b);
        prop_assert_eq!(ChangeUser::decode(&b, caps).unwrap(), cu);
    }

    #[test]
    fn commands(
        caps in caps(), which in 0usize..17, a in bytes(50), n: u32, m: u16,
        attrs in vec((bytes(10), value()), 0..4),
    ) {
        let table: Vec<u8> = a.iter().copied().filter(|b| *b != 0).collect();
        let attributes: Vec<QueryAttribute> = if caps.contains(C::CLIENT_QUERY_ATTRIBUTES) {
            attrs.iter().map(|(name, v)| {
                let (ty, unsigned) = v.column_type();
                QueryAttribute { name, ty, unsigned, value: *v }
            }).collect()
        } else { Vec::new() };
        let cmd = match which {
            0 => Command::Quit,
            1 => Command::InitDb { schema: &a },
            2 => Command::Query(Query { attributes, sql: &a }),
            3 => Command::FieldList { table: &table, wildcard: &a },
            4 => Command::Statistics,
            5 => Command::ProcessKill { connection_id: n },
            6 => Command::Ping,
            7 => Command::ResetConnection,
            8 => Command::SetOption(match m { 0 => SetOption::MultiStatementsOn, 1 => SetOption::MultiStatementsOff, o => SetOption::Other(o) }),
            9 => Command::StmtPrepare { query: &a },
            10 => Command::StmtExecute(StmtExecute { statement_id: n, flags: CursorFlags::from_bits_retain(m as u8), iteration_count: 1, params: &a }),
            11 => Command::StmtSendLongData { statement_id: n, param_id: m, data: &a },
            12 => Command::StmtClose { statement_id: n },
            13 => Command::StmtReset { statement_id: n },
            14 => Command::StmtFetch { statement_id: n, num_rows: u32::from(m) },
            15 => Command::BinlogDump { position: n, flags: m, server_id: n.rotate_left(7), file: &a },
            _ => Command::Unknown { code: 0x20 + (m % 0xC0) as u8 + if m % 0xC0 >= 0xDA { 0x06 } else { 0 }, body: &a },
        };
        let mut b = BytesMut::new();
        cmd.encode(caps, &mut b);
        prop_assert_eq!(Command::decode(&b, caps).unwrap(), cmd);
    }

    #[test]
    fn execute_params(values in vec(value(), 0..12), id: u32) {
        let mut b = BytesMut::new();
        StmtExecute::encode_with_values(id, CursorFlags::empty(), &values, &mut b);
        let Command::StmtExecute(e) = Command::decode(&b, C::CLIENT_PROTOCOL_41).unwrap() else {
            panic!("not an execute");
        };
        let p = e.params(values.len(), &[], C::CLIENT_PROTOCOL_41).unwrap();
        prop_assert_eq!(p.values, values);
    }

    #[test]
    fn prepare_ok(statement_id: u32, num_columns: u16, num_params: u16, warnings: u16, m: Option<bool>) {
        let ok = StmtPrepareOk { statement_id, num_columns, num_params, warnings, metadata_follows: m };
        let mut b = BytesMut::new();
        ok.encode(&mut b);
        prop_assert_eq!(StmtPrepareOk::decode(&b).unwrap(), ok);
    }

    #[test]
    fn ok_err_eof(
        caps in caps(), affected_rows: u64, last_insert_id: u64, status: u16, warnings: u16,
        info in bytes(50), changes in vec(session_change(), 0..5), code: u16, msg in bytes(80),
        state in any::<[u8; 5]>(),
    ) {
        let mut status = StatusFlags::from_bits_retain(status);
        let track = caps.contains(C::CLIENT_SESSION_TRACK);
        if !track { status.remove(StatusFlags::SERVER_SESSION_STATE_CHANGED); }
        let ok = OkPacket {
            affected_rows, last_insert_id, status, warnings, info,
            session_state: if status.contains(StatusFlags::SERVER_SESSION_STATE_CHANGED) { changes } else { Vec::new() },
        };
        for eof_form in [false, true] {
            let mut b = BytesMut::new();
            if eof_form { ok.encode_as_eof(caps, &mut b) } else { ok.encode(caps, &mut b) }
            prop_assert_eq!(OkPacket::decode(&b, caps).unwrap(), ok.clone());
        }
        let state = state.map(|c| if c == b'#' { b'0' } else { c });
        let err = ErrPacket { code, sql_state: Some(state), message: msg };
        let mut b = BytesMut::new();
        err.encode(caps, &mut b);
        prop_assert_eq!(ErrPacket::decode(&b, caps).unwrap(), err);
        let eof = EofPacket { warnings, status };
        let mut b = BytesMut::new();
        eof.encode(caps, &mut b);
        prop_assert_eq!(EofPacket::decode(&b, caps).unwrap(), eof);
    }

    #[test]
    fn column_definition_and_infile(
        caps in caps(), names in vec(bytes(20), 5), ext in bytes(10), charset: u16,
        column_length: u32, ty: u8, flags: u16, decimals: u8, default in proptest::option::of(proptest::option::of(bytes(10))),
    ) {
        let extended = caps.contains(C::MARIADB_CLIENT_EXTENDED_TYPE_INFO);
        let d = ColumnDefinition {
            schema: names[0].clone(), table: names[1].clone(), org_table: names[2].clone(),
            name: names[3].clone(), org_name: names[4].clone(),
            extended_type_info: extended.then_some(ext),
            charset, column_length, column_type: ColumnType::from_u8(ty),
            flags: ColumnFlags::from_bits_retain(flags), decimals, default_values: default,
        };
        let mut b = BytesMut::new();
        d.encode(caps, &mut b);
        prop_assert_eq!(ColumnDefinition::decode(&b, caps).unwrap(), d);
        let li = LocalInfileRequest { filename: names[0].clone() };
        let mut b = BytesMut::new();
        li.encode(&mut b);
        prop_assert_eq!(LocalInfileRequest::decode(&b).unwrap(), li);
    }

    #[test]
    fn rows(text in vec(proptest::option::of(bytes(300)), 0..10), values in vec(value(), 0..10)) {
        let mut b = BytesMut::new();
        TextRow::encode(text.iter().map(|v| v.as_deref()), &mut b);
        let row = TextRow::new(b.freeze());
        let got: Vec<Option<Vec<u8>>> = row.decode_all().unwrap().into_iter().map(|v| v.map(<[u8]>::to_vec)).collect();
        prop_assert_eq!(got, text);

        let columns: Vec<ColumnDefinition> = values.iter().map(|v| {
            let (ty, unsigned) = v.column_type();
            ColumnDefinition {
                column_type: ty,
                flags: if unsigned { ColumnFlags::UNSIGNED } else { ColumnFlags::empty() },
                ..ColumnDefinition::default()
            }
        }).collect();
        let mut b = BytesMut::new();
        BinaryRow::encode(&values, &mut b);
        let row = BinaryRow::new(b.freeze());
        prop_assert_eq!(row.decode_all(&columns).unwrap(), values);
    }

    /// The cheap in-process fuzzer: no decoder may panic on arbitrary bytes.
    #[test]
    fn decoders_never_panic(data in bytes(200), caps in caps(), n in 0usize..40) {
        let _ = InitialHandshake::decode(&data);
        let _ = HandshakeResponse::decode(&data);
        let _ = SslRequest::decode(&data);
        let _ = AuthSwitchRequest::decode(&data);
        let _ = ChangeUser::decode(&data, caps);
        if let Ok(Command::StmtExecute(e)) = Command::decode(&data, caps) {
            let _ = e.params(n, &[], caps);
        }
        let _ = OkPacket::decode(&data, caps);
        let _ = ErrPacket::decode(&data, caps);
        let _ = EofPacket::decode(&data, caps);
        let _ = ColumnDefinition::decode(&data, caps);
        let _ = StmtPrepareOk::decode(&data);
        let _ = TextRow::new(Bytes::from(data.clone())).decode_all();
        let cols = vec![ColumnDefinition { column_type: ColumnType::from_u8(data.first().copied().unwrap_or(0)), ..Default::default() }; n];
        let _ = BinaryRow::new(Bytes::from(data.clone())).decode_all(&cols);
        let mut codec = PacketCodec::new(1000);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let mut t = ResponseTracker::new(caps);
        t.start(data.first().copied().unwrap_or(3));
        for chunk in data.chunks(n.max(1)) {
            let _ = t.feed(chunk);
        }
    }
}

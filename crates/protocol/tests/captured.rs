//! Tests on byte streams captured from a real MariaDB 10.11.
//!
//! How they were captured (see the header of each file in `tests/data/`): a
//! throwaway `mariadbd` was started on a free 127.0.0.1 port with a temporary
//! datadir (`mariadb-install-db --no-defaults --datadir=<tmp>
//! --auth-root-authentication-method=normal`, then `mariadbd --no-defaults
//! --user=root --datadir=<tmp> --port=<free> --socket=<tmp>/mysqld.sock`), a
//! user `app`/`apppw` and a table `test.t` were created, and the `mariadb` CLI
//! (or, for the binary protocol, cursors and CLIENT_DEPRECATE_EOF, the small Python
//! clients `tests/data/rawclient.py` and `rawclient_commands.py`) talked to it through
//! `tests/data/relay.py`, a one-connection relay that logs every chunk it
//! forwards as `S <hex>` / `C <hex>`. The server was stopped afterwards.

use bytes::BytesMut;
use splitrail_protocol::auth::{AuthPlugin, ClientAuth, ClientAuthStep, ed25519, native};
use splitrail_protocol::command::Command;
use splitrail_protocol::handshake::{AuthSwitchRequest, HandshakeResponse, InitialHandshake};
use splitrail_protocol::prepared::StmtPrepareOk;
use splitrail_protocol::response::{
    BinaryRow, ColumnDefinition, ErrPacket, OkPacket, SessionStateChange, TextRow,
};
use splitrail_protocol::value::Value;
use splitrail_protocol::{
    CapabilityFlags, Completion, End, PacketCodec, ResponseTracker, StatusFlags, Step,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Server,
    Client,
}

struct Capture {
    /// Packets in the order they completed on the wire.
    packets: Vec<(Dir, u8, Vec<u8>)>,
    /// The raw bytes per direction, to check re-framing reproduces them.
    raw: [Vec<u8>; 2],
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn load(name: &str) -> Capture {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let mut codecs = [PacketCodec::default(), PacketCodec::default()];
    let mut bufs = [BytesMut::new(), BytesMut::new()];
    let mut cap = Capture {
        packets: Vec::new(),
        raw: [Vec::new(), Vec::new()],
    };
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (tag, hex) = line.split_once(' ').unwrap();
        let (dir, i) = if tag == "S" {
            (Dir::Server, 0)
        } else {
            (Dir::Client, 1)
        };
        let bytes = unhex(hex);
        cap.raw[i].extend_from_slice(&bytes);
        bufs[i].extend_from_slice(&bytes);
        // Sequence ids continue across directions, so each direction's codec
        // only tracks; the tests check the ids they care about.
        codecs[i].check_seq = false;
        while let Some(p) = codecs[i].decode(&mut bufs[i]).unwrap() {
            cap.packets.push((dir, p.seq, p.payload.to_vec()));
        }
    }
    assert!(
        bufs.iter().all(|b| b.is_empty()),
        "{name}: partial packet left"
    );
    cap
}

impl Capture {
    fn server(&self) -> impl Iterator<Item = &[u8]> {
        self.packets
            .iter()
            .filter(|p| p.0 == Dir::Server)
            .map(|p| &p.2[..])
    }
    fn client(&self) -> impl Iterator<Item = &[u8]> {
        self.packets
            .iter()
            .filter(|p| p.0 == Dir::Client)
            .map(|p| &p.2[..])
    }
    /// Server packets answering the `n`-th command (0-based) after login.
    fn response_to(&self, n: usize) -> Vec<&[u8]> {
        let mut cmd = None;
        let mut out = Vec::new();
        let mut seen = 0;
        for (dir, seq, p) in &self.packets {
            match dir {
                Dir::Client if *seq == 0 => {
                    cmd = Some(seen);
                    seen += 1;
                }
                Dir::Server if cmd == Some(n) && seen > 0 => out.push(&p[..]),
                _ => {}
            }
        }
        out
    }
}

/// Re-framing every packet with fresh sequence numbering reproduces the wire.
fn assert_reframes(cap: &Capture) {
    for (i, dir) in [Dir::Server, Dir::Client].into_iter().enumerate() {
        let mut out = BytesMut::new();
        let mut codec = PacketCodec::default();
        for (_, seq, p) in cap.packets.iter().filter(|p| p.0 == dir) {
            codec.set_seq(*seq);
            codec.encode(p, &mut out).unwrap();
        }
        assert_eq!(&out[..], &cap.raw[i][..]);
    }
}

fn session(cap: &Capture) -> (InitialHandshake, HandshakeResponse, CapabilityFlags) {
    let hs = InitialHandshake::decode(cap.server().next().unwrap()).unwrap();
    let resp = HandshakeResponse::decode(cap.client().next().unwrap()).unwrap();
    let caps = hs.capabilities & resp.capabilities;
    (hs, resp, caps)
}

fn track(caps: CapabilityFlags, command: u8, packets: &[&[u8]]) -> Vec<Step> {
    let mut t = ResponseTracker::new(caps);
    t.start(command);
    packets.iter().map(|p| t.feed(p).unwrap()).collect()
}

#[test]
fn handshake_and_native_login_from_the_cli() {
    let cap = load("cli_multi_result.txt");
    assert_reframes(&cap);
    let (hs, resp, caps) = session(&cap);
    assert_eq!(hs.server_version, b"5.5.5-10.11.19-MariaDB-0+deb12u1");
    assert_eq!(hs.auth_plugin_name, b"mysql_native_password");
    assert_eq!(hs.auth_plugin_data.len(), 20);
    assert!(hs.capabilities.uses_mariadb_extensions());
    assert!(hs.capabilities.contains(
        CapabilityFlags::MARIADB_CLIENT_PROGRESS | CapabilityFlags::CLIENT_SESSION_TRACK
    ));
    let mut b = BytesMut::new();
    hs.encode(&mut b);
    assert_eq!(&b[..], cap.server().next().unwrap());

    assert_eq!(resp.username, b"app");
    assert_eq!(resp.database.as_deref(), Some(&b"test"[..]));
    assert_eq!(
        resp.auth_plugin_name.as_deref(),
        Some(&b"mysql_native_password"[..])
    );
    let attrs = resp.connect_attrs.clone().unwrap();
    assert!(attrs.contains(&(b"_client_name".to_vec(), b"libmariadb".to_vec())));
    assert!(attrs.contains(&(b"program_name".to_vec(), b"mysql".to_vec())));
    // Our scramble is the real client's, and our server-side check accepts it.
    assert_eq!(
        resp.auth_response,
        native::scramble(b"apppw", &hs.auth_plugin_data)
    );
    assert!(native::verify(
        Some(&native::password_hash(b"apppw")),
        &hs.auth_plugin_data,
        &resp.auth_response
    ));
    let mut b = BytesMut::new();
    resp.encode(&mut b);
    assert_eq!(&b[..], cap.client().next().unwrap());
    assert!(!caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF));
}

#[test]
fn text_result_sets_from_the_cli() {
    let cap = load("cli_multi_result.txt");
    let (_, _, caps) = session(&cap);
    // The CLI splits `a; b; c` itself: three COM_QUERYs, three result sets.
    let query = cap.client().nth(1).unwrap();
    let Command::Query(q) = Command::decode(query, caps).unwrap() else {
        panic!("not a query");
    };
    assert!(q.sql.starts_with(b"SELECT id, name FROM t"));
    let response = cap.response_to(0);
    let steps = track(caps, query[0], &response);
    let (last, rest) = steps.split_last().unwrap();
    assert!(rest.iter().all(|s| *s == Step::More));
    let Step::Done(done) = last else {
        panic!("{last:?}")
    };
    assert_eq!(done.end, End::Eof);
    assert!(done.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
    // count, 2 defs, EOF, 2 rows, EOF. The CLI negotiates
    // MARIADB_CLIENT_CACHE_METADATA, so the count is followed by a
    // "metadata follows" byte.
    assert_eq!(response.len(), 7);
    assert!(caps.contains(CapabilityFlags::MARIADB_CLIENT_CACHE_METADATA));
    assert_eq!(response[0], [2, 1]);
    let def = ColumnDefinition::decode(response[2], caps).unwrap();
    assert_eq!(def.name, b"name");
    assert_eq!(def.org_table, b"t");
    assert!(def.extended_type_info.is_some());
    let mut b = BytesMut::new();
    def.encode(caps, &mut b);
    assert_eq!(&b[..], response[2]);
    let rows: Vec<_> = response[4..6]
        .iter()
        .map(|p| TextRow::new(bytes::Bytes::copy_from_slice(p)))
        .collect();
    assert_eq!(
        rows[0].decode_all().unwrap(),
        [Some(&b"1"[..]), Some(&b"one"[..])]
    );
    assert_eq!(rows[1].decode_all().unwrap(), [Some(&b"2"[..]), None]);
    for n in 1..3 {
        let r = cap.response_to(n);
        assert_eq!(r.len(), 5);
        assert!(matches!(track(caps, 0x03, &r).last(), Some(Step::Done(_))));
    }
}

#[test]
fn multi_result_from_a_procedure_call() {
    let cap = load("cli_call_multi_result.txt");
    assert_reframes(&cap);
    let (_, _, caps) = session(&cap);
    let response = cap.response_to(0);
    let steps = track(caps, 0x03, &response);
    let (last, rest) = steps.split_last().unwrap();
    assert!(rest.iter().all(|s| *s == Step::More));
    // Result 1: count, def, EOF, 4 rows, EOF(more); result 2: count, def,
    // EOF, row, EOF(more); then the CALL's own OK.
    assert_eq!(response.len(), 8 + 5 + 1);
    let Step::Done(done) = last else {
        panic!("{last:?}")
    };
    assert!(matches!(done.end, End::Ok { .. }));
    assert!(
        !done
            .status
            .contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS)
    );
}

#[test]
fn auth_switch_from_the_cli() {
    let cap = load("auth_switch.txt");
    assert_reframes(&cap);
    let (hs, resp, caps) = session(&cap);
    assert_eq!(
        resp.auth_plugin_name.as_deref(),
        Some(&b"client_ed25519"[..])
    );
    let switch = cap.server().nth(1).unwrap();
    let req = AuthSwitchRequest::decode(switch).unwrap();
    assert_eq!(req.plugin_name, b"mysql_native_password");
    assert_eq!(req.nonce(), &hs.auth_plugin_data[..]);
    let mut b = BytesMut::new();
    req.encode(&mut b);
    assert_eq!(&b[..], switch);
    let reply = cap.client().nth(1).unwrap();

    // Our client role answers the switch exactly as libmariadb did.
    let mut auth = ClientAuth::new(b"apppw", false);
    auth.start(&hs).unwrap();
    assert_eq!(
        auth.handle(switch, caps).unwrap(),
        ClientAuthStep::Send(reply.to_vec())
    );
    let ok = cap.server().nth(2).unwrap();
    assert_eq!(auth.handle(ok, caps).unwrap(), ClientAuthStep::Done);
}

#[test]
fn prepared_statement_and_deprecate_eof() {
    let cap = load("prepared_deprecate_eof.txt");
    assert_reframes(&cap);
    let (_, _, caps) = session(&cap);
    assert!(caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF));
    let login_ok = OkPacket::decode(cap.server().nth(1).unwrap(), caps).unwrap();
    assert_eq!(
        login_ok.session_state,
        [SessionStateChange::Schema(b"test".to_vec())]
    );

    // COM_STMT_PREPARE: OK, 1 param def, 3 column defs, no EOFs.
    let prepare = cap.response_to(0);
    let ok = StmtPrepareOk::decode(prepare[0]).unwrap();
    assert_eq!((ok.num_params, ok.num_columns), (1, 3));
    let steps = track(caps, 0x16, &prepare);
    assert_eq!(prepare.len(), 5);
    assert_eq!(
        steps.last(),
        Some(&Step::Done(splitrail_protocol::Completion {
            status: StatusFlags::empty(),
            warnings: 0,
            end: End::Prepared {
                statement_id: ok.statement_id,
                num_params: 1,
                num_columns: 3
            }
        }))
    );
    let columns: Vec<_> = prepare[2..]
        .iter()
        .map(|p| ColumnDefinition::decode(p, caps).unwrap())
        .collect();

    // COM_STMT_EXECUTE with one LONGLONG parameter.
    let exec = cap.client().nth(2).unwrap();
    let Command::StmtExecute(e) = Command::decode(exec, caps).unwrap() else {
        panic!("not an execute");
    };
    let params = e.params(1, &[], caps).unwrap();
    assert_eq!(params.values, [Value::Int(1)]);
    let response = cap.response_to(1);
    let steps = track(caps, 0x17, &response);
    assert!(matches!(
        steps.last(),
        Some(Step::Done(c)) if matches!(c.end, End::Ok { .. })
    ));
    let row1 = BinaryRow::new(bytes::Bytes::copy_from_slice(response[4]));
    assert_eq!(
        row1.decode_all(&columns).unwrap(),
        [
            Value::Int(1),
            Value::Bytes(b"one"),
            Value::Date {
                year: 2024,
                month: 2,
                day: 29,
                hour: 12,
                minute: 34,
                second: 56,
                micros: 0
            }
        ]
    );
    let row2 = BinaryRow::new(bytes::Bytes::copy_from_slice(response[5]));
    assert_eq!(
        row2.decode_all(&columns).unwrap(),
        [Value::Int(2), Value::Null, Value::Null]
    );

    // Multi-result COM_QUERY ending in OK packets with header 0xFE.
    let multi = cap.response_to(2);
    let steps = track(caps, 0x03, &multi);
    assert_eq!(steps.iter().filter(|s| **s != Step::More).count(), 1);
    assert!(matches!(steps.last(), Some(Step::Done(_))));
    assert_eq!(multi.len(), 8);
}

#[test]
fn local_infile_with_progress_report() {
    let cap = load("local_infile.txt");
    assert_reframes(&cap);
    let (_, _, caps) = session(&cap);
    assert!(caps.contains(CapabilityFlags::MARIADB_CLIENT_PROGRESS));
    let query = cap.client().nth(1).unwrap();
    let mut t = ResponseTracker::new(caps);
    t.start(query[0]);
    let mut server = cap.response_to(0).into_iter();
    assert_eq!(t.feed(server.next().unwrap()).unwrap(), Step::NeedClient);
    assert!(t.awaiting_client());
    // The client's file data, then the empty packet.
    let file: Vec<_> = cap.client().skip(2).take(2).collect();
    assert_eq!(file[0], b"10,ten\n11,eleven\n");
    assert_eq!(t.feed_client(file[0]).unwrap(), Step::NeedClient);
    assert_eq!(t.feed_client(file[1]).unwrap(), Step::More);
    // MariaDB's progress report is an ERR with code 0xFFFF: not the end.
    assert_eq!(t.feed(server.next().unwrap()).unwrap(), Step::More);
    let Step::Done(done) = t.feed(server.next().unwrap()).unwrap() else {
        panic!("not done")
    };
    assert!(matches!(
        done.end,
        End::Ok {
            affected_rows: 2,
            ..
        }
    ));
}

#[test]
fn client_ed25519_signature_matches_libmariadb() {
    let cap = load("auth_ed25519.txt");
    assert_reframes(&cap);
    let (hs, _, caps) = session(&cap);
    let switch = cap.server().nth(1).unwrap();
    let req = AuthSwitchRequest::decode(switch).unwrap();
    assert_eq!(
        AuthPlugin::from_name(&req.plugin_name),
        AuthPlugin::ClientEd25519
    );
    assert_eq!(req.plugin_data.len(), 32);
    let reply = cap.client().nth(1).unwrap();
    // Ed25519 is deterministic: our signature must be the CLI's, byte for byte.
    let mut auth = ClientAuth::new(b"edpw", false);
    auth.start(&hs).unwrap();
    assert_eq!(
        auth.handle(switch, caps).unwrap(),
        ClientAuthStep::Send(reply.to_vec())
    );
    // The server's stored key, LIEvGDGjHTmKyz3peLRjPqahOct5n6/BQCNm1bOvot4 in base64.
    let stored = unhex("2c812f1831a31d398acb3de978b4633ea6a139cb799fafc1402366d5b3afa2de");
    assert_eq!(&ed25519::public_key(b"edpw")[..], &stored[..]);
    let stored: [u8; 32] = stored.try_into().unwrap();
    assert!(ed25519::verify(&stored, &req.plugin_data, reply));
}

/// Runs the tracker over the server's answer to command `n` and returns the
/// packets and the completion.
fn complete(cap: &Capture, caps: CapabilityFlags, n: usize) -> (Vec<&[u8]>, Completion) {
    let command = cap.client().nth(n + 1).unwrap();
    let response = cap.response_to(n);
    let steps = track(caps, command[0], &response);
    let (last, rest) = steps.split_last().unwrap();
    assert!(
        rest.iter().all(|s| *s == Step::More),
        "command {n}: {steps:?}"
    );
    match last {
        Step::Done(c) => (response, *c),
        other => panic!("command {n} not complete: {other:?}"),
    }
}

fn commands_and_cursor(file: &str, deprecate_eof: bool) {
    let cap = load(file);
    assert_reframes(&cap);
    let (_, _, caps) = session(&cap);
    assert_eq!(
        caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
        deprecate_eof
    );
    let eofs = usize::from(!deprecate_eof);

    // COM_PING, COM_STATISTICS.
    assert!(matches!(complete(&cap, caps, 0).1.end, End::Ok { .. }));
    let (stats, c) = complete(&cap, caps, 1);
    assert_eq!(c.end, End::Text);
    assert!(stats[0].starts_with(b"Uptime: "));

    // COM_FIELD_LIST: three definitions with default values, then EOF / OK.
    let (fields, _) = complete(&cap, caps, 2);
    assert_eq!(fields.len(), 4);
    let name = ColumnDefinition::decode(fields[1], caps).unwrap();
    assert_eq!(name.name, b"name");
    assert_eq!(name.default_values, Some(None));
    let mut b = BytesMut::new();
    name.encode(caps, &mut b);
    assert_eq!(&b[..], fields[1]);

    // A syntax error.
    let (err, c) = complete(&cap, caps, 3);
    assert_eq!(c.end, End::Err { code: 1064 });
    let e = ErrPacket::decode(err[0], caps).unwrap();
    assert_eq!(&e.sql_state.unwrap(), b"42000");

    // COM_STMT_PREPARE: 0 params, 2 columns.
    let (prep, c) = complete(&cap, caps, 4);
    assert_eq!(prep.len(), 3 + eofs);
    assert!(matches!(
        c.end,
        End::Prepared {
            num_params: 0,
            num_columns: 2,
            ..
        }
    ));

    // COM_STMT_EXECUTE with a cursor: the response stops after the
    // definitions, with SERVER_STATUS_CURSOR_EXISTS.
    let (exec, c) = complete(&cap, caps, 5);
    assert_eq!(exec.len(), 4);
    assert!(c.status.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS));
    assert_eq!(cap.client().nth(6).unwrap()[5], 1); // CURSOR_TYPE_READ_ONLY

    // COM_STMT_FETCH 1 row, then the rest with LAST_ROW_SENT.
    let (rows, c) = complete(&cap, caps, 6);
    assert_eq!(rows.len(), 2);
    assert!(c.status.contains(StatusFlags::SERVER_STATUS_CURSOR_EXISTS));
    assert!(!c.status.contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT));
    let (rows, c) = complete(&cap, caps, 7);
    assert_eq!(rows.len(), 2);
    assert!(c.status.contains(StatusFlags::SERVER_STATUS_LAST_ROW_SENT));
    let columns: Vec<_> = exec[1..3]
        .iter()
        .map(|p| ColumnDefinition::decode(p, caps).unwrap())
        .collect();
    let row = BinaryRow::new(bytes::Bytes::copy_from_slice(rows[0]));
    assert_eq!(
        row.decode_all(&columns).unwrap(),
        [Value::Int(2), Value::Null]
    );
}

#[test]
fn commands_and_cursor_classic_eof() {
    commands_and_cursor("commands_classic_eof.txt", false);
}

#[test]
fn commands_and_cursor_deprecate_eof() {
    commands_and_cursor("commands_deprecate_eof.txt", true);
}

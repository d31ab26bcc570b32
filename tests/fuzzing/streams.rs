//! Valid client packet templates for the session fuzzer: the commands a client sends after
//! logging in (queries with reads and writes, COM_* utility commands, the prepared-statement
//! commands with random statement ids and parameters, COM_CHANGE_USER, LOAD DATA LOCAL INFILE
//! with the client's file packets), each as the packets it puts on the wire.

use splitrail_protocol::auth::native;
use splitrail_protocol::command::code;

use super::rng::Rng;

/// One packet: its sequence id and payload (the 4-byte header is added by [`frame`]).
#[derive(Debug, Clone)]
pub struct Packet {
    /// The sequence id.
    pub seq: u8,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What the templates need to know about the session.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The test's table (`id` auto-increment primary key, `v` INT).
    pub table: String,
    /// The nonce of the session's handshake (COM_CHANGE_USER scrambles with it).
    pub nonce: Vec<u8>,
}

/// Statements a client may send: reads, writes into the test's table, transactions, session
/// state, multi-statements and a result larger than one 16 MiB frame's worth of small rows.
const QUERIES: &[&str] = &[
    "SELECT 1",
    "SELECT @@server_id",
    "SELECT id, v FROM {t} ORDER BY id DESC LIMIT 3",
    "SELECT COUNT(*) FROM {t}",
    "INSERT INTO {t} (v) VALUES (7)",
    "INSERT INTO {t} (v) VALUES (1), (2), (3)",
    "UPDATE {t} SET v = v + 1 WHERE id = 1",
    "DELETE FROM {t} WHERE v = -1",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "START TRANSACTION READ ONLY",
    "SET autocommit = 0",
    "SET autocommit = 1",
    "SET @x = 42",
    "SELECT @x",
    "SET NAMES utf8mb4",
    "SET SESSION sql_mode = 'ANSI_QUOTES'",
    "USE app",
    "SELECT 1; SELECT 2, 'two'",
    "INSERT INTO {t} (v) VALUES (5); SELECT LAST_INSERT_ID()",
    "SELECT v FROM {t} WHERE id = 1 FOR UPDATE",
    "CREATE TEMPORARY TABLE IF NOT EXISTS fuzz_tmp (a INT)",
    "INSERT INTO fuzz_tmp VALUES (1)",
    "SHOW TABLES",
    "SELECT REPEAT('x', 70000)",
    "SELECT * FROM no_such_table",
    "",
];

/// Statements to prepare; `?` are parameters.
const PREPARE: &[&str] = &[
    "SELECT ?",
    "SELECT ?, ?",
    "SELECT id, v FROM {t} WHERE id = ?",
    "INSERT INTO {t} (v) VALUES (?)",
    "SELECT CONCAT(?, ?, ?)",
    "SELECT 1",
];

/// The packets of one client session after login: 1 to `max` commands.
pub fn command_stream(rng: &mut Rng, ctx: &Ctx, max: usize) -> Vec<Packet> {
    let mut packets = Vec::new();
    for _ in 0..rng.range(1, max) {
        packets.extend(command(rng, ctx));
    }
    if rng.one_in(4) {
        packets.push(cmd(vec![code::QUIT]));
    }
    packets
}

/// The packets of one command (a command packet with sequence id 0, and any packets the
/// client sends on its own after it: LOAD DATA's file).
pub fn command(rng: &mut Rng, ctx: &Ctx) -> Vec<Packet> {
    let t = &ctx.table;
    let p = match rng.below(16) {
        0..=4 => query(&rng.pick(QUERIES).replace("{t}", t)),
        5 => return load_data(rng, t),
        6 => query_bytes(code::STMT_PREPARE, &rng.pick(PREPARE).replace("{t}", t)),
        7 | 8 => execute(rng),
        9 => long_data(rng),
        10 => stmt_only(rng, code::STMT_CLOSE),
        11 => stmt_only(rng, code::STMT_RESET),
        12 => {
            let mut p = stmt_only(rng, code::STMT_FETCH);
            p.payload
                .extend_from_slice(&(rng.range(0, 3) as u32).to_le_bytes());
            p
        }
        13 => change_user(rng, &ctx.nonce),
        14 => utility(rng),
        _ => {
            // Two commands of the prepared family back to back (prepare then execute it).
            let mut both = vec![query_bytes(
                code::STMT_PREPARE,
                &rng.pick(PREPARE).replace("{t}", t),
            )];
            both.push(execute(rng));
            return both;
        }
    };
    vec![p]
}

/// A command packet (sequence id 0).
fn cmd(payload: Vec<u8>) -> Packet {
    Packet { seq: 0, payload }
}

fn query(sql: &str) -> Packet {
    query_bytes(code::QUERY, sql)
}

fn query_bytes(command: u8, text: &str) -> Packet {
    let mut payload = vec![command];
    payload.extend_from_slice(text.as_bytes());
    cmd(payload)
}

/// A statement id: usually one the proxy may have handed out, sometimes any.
fn stmt_id(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => rng.next_u64() as u32,
        1 => 0,
        _ => rng.range(1, 4) as u32,
    }
}

/// A command with only a statement id (COM_STMT_CLOSE, COM_STMT_RESET, the head of FETCH).
fn stmt_only(rng: &mut Rng, command: u8) -> Packet {
    let mut payload = vec![command];
    payload.extend_from_slice(&stmt_id(rng).to_le_bytes());
    cmd(payload)
}

/// COM_STMT_EXECUTE with 0 to 3 bound parameters of random types and values.
fn execute(rng: &mut Rng) -> Packet {
    let mut p = stmt_only(rng, code::STMT_EXECUTE);
    // Flags: no cursor, or a read-only cursor (then COM_STMT_FETCH has rows to fetch).
    p.payload.push(if rng.one_in(4) { 1 } else { 0 });
    p.payload.extend_from_slice(&1u32.to_le_bytes());
    let n = rng.range(0, 3);
    if n == 0 {
        return p;
    }
    let nulls: u8 = rng.byte() & ((1 << n) - 1) & if rng.one_in(3) { 0xFF } else { 0 };
    p.payload.push(nulls);
    let bound = !rng.one_in(6);
    p.payload.push(u8::from(bound));
    let types: Vec<u8> = (0..n)
        .map(|_| *rng.pick(&[0x01, 0x03, 0x05, 0x06, 0x08, 0x0C, 0xFC, 0xFD, 0xFE]))
        .collect();
    if bound {
        for ty in &types {
            p.payload
                .extend_from_slice(&[*ty, if rng.one_in(5) { 0x80 } else { 0 }]);
        }
    }
    for (i, ty) in types.iter().enumerate() {
        if nulls & (1 << i) != 0 {
            continue;
        }
        value(rng, *ty, &mut p.payload);
    }
    p
}

/// A binary-protocol value of column type `ty`.
fn value(rng: &mut Rng, ty: u8, out: &mut Vec<u8>) {
    match ty {
        0x01 => out.push(rng.byte()),
        0x03 => out.extend_from_slice(&(rng.next_u64() as u32).to_le_bytes()),
        0x05 => out.extend_from_slice(&(rng.below(1000) as f64 / 7.0).to_le_bytes()),
        0x08 => out.extend_from_slice(&rng.next_u64().to_le_bytes()),
        0x0C => {
            out.extend_from_slice(&[7, 0xE8, 0x07, 12, 2, 14, 40, 0]);
        }
        0x06 => {}
        _ => {
            let text = rng
                .pick(&["", "abc", "12", "x'y\"z", "\u{e9}t\u{e9}"])
                .as_bytes();
            out.push(text.len() as u8);
            out.extend_from_slice(text);
        }
    }
}

/// COM_STMT_SEND_LONG_DATA: a chunk for one parameter (no response from the server).
fn long_data(rng: &mut Rng) -> Packet {
    let mut p = stmt_only(rng, code::STMT_SEND_LONG_DATA);
    p.payload
        .extend_from_slice(&(rng.range(0, 3) as u16).to_le_bytes());
    let n = rng.range(0, 64);
    p.payload.extend(std::iter::repeat_n(b'L', n));
    p
}

/// COM_CHANGE_USER back to `app` (right password) or to a user with a wrong one.
fn change_user(rng: &mut Rng, nonce: &[u8]) -> Packet {
    let (user, password): (&[u8], &[u8]) = if rng.one_in(3) {
        (b"nobody", b"wrong")
    } else {
        (b"app", b"app")
    };
    let mut payload = vec![code::CHANGE_USER];
    payload.extend_from_slice(user);
    payload.push(0);
    let scramble = native::scramble(password, nonce);
    payload.push(scramble.len() as u8);
    payload.extend_from_slice(&scramble);
    payload.extend_from_slice(b"app\0");
    payload.extend_from_slice(&45u16.to_le_bytes());
    payload.extend_from_slice(b"mysql_native_password\0");
    cmd(payload)
}

/// The small COM_* commands, and command bytes nobody should send.
fn utility(rng: &mut Rng) -> Packet {
    cmd(match rng.below(9) {
        0 => vec![code::PING],
        1 => [&[code::INIT_DB][..], b"app"].concat(),
        2 => vec![code::STATISTICS],
        3 => [&[code::FIELD_LIST][..], b"no_such_table\0"].concat(),
        4 => vec![code::RESET_CONNECTION],
        5 => vec![code::SET_OPTION, rng.below(2) as u8, 0],
        6 => vec![code::DEBUG],
        7 => vec![*rng.pick(&[code::SLEEP, code::BINLOG_DUMP, 0x20, 0xFA, 0xFF])],
        _ => [&[code::INIT_DB][..], b"no_such_db"].concat(),
    })
}

/// LOAD DATA LOCAL INFILE into the test's table: the query, then (without waiting for the
/// server's request, as a pipelining client does) the file in 0 to 3 packets and the empty
/// packet that ends it.
fn load_data(rng: &mut Rng, t: &str) -> Vec<Packet> {
    let mut packets = vec![query(&format!(
        "LOAD DATA LOCAL INFILE 'fuzz.csv' INTO TABLE {t} (v)"
    ))];
    let mut seq = 2;
    for _ in 0..rng.range(0, 3) {
        let rows: String = (0..rng.range(1, 5))
            .map(|_| format!("{}\n", rng.below(100)))
            .collect();
        packets.push(Packet {
            seq,
            payload: rows.into_bytes(),
        });
        seq += 1;
    }
    packets.push(Packet {
        seq,
        payload: Vec::new(),
    });
    packets
}

/// The packets as wire bytes.
pub fn frame(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        push_frame(&mut out, p.seq, &p.payload);
    }
    out
}

/// Appends one packet (payloads here are far below 16 MiB) to `out`.
pub fn push_frame(out: &mut Vec<u8>, seq: u8, payload: &[u8]) {
    let n = payload.len() as u32;
    out.extend_from_slice(&n.to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(payload);
}

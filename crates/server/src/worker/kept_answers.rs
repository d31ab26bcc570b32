//! A worker's kept answers to statement texts its sessions answer themselves (session `SET`s,
//! `COMMIT` and `ROLLBACK` with nothing to end; `session/answered_here.rs` says when): each
//! text's OK as a backend gave it, under the primary in force then.
use std::collections::HashMap;

use splitrail_protocol::response::OkPacket;

/// Texts a worker keeps answers for: drivers send a handful, an application a few more.
const MAX_ANSWERS: usize = 64;

/// One worker's answers to statement texts, from the primary in force when they were learned.
#[derive(Debug, Default)]
pub struct KeptAnswers {
    /// The primary (server index) the answers belong to: another primary may be another
    /// server version, so a change of primary forgets them.
    primary: Option<usize>,
    answers: HashMap<Box<[u8]>, OkPacket>,
}

impl KeptAnswers {
    /// The answer kept for `sql`, if it was learned under `primary`.
    pub fn get(&mut self, primary: usize, sql: &[u8]) -> Option<&OkPacket> {
        self.follow(primary);
        self.answers.get(sql)
    }

    /// Keeps `ok` as the answer to `sql` under `primary` (up to [`MAX_ANSWERS`] texts).
    pub fn insert(&mut self, primary: usize, sql: &[u8], ok: OkPacket) {
        self.follow(primary);
        if self.answers.len() < MAX_ANSWERS || self.answers.contains_key(sql) {
            self.answers.insert(sql.into(), ok);
        }
    }

    fn follow(&mut self, primary: usize) {
        if self.primary != Some(primary) {
            self.answers.clear();
            self.primary = Some(primary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_belong_to_the_primary_they_came_from() {
        let mut answers = KeptAnswers::default();
        let ok = OkPacket {
            warnings: 0,
            ..OkPacket::default()
        };
        answers.insert(0, b"SET NAMES utf8mb4", ok.clone());
        assert!(answers.get(0, b"SET NAMES utf8mb4").is_some());
        assert!(answers.get(0, b"SET NAMES latin1").is_none());
        // A failover: the new primary answers for itself.
        assert!(answers.get(1, b"SET NAMES utf8mb4").is_none());
        assert!(answers.get(0, b"SET NAMES utf8mb4").is_none());
        for i in 0..2 * MAX_ANSWERS {
            answers.insert(0, format!("SET NAMES x{i}").as_bytes(), ok.clone());
        }
        assert_eq!(answers.answers.len(), MAX_ANSWERS);
    }
}

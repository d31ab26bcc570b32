//! Collation ids ↔ names ↔ character sets, for the handshake's charset byte,
//! column definitions and `SET NAMES` handling.
//!
//! Only the common collations are listed; an unknown id is not an error anywhere
//! in this crate, it is just not in the table.

/// One row of the collation table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Collation {
    /// The id sent on the wire (1 byte in handshakes, 2 in column definitions).
    pub id: u16,
    /// The collation name, e.g. `utf8mb4_general_ci`.
    pub name: &'static str,
    /// The character set, e.g. `utf8mb4` (`utf8mb3` for what MySQL 5 called `utf8`).
    pub charset: &'static str,
    /// True for the collation `SET NAMES <charset>` picks on MariaDB and MySQL 5.7.
    pub is_default: bool,
}

impl Collation {
    /// The most bytes one character of this collation's character set takes (`mbmaxlen`): a
    /// server announces a text column of N characters as N × this many bytes long.
    pub fn max_bytes_per_char(&self) -> u32 {
        match self.charset {
            "utf8mb4" | "utf16" | "utf16le" | "utf32" | "gb18030" => 4,
            "utf8mb3" | "ujis" | "eucjpms" => 3,
            "ucs2" | "big5" | "gbk" | "gb2312" | "sjis" | "cp932" | "euckr" => 2,
            _ => 1,
        }
    }
}

const fn c(id: u16, name: &'static str, charset: &'static str, is_default: bool) -> Collation {
    Collation {
        id,
        name,
        charset,
        is_default,
    }
}

/// Collation id of `binary`.
pub const BINARY: u16 = 63;
/// Collation id of `utf8mb4_general_ci`, MariaDB's default for `utf8mb4`.
pub const UTF8MB4_GENERAL_CI: u16 = 45;
/// Collation id of `utf8mb4_0900_ai_ci`, MySQL 8's default for `utf8mb4`.
pub const UTF8MB4_0900_AI_CI: u16 = 255;
/// Collation id of `utf8mb3_general_ci` (`utf8_general_ci`).
pub const UTF8MB3_GENERAL_CI: u16 = 33;
/// Collation id of `latin1_swedish_ci`.
pub const LATIN1_SWEDISH_CI: u16 = 8;

/// The table, sorted by id.
pub static COLLATIONS: &[Collation] = &[
    c(1, "big5_chinese_ci", "big5", true),
    c(3, "dec8_swedish_ci", "dec8", true),
    c(4, "cp850_general_ci", "cp850", true),
    c(5, "latin1_german1_ci", "latin1", false),
    c(6, "hp8_english_ci", "hp8", true),
    c(7, "koi8r_general_ci", "koi8r", true),
    c(8, "latin1_swedish_ci", "latin1", true),
    c(9, "latin2_general_ci", "latin2", true),
    c(10, "swe7_swedish_ci", "swe7", true),
    c(11, "ascii_general_ci", "ascii", true),
    c(12, "ujis_japanese_ci", "ujis", true),
    c(13, "sjis_japanese_ci", "sjis", true),
    c(15, "latin1_danish_ci", "latin1", false),
    c(16, "hebrew_general_ci", "hebrew", true),
    c(18, "tis620_thai_ci", "tis620", true),
    c(19, "euckr_korean_ci", "euckr", true),
    c(22, "koi8u_general_ci", "koi8u", true),
    c(24, "gb2312_chinese_ci", "gb2312", true),
    c(25, "greek_general_ci", "greek", true),
    c(26, "cp1250_general_ci", "cp1250", true),
    c(28, "gbk_chinese_ci", "gbk", true),
    c(30, "latin5_turkish_ci", "latin5", true),
    c(31, "latin1_german2_ci", "latin1", false),
    c(32, "armscii8_general_ci", "armscii8", true),
    c(33, "utf8mb3_general_ci", "utf8mb3", true),
    c(35, "ucs2_general_ci", "ucs2", true),
    c(36, "cp866_general_ci", "cp866", true),
    c(37, "keybcs2_general_ci", "keybcs2", true),
    c(38, "macce_general_ci", "macce", true),
    c(39, "macroman_general_ci", "macroman", true),
    c(40, "cp852_general_ci", "cp852", true),
    c(41, "latin7_general_ci", "latin7", true),
    c(45, "utf8mb4_general_ci", "utf8mb4", true),
    c(46, "utf8mb4_bin", "utf8mb4", false),
    c(47, "latin1_bin", "latin1", false),
    c(48, "latin1_general_ci", "latin1", false),
    c(49, "latin1_general_cs", "latin1", false),
    c(51, "cp1251_general_ci", "cp1251", true),
    c(54, "utf16_general_ci", "utf16", true),
    c(56, "utf16le_general_ci", "utf16le", true),
    c(57, "cp1256_general_ci", "cp1256", true),
    c(59, "cp1257_general_ci", "cp1257", true),
    c(60, "utf32_general_ci", "utf32", true),
    c(63, "binary", "binary", true),
    c(65, "ascii_bin", "ascii", false),
    c(83, "utf8mb3_bin", "utf8mb3", false),
    c(92, "geostd8_general_ci", "geostd8", true),
    c(95, "cp932_japanese_ci", "cp932", true),
    c(97, "eucjpms_japanese_ci", "eucjpms", true),
    c(192, "utf8mb3_unicode_ci", "utf8mb3", false),
    c(224, "utf8mb4_unicode_ci", "utf8mb4", false),
    c(246, "utf8mb4_unicode_520_ci", "utf8mb4", false),
    c(248, "gb18030_chinese_ci", "gb18030", true),
    c(255, "utf8mb4_0900_ai_ci", "utf8mb4", false),
    c(309, "utf8mb4_0900_bin", "utf8mb4", false),
];

/// Looks a collation up by id.
pub fn by_id(id: u16) -> Option<&'static Collation> {
    COLLATIONS
        .binary_search_by_key(&id, |c| c.id)
        .ok()
        .and_then(|i| COLLATIONS.get(i))
}

/// `utf8` and `utf8_*` are the old names of `utf8mb3` and its collations.
fn unalias(name: &str) -> std::borrow::Cow<'_, str> {
    let lower = name.to_ascii_lowercase();
    if lower == "utf8" {
        return "utf8mb3".into();
    }
    match lower.strip_prefix("utf8_") {
        Some(rest) => format!("utf8mb3_{rest}").into(),
        None => lower.into(),
    }
}

/// Looks a collation up by name, case-insensitively, accepting `utf8_*` for `utf8mb3_*`.
pub fn by_name(name: &str) -> Option<&'static Collation> {
    let name = unalias(name);
    COLLATIONS.iter().find(|c| c.name == name)
}

/// The collation `SET NAMES <charset>` selects when no `COLLATE` is given, as on
/// MariaDB and MySQL 5.7 (MySQL 8 picks `utf8mb4_0900_ai_ci` for `utf8mb4`).
pub fn default_for_charset(charset: &str) -> Option<&'static Collation> {
    let charset = unalias(charset);
    COLLATIONS
        .iter()
        .find(|c| c.is_default && c.charset == charset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_char_follow_the_character_set() {
        let width = |id| by_id(id).map(Collation::max_bytes_per_char);
        assert_eq!(width(UTF8MB4_GENERAL_CI), Some(4));
        assert_eq!(width(UTF8MB3_GENERAL_CI), Some(3));
        assert_eq!(width(LATIN1_SWEDISH_CI), Some(1));
        assert_eq!(width(BINARY), Some(1));
        assert_eq!(
            by_name("sjis_japanese_ci").map(Collation::max_bytes_per_char),
            Some(2)
        );
    }

    #[test]
    fn table_is_sorted_and_lookups_work() {
        assert!(COLLATIONS.windows(2).all(|w| w[0].id < w[1].id));
        assert_eq!(by_id(45).map(|c| c.name), Some("utf8mb4_general_ci"));
        assert_eq!(by_id(255).map(|c| c.charset), Some("utf8mb4"));
        assert_eq!(by_id(2), None);
        assert_eq!(by_name("UTF8_GENERAL_CI").map(|c| c.id), Some(33));
        assert_eq!(default_for_charset("utf8").map(|c| c.id), Some(33));
        assert_eq!(default_for_charset("utf8mb4").map(|c| c.id), Some(45));
        assert_eq!(default_for_charset("binary").map(|c| c.id), Some(BINARY));
    }
}

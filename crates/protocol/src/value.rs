//! Column types and the binary protocol's value encoding, shared by binary
//! result rows, COM_STMT_EXECUTE parameters and query attributes.

use bytes::{BufMut, BytesMut};

use crate::error::{Error, Result};
use crate::wire::{Reader, WriteExt};

macro_rules! column_types {
    ($($(#[$doc:meta])* $name:ident = $v:expr,)*) => {
        /// A column or parameter type (`enum_field_types`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum ColumnType {
            $($(#[$doc])* $name,)*
            /// A type byte this crate does not know; kept so nothing is lost.
            Unknown(u8),
        }

        impl ColumnType {
            /// The type from its wire byte.
            pub fn from_u8(v: u8) -> Self {
                match v {
                    $($v => Self::$name,)*
                    other => Self::Unknown(other),
                }
            }

            /// The wire byte.
            pub fn as_u8(self) -> u8 {
                match self {
                    $(Self::$name => $v,)*
                    Self::Unknown(v) => v,
                }
            }
        }
    };
}

column_types! {
    /// DECIMAL (old).
    Decimal = 0,
    /// TINYINT.
    Tiny = 1,
    /// SMALLINT.
    Short = 2,
    /// INT.
    Long = 3,
    /// FLOAT.
    Float = 4,
    /// DOUBLE.
    Double = 5,
    /// NULL (a parameter bound to NULL).
    Null = 6,
    /// TIMESTAMP.
    Timestamp = 7,
    /// BIGINT.
    LongLong = 8,
    /// MEDIUMINT.
    Int24 = 9,
    /// DATE.
    Date = 10,
    /// TIME.
    Time = 11,
    /// DATETIME.
    DateTime = 12,
    /// YEAR.
    Year = 13,
    /// Internal date type.
    NewDate = 14,
    /// VARCHAR.
    VarChar = 15,
    /// BIT.
    Bit = 16,
    /// Internal TIMESTAMP with fractional seconds.
    Timestamp2 = 17,
    /// Internal DATETIME with fractional seconds.
    DateTime2 = 18,
    /// Internal TIME with fractional seconds.
    Time2 = 19,
    /// MySQL 9 VECTOR.
    Vector = 242,
    /// JSON (MySQL; MariaDB sends JSON as a BLOB with extended type info).
    Json = 245,
    /// DECIMAL.
    NewDecimal = 246,
    /// ENUM.
    Enum = 247,
    /// SET.
    Set = 248,
    /// TINYBLOB / TINYTEXT.
    TinyBlob = 249,
    /// MEDIUMBLOB / MEDIUMTEXT.
    MediumBlob = 250,
    /// LONGBLOB / LONGTEXT.
    LongBlob = 251,
    /// BLOB / TEXT.
    Blob = 252,
    /// VARCHAR / VARBINARY (the default, used for columns the proxy builds).
    #[default]
    VarString = 253,
    /// CHAR / BINARY.
    String = 254,
    /// GEOMETRY.
    Geometry = 255,
}

/// One value in the binary protocol, borrowing string data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// SQL NULL.
    Null,
    /// A signed integer (TINY/SHORT/INT24/LONG/LONGLONG/YEAR without UNSIGNED).
    Int(i64),
    /// An unsigned integer (the same types with UNSIGNED).
    UInt(u64),
    /// FLOAT.
    Float(f32),
    /// DOUBLE.
    Double(f64),
    /// Strings, blobs, decimals, JSON, BIT, ENUM, SET, GEOMETRY: raw bytes.
    Bytes(&'a [u8]),
    /// DATE, DATETIME, TIMESTAMP.
    Date {
        /// Year.
        year: u16,
        /// Month (1–12, 0 for zero dates).
        month: u8,
        /// Day.
        day: u8,
        /// Hour.
        hour: u8,
        /// Minute.
        minute: u8,
        /// Second.
        second: u8,
        /// Microseconds.
        micros: u32,
    },
    /// TIME.
    Time {
        /// True for a negative interval.
        negative: bool,
        /// Days.
        days: u32,
        /// Hours.
        hours: u8,
        /// Minutes.
        minutes: u8,
        /// Seconds.
        seconds: u8,
        /// Microseconds.
        micros: u32,
    },
}

fn sign(v: u64, bits: u32, unsigned: bool) -> Value<'static> {
    if unsigned {
        Value::UInt(v)
    } else {
        let shift = 64 - bits;
        Value::Int(((v << shift) as i64) >> shift)
    }
}

impl<'a> Value<'a> {
    /// Reads one non-NULL value of type `ty` (NULLs live in the null bitmap).
    pub(crate) fn read(r: &mut Reader<'a>, ty: ColumnType, unsigned: bool) -> Result<Self> {
        use ColumnType as T;
        Ok(match ty {
            T::Null => Value::Null,
            T::Tiny => sign(u64::from(r.u8()?), 8, unsigned),
            T::Short | T::Year => sign(u64::from(r.u16()?), 16, unsigned),
            T::Long | T::Int24 => sign(u64::from(r.u32()?), 32, unsigned),
            T::LongLong => sign(r.u64()?, 64, unsigned),
            T::Float => Value::Float(f32::from_bits(r.u32()?)),
            T::Double => Value::Double(f64::from_bits(r.u64()?)),
            T::Date | T::DateTime | T::Timestamp | T::NewDate | T::DateTime2 | T::Timestamp2 => {
                let d: [u8; 11] = read_temporal(r, &[0, 4, 7, 11], "binary date length")?;
                Value::Date {
                    year: u16::from_le_bytes([d[0], d[1]]),
                    month: d[2],
                    day: d[3],
                    hour: d[4],
                    minute: d[5],
                    second: d[6],
                    micros: u32::from_le_bytes([d[7], d[8], d[9], d[10]]),
                }
            }
            T::Time | T::Time2 => {
                let d: [u8; 12] = read_temporal(r, &[0, 8, 12], "binary time length")?;
                Value::Time {
                    negative: d[0] != 0,
                    days: u32::from_le_bytes([d[1], d[2], d[3], d[4]]),
                    hours: d[5],
                    minutes: d[6],
                    seconds: d[7],
                    micros: u32::from_le_bytes([d[8], d[9], d[10], d[11]]),
                }
            }
            _ => Value::Bytes(r.lenenc_bytes()?),
        })
    }

    /// The type a parameter carrying this value is declared with, and whether
    /// it is unsigned.
    pub fn column_type(&self) -> (ColumnType, bool) {
        match self {
            Value::Null => (ColumnType::Null, false),
            Value::Int(_) => (ColumnType::LongLong, false),
            Value::UInt(_) => (ColumnType::LongLong, true),
            Value::Float(_) => (ColumnType::Float, false),
            Value::Double(_) => (ColumnType::Double, false),
            Value::Bytes(_) => (ColumnType::VarString, false),
            Value::Date { .. } => (ColumnType::DateTime, false),
            Value::Time { .. } => (ColumnType::Time, false),
        }
    }

    /// Appends the binary encoding of a value to `dst` as its own
    /// [`Value::column_type`] (NULL writes nothing).
    pub fn write(&self, dst: &mut BytesMut) {
        match *self {
            Value::Null => {}
            Value::Int(v) => dst.put_i64_le(v),
            Value::UInt(v) => dst.put_u64_le(v),
            Value::Float(v) => dst.put_f32_le(v),
            Value::Double(v) => dst.put_f64_le(v),
            Value::Bytes(b) => dst.put_lenenc_bytes(b),
            Value::Date {
                year,
                month,
                day,
                hour,
                minute,
                second,
                micros,
            } => {
                dst.put_u8(11);
                dst.put_u16_le(year);
                dst.put_slice(&[month, day, hour, minute, second]);
                dst.put_u32_le(micros);
            }
            Value::Time {
                negative,
                days,
                hours,
                minutes,
                seconds,
                micros,
            } => {
                dst.put_u8(12);
                dst.put_u8(u8::from(negative));
                dst.put_u32_le(days);
                dst.put_slice(&[hours, minutes, seconds]);
                dst.put_u32_le(micros);
            }
        }
    }
}

/// Reads a length-prefixed temporal value into a zero-padded array; the
/// short forms leave the later fields zero.
fn read_temporal<const N: usize>(
    r: &mut Reader<'_>,
    allowed: &[u8],
    what: &'static str,
) -> Result<[u8; N]> {
    let len = r.u8()?;
    let body = r.bytes(usize::from(len))?;
    let mut d = [0u8; N];
    match d.get_mut(..body.len()) {
        Some(dst) if allowed.contains(&len) => dst.copy_from_slice(body),
        _ => {
            return Err(Error::InvalidValue {
                what,
                value: u64::from(len),
            });
        }
    }
    Ok(d)
}

/// Reads a null bitmap of `n` entries starting `offset` bits in (2 for
/// binary rows, 0 for parameters).
pub(crate) fn null_bitmap<'a>(r: &mut Reader<'a>, n: usize, offset: usize) -> Result<&'a [u8]> {
    r.bytes(n.saturating_add(offset).saturating_add(7) / 8)
}

/// True when entry `i` of a null bitmap is set.
pub(crate) fn is_null(bitmap: &[u8], i: usize, offset: usize) -> bool {
    let bit = i + offset;
    bitmap
        .get(bit / 8)
        .is_some_and(|b| b & (1 << (bit % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_type_bytes_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(ColumnType::from_u8(b).as_u8(), b);
        }
    }

    #[test]
    fn signed_values() {
        let mut r = Reader::new(&[0xFF]);
        assert_eq!(
            Value::read(&mut r, ColumnType::Tiny, false),
            Ok(Value::Int(-1))
        );
        let mut r = Reader::new(&[0xFF]);
        assert_eq!(
            Value::read(&mut r, ColumnType::Tiny, true),
            Ok(Value::UInt(255))
        );
    }

    #[test]
    fn short_date_forms() {
        let mut r = Reader::new(&[4, 0xE8, 0x07, 2, 29]);
        assert_eq!(
            Value::read(&mut r, ColumnType::Date, false),
            Ok(Value::Date {
                year: 2024,
                month: 2,
                day: 29,
                hour: 0,
                minute: 0,
                second: 0,
                micros: 0
            })
        );
        let mut r = Reader::new(&[5, 0, 0, 0, 0, 0]);
        assert!(Value::read(&mut r, ColumnType::Date, false).is_err());
    }
}

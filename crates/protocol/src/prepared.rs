//! Prepared-statement packets: the COM_STMT_PREPARE OK response and the
//! parameters of COM_STMT_EXECUTE.
//!
//! COM_STMT_EXECUTE does not say how many parameters it carries; only the
//! statement does. So [`StmtExecute`] keeps its parameter block raw, and the
//! caller, who remembers the statement's parameter count (from
//! [`StmtPrepareOk::num_params`]) and the types last bound, decodes it with
//! [`StmtExecute::params`].

use bitflags::bitflags;
use bytes::{BufMut, BytesMut};

use crate::command::code;
use crate::error::{Error, Result};
use crate::flags::CapabilityFlags;
use crate::value::{ColumnType, Value, is_null, null_bitmap};
use crate::wire::Reader;

bitflags! {
    /// The flags byte of COM_STMT_EXECUTE.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct CursorFlags: u8 {
        /// Open a read-only cursor; rows come with COM_STMT_FETCH.
        const READ_ONLY = 1;
        /// Cursor for update (not implemented by servers).
        const FOR_UPDATE = 1 << 1;
        /// Scrollable cursor (not implemented by servers).
        const SCROLLABLE = 1 << 2;
        /// MySQL 8 with query attributes: the parameter count is sent explicitly.
        const PARAMETER_COUNT_AVAILABLE = 1 << 3;
    }
}

/// A parameter's declared type: the type byte and the unsigned flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamType {
    /// The column type.
    pub ty: ColumnType,
    /// True when the parameter is unsigned (flag byte 0x80).
    pub unsigned: bool,
}

/// COM_STMT_EXECUTE, with the parameter block kept raw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StmtExecute<'a> {
    /// Statement id from COM_STMT_PREPARE.
    pub statement_id: u32,
    /// Cursor flags.
    pub flags: CursorFlags,
    /// Always 1.
    pub iteration_count: u32,
    /// Null bitmap, bind flag, types and values, undecoded.
    pub params: &'a [u8],
}

/// The parts of a COM_STMT_EXECUTE parameter block for a statement with a known parameter
/// count (no query attributes), undecoded: what a proxy needs to send the same execution to
/// another connection's statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamBlock<'a> {
    /// The NULL bitmap (`(n + 7) / 8` bytes; empty without parameters).
    pub null_bitmap: &'a [u8],
    /// The `new_params_bound_flag` byte; `None` without parameters (the packet has none).
    pub bound_flag: Option<u8>,
    /// Two bytes a parameter (type, flags), when the flag is 1.
    pub types: Option<&'a [u8]>,
    /// The rest: the values (for a statement without parameters, whatever follows the header).
    pub values: &'a [u8],
}

/// Decoded COM_STMT_EXECUTE parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecuteParams<'a> {
    /// True when the packet carried types (`new_params_bound_flag`); when false
    /// the types are those of the previous execution.
    pub new_types: bool,
    /// One type per parameter.
    pub types: Vec<ParamType>,
    /// Parameter names (MySQL 8 with query attributes); empty otherwise.
    pub names: Vec<&'a [u8]>,
    /// One value per parameter; [`Value::Null`] for NULLs. A parameter sent
    /// with COM_STMT_SEND_LONG_DATA appears here as an empty value.
    pub values: Vec<Value<'a>>,
}

impl<'a> StmtExecute<'a> {
    /// Decodes the body after the 0x17 command byte.
    pub fn decode_body(body: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        Ok(Self {
            statement_id: r.u32()?,
            flags: CursorFlags::from_bits_retain(r.u8()?),
            iteration_count: r.u32()?,
            params: r.rest(),
        })
    }

    /// Appends the body (after the command byte) to `dst`.
    pub fn encode_body(&self, dst: &mut BytesMut) {
        dst.put_u32_le(self.statement_id);
        dst.put_u8(self.flags.bits());
        dst.put_u32_le(self.iteration_count);
        dst.put_slice(self.params);
    }

    /// Splits the parameter block for a statement with `param_count` parameters; an error when
    /// it is shorter than those need (a bitmap, a flag, and the types the flag announces).
    pub fn param_block(&self, param_count: u16) -> Result<ParamBlock<'a>> {
        let n = usize::from(param_count);
        if n == 0 {
            return Ok(ParamBlock {
                null_bitmap: &[],
                bound_flag: None,
                types: None,
                values: self.params,
            });
        }
        let mut r = Reader::new(self.params);
        let null_bitmap = r.bytes(n.div_ceil(8))?;
        let flag = r.u8()?;
        let types = if flag == 1 {
            Some(r.bytes(2 * n)?)
        } else {
            None
        };
        Ok(ParamBlock {
            null_bitmap,
            bound_flag: Some(flag),
            types,
            values: r.rest(),
        })
    }

    /// Appends this execution as a whole COM_STMT_EXECUTE payload (command byte first) for
    /// statement `statement_id`, with `block` (from [`StmtExecute::param_block`]) as it is, or
    /// with `types` bound when the block binds none. Returns whether the payload binds types.
    pub fn encode_rebound(
        &self,
        statement_id: u32,
        block: &ParamBlock<'_>,
        types: Option<&[u8]>,
        dst: &mut BytesMut,
    ) -> bool {
        dst.put_u8(code::STMT_EXECUTE);
        dst.put_u32_le(statement_id);
        dst.put_u8(self.flags.bits());
        dst.put_u32_le(self.iteration_count);
        dst.put_slice(block.null_bitmap);
        let Some(flag) = block.bound_flag else {
            dst.put_slice(block.values);
            return false;
        };
        let sent = match (block.types, types) {
            (Some(own), _) => {
                dst.put_u8(flag);
                dst.put_slice(own);
                true
            }
            (None, Some(types)) => {
                dst.put_u8(1);
                dst.put_slice(types);
                true
            }
            (None, None) => {
                dst.put_u8(flag);
                false
            }
        };
        dst.put_slice(block.values);
        sent
    }

    /// Decodes the parameter block.
    ///
    /// `param_count` is the statement's parameter count; `previous` the types
    /// bound by the last execution of this statement, used when the packet
    /// does not re-send them.
    pub fn params(
        &self,
        param_count: usize,
        previous: &[ParamType],
        caps: CapabilityFlags,
    ) -> Result<ExecuteParams<'a>> {
        let mut r = Reader::new(self.params);
        let mut n = param_count;
        let with_names = caps.contains(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES);
        if with_names && self.flags.contains(CursorFlags::PARAMETER_COUNT_AVAILABLE) {
            n = r.lenenc_len()?;
        }
        let mut out = ExecuteParams {
            new_types: false,
            types: Vec::new(),
            names: Vec::new(),
            values: Vec::new(),
        };
        if n == 0 {
            return Ok(out);
        }
        // Each parameter costs at least one bitmap bit; cap before allocating.
        if n / 8 > r.remaining() {
            return Err(Error::Truncated {
                need: n / 8,
                have: r.remaining(),
            });
        }
        let bitmap = null_bitmap(&mut r, n, 0)?;
        out.new_types = r.u8()? == 1;
        if out.new_types {
            for _ in 0..n {
                let ty = ColumnType::from_u8(r.u8()?);
                let unsigned = r.u8()? & 0x80 != 0;
                out.types.push(ParamType { ty, unsigned });
                if with_names {
                    out.names.push(r.lenenc_bytes()?);
                }
            }
        } else {
            match previous.get(..n) {
                Some(t) => out.types.extend_from_slice(t),
                None => {
                    return Err(Error::InvalidValue {
                        what: "parameter types (none bound yet)",
                        value: n as u64,
                    });
                }
            }
        }
        for (i, t) in out.types.iter().enumerate() {
            let v = if is_null(bitmap, i, 0) {
                Value::Null
            } else if r.is_empty() {
                // Sent with COM_STMT_SEND_LONG_DATA.
                Value::Bytes(&[])
            } else {
                Value::read(&mut r, t.ty, t.unsigned)?
            };
            out.values.push(v);
        }
        Ok(out)
    }

    /// Builds a whole COM_STMT_EXECUTE payload (client role) binding `values`
    /// with their own types ([`Value::column_type`]).
    pub fn encode_with_values(
        statement_id: u32,
        flags: CursorFlags,
        values: &[Value<'_>],
        dst: &mut BytesMut,
    ) {
        dst.put_u8(code::STMT_EXECUTE);
        dst.put_u32_le(statement_id);
        dst.put_u8(flags.bits());
        dst.put_u32_le(1);
        if values.is_empty() {
            return;
        }
        let mut bitmap = vec![0u8; values.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if *v == Value::Null
                && let Some(b) = bitmap.get_mut(i / 8)
            {
                *b |= 1 << (i % 8);
            }
        }
        dst.put_slice(&bitmap);
        dst.put_u8(1);
        for v in values {
            let (ty, unsigned) = v.column_type();
            dst.put_u8(ty.as_u8());
            dst.put_u8(if unsigned { 0x80 } else { 0 });
        }
        for v in values {
            v.write(dst);
        }
    }
}

/// The first packet of a successful COM_STMT_PREPARE response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StmtPrepareOk {
    /// Statement id for COM_STMT_EXECUTE and friends.
    pub statement_id: u32,
    /// Number of result columns (column definitions follow the parameters).
    pub num_columns: u16,
    /// Number of `?` parameters.
    pub num_params: u16,
    /// Warnings raised by the prepare.
    pub warnings: u16,
    /// MySQL 8 with CLIENT_OPTIONAL_RESULTSET_METADATA: whether definitions follow.
    pub metadata_follows: Option<bool>,
}

impl StmtPrepareOk {
    /// Decodes the payload (first byte 0x00).
    pub fn decode(payload: &[u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let h = r.u8()?;
        if h != 0 {
            return Err(Error::UnexpectedHeader {
                what: "COM_STMT_PREPARE OK",
                byte: h,
            });
        }
        let statement_id = r.u32()?;
        let num_columns = r.u16()?;
        let num_params = r.u16()?;
        let mut ok = Self {
            statement_id,
            num_columns,
            num_params,
            warnings: 0,
            metadata_follows: None,
        };
        if r.is_empty() {
            return Ok(ok);
        }
        r.u8()?; // reserved
        ok.warnings = r.u16()?;
        if let Some(b) = r.peek() {
            ok.metadata_follows = Some(b != 0);
        }
        Ok(ok)
    }

    /// Appends the payload to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_u8(0);
        dst.put_u32_le(self.statement_id);
        dst.put_u16_le(self.num_columns);
        dst.put_u16_le(self.num_params);
        dst.put_u8(0);
        dst.put_u16_le(self.warnings);
        if let Some(m) = self.metadata_follows {
            dst.put_u8(u8::from(m));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execute(payload: &[u8]) -> StmtExecute<'_> {
        assert_eq!(payload[0], code::STMT_EXECUTE);
        StmtExecute::decode_body(&payload[1..]).unwrap()
    }

    #[test]
    fn rebinding_swaps_the_id_and_adds_missing_types() {
        // id 7, flags 0, iterations 1, one param: bitmap 0, bound 0, value 0x2a (tiny).
        let payload = [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a];
        let exec = execute(&payload);
        let block = exec.param_block(1).unwrap();
        assert_eq!(block.types, None);
        let mut out = BytesMut::new();
        assert!(exec.encode_rebound(99, &block, Some(&[1, 0]), &mut out));
        assert_eq!(
            &out[..],
            &[0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0x2a]
        );
        let mut out = BytesMut::new();
        assert!(!exec.encode_rebound(99, &block, None, &mut out));
        assert_eq!(&out[..], &[0x17, 99, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x2a]);
    }

    #[test]
    fn own_types_are_kept_and_statements_without_parameters_pass_whole() {
        // Two params bound with types (long, long), values 5 and 6.
        let mut payload = vec![0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 3, 0];
        payload.extend_from_slice(&[5, 0, 0, 0, 6, 0, 0, 0]);
        let exec = execute(&payload);
        let block = exec.param_block(2).unwrap();
        assert_eq!(block.types, Some(&[3, 0, 3, 0][..]));
        let mut out = BytesMut::new();
        assert!(exec.encode_rebound(1, &block, Some(&[8, 0, 8, 0]), &mut out));
        assert_eq!(&out[..], &payload[..], "the packet's own types win");
        let bare = [0x17, 4, 0, 0, 0, 0, 1, 0, 0, 0];
        let exec = execute(&bare);
        let block = exec.param_block(0).unwrap();
        let mut out = BytesMut::new();
        assert!(!exec.encode_rebound(9, &block, None, &mut out));
        assert_eq!(&out[..], &[0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn truncated_parameter_blocks_are_errors() {
        assert!(StmtExecute::decode_body(&[1, 0]).is_err());
        // No room for the bound flag of one parameter.
        assert!(
            execute(&[0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0])
                .param_block(1)
                .is_err()
        );
        // The bound flag says types follow, but they do not.
        let payload = [0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3];
        assert!(execute(&payload).param_block(2).is_err());
    }

    #[test]
    fn execute_params_round_trip() {
        let values = [Value::Int(-5), Value::Null, Value::Bytes(b"abc")];
        let mut b = BytesMut::new();
        StmtExecute::encode_with_values(7, CursorFlags::empty(), &values, &mut b);
        let exec = StmtExecute::decode_body(&b[1..]).unwrap();
        assert_eq!(exec.statement_id, 7);
        let p = exec.params(3, &[], CapabilityFlags::empty()).unwrap();
        assert_eq!(p.values, values);
        assert!(exec.params(3000, &[], CapabilityFlags::empty()).is_err());
    }

    #[test]
    fn previous_types_are_needed_without_bind_flag() {
        let body = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00, 42];
        let exec = StmtExecute::decode_body(&body).unwrap();
        assert!(exec.params(1, &[], CapabilityFlags::empty()).is_err());
        let prev = [ParamType {
            ty: ColumnType::Tiny,
            unsigned: false,
        }];
        let p = exec.params(1, &prev, CapabilityFlags::empty()).unwrap();
        assert_eq!(p.values, [Value::Int(42)]);
    }
}

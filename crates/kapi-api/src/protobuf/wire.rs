//! The protobuf wire format: tags, varints and length-delimited payloads, without panics.

/// One field value as it appears on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, map entries and packed scalars.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number, for error messages.
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// Iterates over the fields of one encoded message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Whether all input has been consumed.
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next (field number, value), or `None` at the end of the message.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, &'static str> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let num = tag >> 3;
        if num == 0 || num > (1 << 29) - 1 {
            return Err("invalid field number");
        }
        let value = match tag & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.take_array::<8>()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                WireValue::Bytes(self.take(len)?)
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.take_array::<4>()?)),
            3 | 4 => return Err("groups are not supported"),
            _ => return Err("invalid wire type"),
        };
        // `num` fits in 29 bits, checked above.
        Ok(Some((num as u32, value)))
    }

    /// A base-128 varint of at most ten bytes.
    pub(crate) fn varint(&mut self) -> Result<u64, &'static str> {
        let mut value = 0u64;
        for i in 0..10 {
            let (&byte, rest) = self.buf.split_first().ok_or("truncated varint")?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than ten bytes")
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        if len > self.buf.len() {
            return Err("length-delimited field runs past the end of its message");
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        let bytes = self.take(N).map_err(|_| "truncated fixed-width field")?;
        <[u8; N]>::try_from(bytes).map_err(|_| "truncated fixed-width field")
    }
}

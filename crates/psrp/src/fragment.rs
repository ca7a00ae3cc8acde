//! PSRP fragments ([MS-PSRP] 2.2.4): how a message is cut to fit the transport and put
//! back together.
//!
//! A fragment is `ObjectId` (u64, big-endian), `FragmentId` (u64, big-endian, from 0 per
//! object), one flags byte (`S` = 0x1 first fragment, `E` = 0x2 last fragment),
//! `BlobLength` (u32, big-endian) and the blob. WinRM carries several fragments back to
//! back in one `rsp:Stream` or `creationXml`; [`Fragment::decode_prefix`] reads one off the
//! front of such a buffer, and [`Defragmenter`] reassembles messages per object id, with
//! the caller's limits on message size and on how many objects may be half-received.

use std::collections::BTreeMap;

/// Bytes in a fragment header: object id, fragment id, flags and blob length.
pub const HEADER_LEN: usize = 8 + 8 + 1 + 4;

/// The `S` (start) flag: the first fragment of an object.
pub const FLAG_START: u8 = 0x1;
/// The `E` (end) flag: the last fragment of an object.
pub const FLAG_END: u8 = 0x2;

/// One fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The object (message) this fragment belongs to; unique per sender and session.
    pub object_id: u64,
    /// The fragment's position within its object, from 0.
    pub fragment_id: u64,
    /// `S`: this fragment starts the object.
    pub start: bool,
    /// `E`: this fragment ends the object.
    pub end: bool,
    /// The piece of the message this fragment carries.
    pub blob: Vec<u8>,
}

/// A fragment that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// Fewer bytes than a fragment header: more bytes are needed (or the stream was cut).
    #[error("need {needed} more byte(s) for a fragment header ({HEADER_LEN} bytes)")]
    ShortHeader {
        /// How many more bytes would complete the header.
        needed: usize,
    },
    /// `BlobLength` runs past the end of the data.
    #[error(
        "fragment {fragment_id} of object {object_id} declares a {declared}-byte blob but only {available} byte(s) follow"
    )]
    BlobPastEnd {
        /// The fragment's object id.
        object_id: u64,
        /// The fragment's id.
        fragment_id: u64,
        /// The `BlobLength` field.
        declared: u32,
        /// The bytes present after the header.
        available: usize,
    },
    /// Flag bits other than `S` and `E` are set (the specification reserves them as 0).
    #[error("fragment {fragment_id} of object {object_id} sets reserved flag bits: {flags:#04x}")]
    ReservedFlags {
        /// The fragment's object id.
        object_id: u64,
        /// The fragment's id.
        fragment_id: u64,
        /// The whole flags byte.
        flags: u8,
    },
    /// [`Fragment::decode`] was given more than one fragment.
    #[error("{count} byte(s) after the fragment")]
    TrailingBytes {
        /// How many bytes follow the fragment.
        count: usize,
    },
    /// [`split`] was asked for fragments too small to carry a header and one byte.
    #[error("a maximum fragment size of {max} cannot hold the {HEADER_LEN}-byte header and data")]
    MaxTooSmall {
        /// The size asked for.
        max: usize,
    },
    /// A blob longer than `BlobLength` (u32) can say.
    #[error("a {len}-byte blob does not fit the 32-bit BlobLength field")]
    BlobTooLong {
        /// The blob's length.
        len: usize,
    },
}

impl Fragment {
    /// Appends the fragment's wire form to `out`.
    ///
    /// # Errors
    /// [`FragmentError::BlobTooLong`] when the blob is 4 GiB or more.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), FragmentError> {
        let len = u32::try_from(self.blob.len()).map_err(|_| FragmentError::BlobTooLong {
            len: self.blob.len(),
        })?;
        out.reserve(HEADER_LEN + self.blob.len());
        out.extend_from_slice(&self.object_id.to_be_bytes());
        out.extend_from_slice(&self.fragment_id.to_be_bytes());
        out.push(self.flags());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.blob);
        Ok(())
    }

    /// The flags byte.
    pub fn flags(&self) -> u8 {
        (if self.start { FLAG_START } else { 0 }) | (if self.end { FLAG_END } else { 0 })
    }

    /// Reads exactly one fragment; bytes after it are an error.
    ///
    /// # Errors
    /// As [`Fragment::decode_prefix`], plus [`FragmentError::TrailingBytes`].
    pub fn decode(input: &[u8]) -> Result<Fragment, FragmentError> {
        let (f, rest) = Fragment::decode_prefix(input)?;
        if rest.is_empty() {
            Ok(f)
        } else {
            Err(FragmentError::TrailingBytes { count: rest.len() })
        }
    }

    /// Reads one fragment off the front of `input` and returns it with the bytes after it.
    ///
    /// # Errors
    /// [`FragmentError::ShortHeader`], [`FragmentError::BlobPastEnd`],
    /// [`FragmentError::ReservedFlags`].
    pub fn decode_prefix(input: &[u8]) -> Result<(Fragment, &[u8]), FragmentError> {
        let Some((header, rest)) = input.split_first_chunk::<HEADER_LEN>() else {
            return Err(FragmentError::ShortHeader {
                needed: HEADER_LEN - input.len(),
            });
        };
        let object_id = u64::from_be_bytes(header[0..8].try_into().unwrap_or_default());
        let fragment_id = u64::from_be_bytes(header[8..16].try_into().unwrap_or_default());
        let flags = header[16];
        let declared = u32::from_be_bytes(header[17..21].try_into().unwrap_or_default());
        if flags & !(FLAG_START | FLAG_END) != 0 {
            return Err(FragmentError::ReservedFlags {
                object_id,
                fragment_id,
                flags,
            });
        }
        let len = declared as usize;
        if rest.len() < len {
            return Err(FragmentError::BlobPastEnd {
                object_id,
                fragment_id,
                declared,
                available: rest.len(),
            });
        }
        let (blob, rest) = rest.split_at(len);
        Ok((
            Fragment {
                object_id,
                fragment_id,
                start: flags & FLAG_START != 0,
                end: flags & FLAG_END != 0,
                blob: blob.to_vec(),
            },
            rest,
        ))
    }
}

/// Cuts `message` into fragments of object `object_id`, each at most
/// `max_fragment_len` bytes on the wire (header included). An empty message is one
/// fragment with an empty blob and both flags.
///
/// # Errors
/// [`FragmentError::MaxTooSmall`] when `max_fragment_len` is not above [`HEADER_LEN`].
pub fn split(
    object_id: u64,
    message: &[u8],
    max_fragment_len: usize,
) -> Result<Vec<Fragment>, FragmentError> {
    let room = max_fragment_len
        .checked_sub(HEADER_LEN)
        .filter(|r| *r > 0)
        .ok_or(FragmentError::MaxTooSmall {
            max: max_fragment_len,
        })?;
    // u32::MAX caps what BlobLength can say, whatever the caller allows.
    let room = room.min(u32::MAX as usize);
    if message.is_empty() {
        return Ok(vec![Fragment {
            object_id,
            fragment_id: 0,
            start: true,
            end: true,
            blob: Vec::new(),
        }]);
    }
    let count = message.len().div_ceil(room);
    Ok(message
        .chunks(room)
        .enumerate()
        .map(|(i, chunk)| Fragment {
            object_id,
            fragment_id: i as u64,
            start: i == 0,
            end: i + 1 == count,
            blob: chunk.to_vec(),
        })
        .collect())
}

/// [`split`], then every fragment's wire form, back to back.
///
/// # Errors
/// As [`split`].
pub fn split_encoded(
    object_id: u64,
    message: &[u8],
    max_fragment_len: usize,
) -> Result<Vec<u8>, FragmentError> {
    let mut out = Vec::with_capacity(message.len() + HEADER_LEN);
    for f in split(object_id, message, max_fragment_len)? {
        f.encode(&mut out)?;
    }
    Ok(out)
}

/// Bounds on what a [`Defragmenter`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest reassembled message, in bytes.
    pub max_message_len: usize,
    /// How many objects may be started and not yet ended at once.
    pub max_in_flight: usize,
}

impl Default for Limits {
    /// 64 MiB per message (far above WinRM's default 500 KiB envelope, below what
    /// would hurt) and 64 objects in flight.
    fn default() -> Limits {
        Limits {
            max_message_len: 64 << 20,
            max_in_flight: 64,
        }
    }
}

/// Why a fragment cannot be taken. The object it belongs to is forgotten (a later
/// fragment of it is then a [`DefragError::MissingStart`]); other objects are not
/// affected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefragError {
    /// The bytes are not a fragment.
    #[error(transparent)]
    Frame(#[from] FragmentError),
    /// The first fragment seen for an object has no `S` flag.
    #[error("fragment {fragment_id} of object {object_id} arrived without the object's start")]
    MissingStart {
        /// The object id.
        object_id: u64,
        /// The fragment's id.
        fragment_id: u64,
    },
    /// A start fragment whose id is not 0.
    #[error("object {object_id} starts at fragment {fragment_id}, not 0")]
    StartNotZero {
        /// The object id.
        object_id: u64,
        /// The fragment's id.
        fragment_id: u64,
    },
    /// A second start for an object already being received.
    #[error("object {object_id} started again while its fragment {expected} was awaited")]
    Restarted {
        /// The object id.
        object_id: u64,
        /// The fragment id that was due.
        expected: u64,
    },
    /// A fragment out of order (or repeated, or skipped ahead).
    #[error("object {object_id}: fragment {got} arrived where fragment {expected} was due")]
    OutOfOrder {
        /// The object id.
        object_id: u64,
        /// The fragment id that was due.
        expected: u64,
        /// The fragment id that came.
        got: u64,
    },
    /// The reassembled message would pass [`Limits::max_message_len`].
    #[error("object {object_id} grows past the {limit}-byte message limit")]
    TooLarge {
        /// The object id.
        object_id: u64,
        /// The limit.
        limit: usize,
    },
    /// A new object while [`Limits::max_in_flight`] are already half-received.
    #[error("object {object_id} would be more than {limit} objects in flight")]
    TooManyInFlight {
        /// The object id refused.
        object_id: u64,
        /// The limit.
        limit: usize,
    },
}

#[derive(Debug)]
struct Partial {
    next_fragment: u64,
    data: Vec<u8>,
}

/// Reassembles messages from fragments, per object id, in order.
#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: Limits,
    partial: BTreeMap<u64, Partial>,
}

impl Defragmenter {
    /// A defragmenter with the given limits.
    pub fn new(limits: Limits) -> Defragmenter {
        Defragmenter {
            limits,
            partial: BTreeMap::new(),
        }
    }

    /// How many objects are started and not yet complete.
    pub fn in_flight(&self) -> usize {
        self.partial.len()
    }

    /// Takes one fragment; returns the whole message when this fragment ends it.
    ///
    /// # Errors
    /// See [`DefragError`]; on error the fragment's object is dropped.
    pub fn push(&mut self, fragment: Fragment) -> Result<Option<Vec<u8>>, DefragError> {
        let Fragment {
            object_id,
            fragment_id,
            start,
            end,
            blob,
        } = fragment;
        let limit = self.limits.max_message_len;
        if start {
            if let Some(p) = self.partial.remove(&object_id) {
                return Err(DefragError::Restarted {
                    object_id,
                    expected: p.next_fragment,
                });
            }
            if fragment_id != 0 {
                return Err(DefragError::StartNotZero {
                    object_id,
                    fragment_id,
                });
            }
            if blob.len() > limit {
                return Err(DefragError::TooLarge { object_id, limit });
            }
            if end {
                return Ok(Some(blob));
            }
            if self.partial.len() >= self.limits.max_in_flight {
                return Err(DefragError::TooManyInFlight {
                    object_id,
                    limit: self.limits.max_in_flight,
                });
            }
            self.partial.insert(
                object_id,
                Partial {
                    next_fragment: 1,
                    data: blob,
                },
            );
            return Ok(None);
        }
        let Some(mut p) = self.partial.remove(&object_id) else {
            return Err(DefragError::MissingStart {
                object_id,
                fragment_id,
            });
        };
        if fragment_id != p.next_fragment {
            return Err(DefragError::OutOfOrder {
                object_id,
                expected: p.next_fragment,
                got: fragment_id,
            });
        }
        if p.data.len().saturating_add(blob.len()) > limit {
            return Err(DefragError::TooLarge { object_id, limit });
        }
        p.data.extend_from_slice(&blob);
        if end {
            return Ok(Some(p.data));
        }
        // A fragment id of u64::MAX without the end flag can never be followed.
        let Some(next) = fragment_id.checked_add(1) else {
            return Err(DefragError::OutOfOrder {
                object_id,
                expected: fragment_id,
                got: fragment_id,
            });
        };
        p.next_fragment = next;
        self.partial.insert(object_id, p);
        Ok(None)
    }

    /// Takes every fragment in `stream` (fragments back to back, as in a WinRM
    /// `rsp:Stream`), appending each completed message to `out` in completion order.
    /// Messages completed before an error stay in `out`.
    ///
    /// # Errors
    /// The first fragment that cannot be read or taken; the rest of `stream` is not read.
    pub fn push_stream(
        &mut self,
        mut stream: &[u8],
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), DefragError> {
        while !stream.is_empty() {
            let (f, rest) = Fragment::decode_prefix(stream)?;
            stream = rest;
            if let Some(m) = self.push(f)? {
                out.push(m);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(object_id: u64, fragment_id: u64, start: bool, end: bool, blob: &[u8]) -> Fragment {
        Fragment {
            object_id,
            fragment_id,
            start,
            end,
            blob: blob.to_vec(),
        }
    }

    #[test]
    fn wire_layout_is_big_endian_with_flags_in_byte_16() {
        let mut out = Vec::new();
        frag(0x0102, 3, true, false, b"ab")
            .encode(&mut out)
            .unwrap();
        assert_eq!(
            out,
            [
                0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, b'a', b'b'
            ]
        );
        assert_eq!(
            Fragment::decode(&out).unwrap(),
            frag(0x0102, 3, true, false, b"ab")
        );
    }

    #[test]
    fn decode_errors_are_precise() {
        assert_eq!(
            Fragment::decode(&[0; 20]),
            Err(FragmentError::ShortHeader { needed: 1 })
        );
        let mut f = Vec::new();
        frag(7, 0, true, true, b"xyz").encode(&mut f).unwrap();
        assert_eq!(
            Fragment::decode(&f[..f.len() - 1]),
            Err(FragmentError::BlobPastEnd {
                object_id: 7,
                fragment_id: 0,
                declared: 3,
                available: 2
            })
        );
        let mut g = f.clone();
        g[16] = 0x7;
        assert_eq!(
            Fragment::decode(&g),
            Err(FragmentError::ReservedFlags {
                object_id: 7,
                fragment_id: 0,
                flags: 7
            })
        );
        f.push(0);
        assert_eq!(
            Fragment::decode(&f),
            Err(FragmentError::TrailingBytes { count: 1 })
        );
        assert_eq!(
            split(1, b"x", HEADER_LEN),
            Err(FragmentError::MaxTooSmall { max: HEADER_LEN })
        );
    }

    #[test]
    fn split_respects_the_maximum_and_flags_the_ends() {
        let fs = split(9, b"abcdefg", HEADER_LEN + 3).unwrap();
        let blobs: Vec<&[u8]> = fs.iter().map(|f| f.blob.as_slice()).collect();
        assert_eq!(blobs, [b"abc".as_slice(), b"def", b"g"]);
        let flags: Vec<u8> = fs.iter().map(Fragment::flags).collect();
        assert_eq!(flags, [FLAG_START, 0, FLAG_END]);
        let ids: Vec<u64> = fs.iter().map(|f| f.fragment_id).collect();
        assert_eq!(ids, [0, 1, 2]);
        let empty = split(9, b"", HEADER_LEN + 1).unwrap();
        assert_eq!(empty, [frag(9, 0, true, true, b"")]);
    }

    #[test]
    fn defragmenter_refuses_each_broken_sequence() {
        let mut d = Defragmenter::default();
        assert_eq!(
            d.push(frag(1, 1, false, false, b"a")),
            Err(DefragError::MissingStart {
                object_id: 1,
                fragment_id: 1
            })
        );
        assert_eq!(
            d.push(frag(1, 2, true, false, b"a")),
            Err(DefragError::StartNotZero {
                object_id: 1,
                fragment_id: 2
            })
        );
        assert_eq!(d.push(frag(1, 0, true, false, b"a")), Ok(None));
        assert_eq!(
            d.push(frag(1, 2, false, false, b"a")),
            Err(DefragError::OutOfOrder {
                object_id: 1,
                expected: 1,
                got: 2
            })
        );
        // The object was dropped on the error.
        assert_eq!(d.in_flight(), 0);
        assert_eq!(d.push(frag(1, 0, true, false, b"a")), Ok(None));
        assert_eq!(
            d.push(frag(1, 0, true, false, b"a")),
            Err(DefragError::Restarted {
                object_id: 1,
                expected: 1
            })
        );
    }

    #[test]
    fn defragmenter_enforces_its_limits() {
        let mut d = Defragmenter::new(Limits {
            max_message_len: 4,
            max_in_flight: 1,
        });
        assert_eq!(d.push(frag(1, 0, true, false, b"ab")), Ok(None));
        assert_eq!(
            d.push(frag(2, 0, true, false, b"ab")),
            Err(DefragError::TooManyInFlight {
                object_id: 2,
                limit: 1
            })
        );
        // A single-fragment object needs no slot.
        assert_eq!(
            d.push(frag(3, 0, true, true, b"ab")),
            Ok(Some(b"ab".to_vec()))
        );
        assert_eq!(
            d.push(frag(1, 1, false, true, b"abc")),
            Err(DefragError::TooLarge {
                object_id: 1,
                limit: 4
            })
        );
        assert_eq!(
            d.push(frag(4, 0, true, true, b"abcde")),
            Err(DefragError::TooLarge {
                object_id: 4,
                limit: 4
            })
        );
    }

    #[test]
    fn push_stream_keeps_messages_completed_before_an_error() {
        let mut s = Vec::new();
        frag(1, 0, true, true, b"one").encode(&mut s).unwrap();
        frag(2, 5, false, true, b"two").encode(&mut s).unwrap();
        let mut out = Vec::new();
        let r = Defragmenter::default().push_stream(&s, &mut out);
        assert_eq!(out, [b"one".to_vec()]);
        assert!(matches!(
            r,
            Err(DefragError::MissingStart { object_id: 2, .. })
        ));
    }
}

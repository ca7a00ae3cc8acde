//! A pool's or a pipeline's outbox: messages to the client, each due at a machine
//! time, cut into fragments when a Receive takes them so that their base64 fits the
//! request's MaxEnvelopeSize ([MS-PSRP] 2.2.4; a message larger than one Receive goes
//! out over several).

use std::collections::VecDeque;

use psrp::fragment::{self, Fragment};

/// A message waiting to be received, possibly partly sent.
pub(super) struct Queued {
    pub(super) due: u64,
    object_id: u64,
    data: Vec<u8>,
    sent: usize,
    next_fragment: u64,
    /// The pipeline's final state: once all of it is taken, the command is Done.
    pub(super) last: bool,
}

/// Messages to the client, in order, each due at a machine time.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(super) q: VecDeque<Queued>,
    /// A `bad_fragment` rule acted: the next fragment taken is corrupt.
    pub(super) corrupt_next: bool,
}

/// The base64 length of `n` bytes.
fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Envelope room not counted as stream data: the SOAP headers and the
/// ReceiveResponse's own elements.
pub(super) const ENVELOPE_OVERHEAD: usize = 4096;
/// What one `rsp:Stream` element costs besides its base64.
const STREAM_OVERHEAD: usize = 160;

impl Outbox {
    pub(super) fn push(&mut self, due: u64, object_id: u64, data: Vec<u8>, last: bool) {
        self.q.push_back(Queued {
            due,
            object_id,
            data,
            sent: 0,
            next_fragment: 0,
            last,
        });
    }

    /// When the first message waiting is due.
    pub(super) fn next_due(&self) -> Option<u64> {
        self.q.front().map(|m| m.due)
    }

    /// Takes what is due at `now`, as stream payloads (fragments back to back, one
    /// payload per message) whose base64 fits `max_envelope` with the envelope around
    /// it; whether the final message went out whole.
    pub(super) fn take(&mut self, now: u64, max_envelope: usize) -> (Vec<Vec<u8>>, bool) {
        let mut left = max_envelope.saturating_sub(ENVELOPE_OVERHEAD).max(1024);
        let mut streams = Vec::new();
        let mut finished = false;
        while let Some(m) = self.q.front_mut() {
            if m.due > now || left <= STREAM_OVERHEAD + b64_len(fragment::HEADER_LEN + 1) {
                break;
            }
            let room = (left - STREAM_OVERHEAD) / 4 * 3 - fragment::HEADER_LEN;
            let chunk = room.min(m.data.len() - m.sent);
            let end = m.sent + chunk == m.data.len();
            let f = Fragment {
                object_id: m.object_id,
                fragment_id: m.next_fragment,
                start: m.sent == 0,
                end,
                blob: m.data[m.sent..m.sent + chunk].to_vec(),
            };
            let mut bytes = Vec::with_capacity(fragment::HEADER_LEN + chunk);
            // A blob this size always fits BlobLength.
            let _ = f.encode(&mut bytes);
            if std::mem::take(&mut self.corrupt_next) {
                corrupt(&mut bytes);
            }
            left = left.saturating_sub(STREAM_OVERHEAD + b64_len(bytes.len()));
            streams.push(bytes);
            m.sent += chunk;
            m.next_fragment += 1;
            if !end {
                break;
            }
            finished |= m.last;
            self.q.pop_front();
        }
        (streams, finished)
    }
}

/// Makes an encoded fragment claim one blob byte more than it carries (BlobLength is
/// the header's last four bytes, big-endian).
fn corrupt(fragment_bytes: &mut [u8]) {
    let at = fragment::HEADER_LEN - 4;
    if let Some(len) = fragment_bytes.get_mut(at..fragment::HEADER_LEN) {
        let n = u32::from_be_bytes([len[0], len[1], len[2], len[3]]).saturating_add(1);
        len.copy_from_slice(&n.to_be_bytes());
    }
}

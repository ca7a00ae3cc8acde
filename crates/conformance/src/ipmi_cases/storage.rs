//! SDR, sensor, SEL and FRU cases: reading the BMC's stores as real clients do, and
//! leaving the SEL as the case found it.

use ipmi::sdr::{Record, Sdr};

use super::*;

// ----- reading in pieces -----
//
// How the clients read, from their sources (facts only; nothing copied):
//
// - ipmitool (lib/ipmi_sdr.c, `ipmi_sdr_get_header`, `ipmi_sdr_get_record`) reserves the
//   repository, reads each record's 5-byte header at offset 0, takes the next record ID
//   from that answer, then reads the body in pieces from offset 5. On 0xCA (or no
//   answer) it asks for one byte less than it just asked for, down to 1, and keeps the
//   smaller size for later records; on 0xC5 it reserves again and repeats the read.
// - freeipmi (libfreeipmi/sdr/ipmi-sdr-cache-create.c, `_sdr_cache_get_record`) first
//   tries the whole record (count 0xFF); on any failure it reads the 5-byte header, then
//   the body in 16-byte pieces (`IPMI_SDR_CACHE_BYTES_TO_READ_START`: "most
//   motherboards can handle 16"), 4 bytes fewer after 0xCA or 0xFF (unspecified error),
//   not below 5; after 0xC5 it reserves again, at most 4 times per record.
// - FRU: ipmitool (lib/ipmi_fru.c, `read_fru_area`) treats 0xC7, 0xC8 and 0xCA as
//   "asked for too much" (`fru_cc_rq2big`) and shrinks by 8 bytes above 32
//   (`FRU_AREA_MAXIMUM_BLOCK_SZ`), by 1 at or below, giving up at 8 (`FRU_BLOCK_SZ`);
//   freeipmi (libfreeipmi/fru/ipmi-fru.c) reads in 16-byte blocks
//   (`IPMI_FRU_COUNT_TO_READ_BLOCK_SIZE`).
//
// The suite reads SDR records the freeipmi way (header, then 16-byte pieces, 4 fewer
// after 0xCA or 0xFF, 4 reservations per record) and goes on below 5 a byte at a time as
// ipmitool does; FRU data in 16-byte pieces, shrinking by ipmitool's rule on 0xC7, 0xC8
// or 0xCA, down to 1 byte (lower than either client goes). A size that worked is kept
// for the rest of the case, as ipmitool keeps it.

/// The size of the pieces a reader asks for, and how it shrinks after a completion
/// code meaning "ask for fewer bytes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Bytes asked for per request now.
    pub(crate) size: u8,
    /// Above this, shrink by `step`; at or below it, by one byte.
    knee: u8,
    step: u8,
    /// The completion codes that mean "ask for fewer bytes".
    too_big: &'static [u8],
}

/// SDR header length (record ID, version, type, length).
const SDR_HEADER: usize = 5;
/// Reservations a record read may take after 0xC5 (freeipmi's
/// `IPMI_SDR_CACHE_MAX_RESERVATION_ID_RETRY`).
const SDR_RESERVATIONS: u8 = 4;

impl Chunk {
    /// SDR pieces: 16 bytes, 4 fewer after 0xCA or 0xFF down to 5, then 1 fewer.
    pub(crate) const fn sdr() -> Chunk {
        Chunk {
            size: 16,
            knee: SDR_HEADER as u8,
            step: 4,
            too_big: &[0xCA, 0xFF],
        }
    }

    /// FRU pieces: 16 bytes; after 0xC7, 0xC8 or 0xCA 8 fewer above 32, else 1 fewer.
    pub(crate) const fn fru() -> Chunk {
        Chunk {
            size: 16,
            knee: 32,
            step: 8,
            too_big: &[0xC7, 0xC8, 0xCA],
        }
    }

    /// This chunk starting at `size` bytes instead.
    #[cfg(test)]
    const fn starting_at(mut self, size: u8) -> Chunk {
        self.size = size;
        self
    }

    /// The count to ask for when `left` bytes remain.
    pub(crate) fn request(&self, left: usize) -> u8 {
        left.min(usize::from(self.size)) as u8
    }

    /// Whether `cc` asks the reader to ask for fewer bytes.
    pub(crate) fn is_too_big(&self, cc: u8) -> bool {
        self.too_big.contains(&cc)
    }

    /// After a request for `asked` bytes was refused as too big: the smaller size to
    /// use from now on, or None when even one byte was refused.
    pub(crate) fn shrink(&mut self, asked: u8) -> Option<u8> {
        let next = if asked > self.knee {
            asked.saturating_sub(self.step).max(self.knee)
        } else {
            asked.saturating_sub(1)
        };
        (next > 0).then(|| {
            self.size = next;
            next
        })
    }

    /// The codes, as an engineer lists them.
    fn codes(&self) -> String {
        self.too_big
            .iter()
            .map(|c| format!("0x{c:02X}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ----- SDR -----

/// What an SDR record read needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SdrStep {
    /// Reserve SDR Repository again (the reservation was lost).
    Reserve,
    /// Get SDR of the record at `offset`, `count` bytes.
    Read { offset: u8, count: u8 },
    /// The record is complete.
    Done,
}

/// One record read as the clients read it: the header first, then the body in pieces
/// (the state machine; [`SdrReader::record`] drives it over the wire).
#[derive(Debug, Clone)]
pub(crate) struct SdrRecordRead {
    id: u16,
    chunk: Chunk,
    bytes: Vec<u8>,
    /// Header plus body length, once the header is in.
    total: Option<usize>,
    next: u16,
    reserve: bool,
    reservations: u8,
    asked: (u8, u8),
}

impl SdrRecordRead {
    pub(crate) fn new(id: u16, chunk: Chunk) -> SdrRecordRead {
        SdrRecordRead {
            id,
            chunk,
            bytes: Vec::new(),
            total: None,
            next: 0xFFFF,
            reserve: false,
            reservations: 0,
            asked: (0, 0),
        }
    }

    /// The next request.
    pub(crate) fn step(&mut self) -> Result<SdrStep, Finding> {
        if self.reserve {
            return Ok(SdrStep::Reserve);
        }
        let (offset, count) = match self.total {
            None => (0, SDR_HEADER as u8),
            Some(t) if self.bytes.len() >= t => return Ok(SdrStep::Done),
            Some(t) => {
                let at = self.bytes.len();
                let Ok(offset) = u8::try_from(at) else {
                    return Err(Finding::mismatch(
                        format!("SDR {:#06x}", self.id),
                        "a record Get SDR offsets (one byte) can reach",
                        format!("{t} bytes"),
                    ));
                };
                (offset, self.chunk.request(t - at))
            }
        };
        self.asked = (offset, count);
        Ok(SdrStep::Read { offset, count })
    }

    /// A new reservation was made after 0xC5.
    pub(crate) fn reserved(&mut self) {
        self.reserve = false;
    }

    fn what(&self) -> String {
        let (offset, count) = self.asked;
        format!("Get SDR {:#06x} offset {offset} count {count}", self.id)
    }

    /// The answer to the last [`SdrStep::Read`].
    pub(crate) fn answer(&mut self, cc: u8, data: &[u8]) -> Result<(), Finding> {
        let (_, count) = self.asked;
        if cc == 0xC5 {
            if self.reservations >= SDR_RESERVATIONS {
                return Err(Finding::mismatch(
                    self.what(),
                    format!(
                        "a reservation that holds (reserved again {SDR_RESERVATIONS} times, as freeipmi does)"
                    ),
                    crate::ipmi::completion(cc),
                ));
            }
            self.reservations += 1;
            self.reserve = true;
            return Ok(());
        }
        if cc != 0 && self.total.is_some() && self.chunk.is_too_big(cc) {
            if self.chunk.shrink(count).is_none() {
                return Err(Finding::mismatch(
                    self.what(),
                    "the byte asked for (the reader asks for fewer after each refusal, down to 1)",
                    crate::ipmi::completion(cc),
                ));
            }
            return Ok(());
        }
        if cc != 0 {
            return Err(Finding::mismatch(
                format!("{}: completion code", self.what()),
                "0x00",
                crate::ipmi::completion(cc),
            ));
        }
        let got = data.get(2..).unwrap_or_default();
        if got.is_empty() || got.len() > usize::from(count) {
            return Err(Finding::mismatch(
                self.what(),
                format!("the next record ID and 1 to {count} bytes of the record"),
                format!("{} bytes: {}", data.len(), hexs(data)),
            ));
        }
        if self.total.is_none() {
            if got.len() < SDR_HEADER {
                return Err(Finding::mismatch(
                    self.what(),
                    "the 5-byte record header",
                    format!("{} bytes: {}", got.len(), hexs(got)),
                ));
            }
            self.next = le16(data, 0);
            self.total = Some(SDR_HEADER + usize::from(got[4]));
        }
        self.bytes.extend_from_slice(got);
        Ok(())
    }

    /// (next record ID, the record, the piece size now).
    pub(crate) fn finish(self) -> (u16, Vec<u8>, Chunk) {
        (self.next, self.bytes, self.chunk)
    }
}

/// Reads SDR records with a reservation, the way ipmitool and freeipmi do.
pub(crate) struct SdrReader {
    h: Handle,
    rsv: u16,
    chunk: Chunk,
}

impl SdrReader {
    /// Reserves the repository.
    pub(crate) async fn new(ctx: &mut Ctx, h: Handle) -> Result<SdrReader, Finding> {
        Ok(SdrReader {
            h,
            rsv: reserve(ctx, h, id::RESERVE_SDR.1).await?,
            chunk: Chunk::sdr(),
        })
    }

    /// The reservation in use.
    pub(crate) fn reservation(&self) -> u16 {
        self.rsv
    }

    /// The piece size that works so far.
    pub(crate) fn chunk(&self) -> Chunk {
        self.chunk
    }

    /// Reserves again (after 0xC5).
    pub(crate) async fn reserve_again(&mut self, ctx: &mut Ctx) -> Result<(), Finding> {
        self.rsv = reserve(ctx, self.h, id::RESERVE_SDR.1).await?;
        Ok(())
    }

    /// One record: (next record ID, bytes).
    pub(crate) async fn record(
        &mut self,
        ctx: &mut Ctx,
        id: u16,
    ) -> Result<(u16, Vec<u8>), Finding> {
        let mut read = SdrRecordRead::new(id, self.chunk);
        loop {
            match read.step()? {
                SdrStep::Done => break,
                SdrStep::Reserve => {
                    self.reserve_again(ctx).await?;
                    read.reserved();
                }
                SdrStep::Read { offset, count } => {
                    let mut req = self.rsv.to_le_bytes().to_vec();
                    req.extend_from_slice(&id.to_le_bytes());
                    req.extend_from_slice(&[offset, count]);
                    let r = ctx
                        .s(self.h)
                        .command(id::GET_SDR.0, id::GET_SDR.1, &req)
                        .await
                        .map_err(|e| finding(&format!("Get SDR {id:#06x}"), e))?;
                    read.answer(r.completion, &r.data)?;
                }
            }
        }
        let (next, bytes, chunk) = read.finish();
        self.chunk = chunk;
        Ok((next, bytes))
    }
}

pub(super) async fn reserve(ctx: &mut Ctx, h: Handle, cmd: u8) -> Result<u16, Finding> {
    let what = if cmd == id::RESERVE_SDR.1 {
        "Reserve SDR Repository"
    } else {
        "Reserve SEL"
    };
    let d = ctx.ipmi_ok(h, what, STORAGE, cmd, &[]).await?;
    if d.len() != 2 {
        return Err(Finding::mismatch(
            what,
            "a 2-byte reservation ID",
            format!("{} bytes: {}", d.len(), hexs(&d)),
        ));
    }
    Ok(le16(&d, 0))
}

/// Walks the repository: (record ID, bytes) in chain order, each record read as
/// [`SdrReader`] reads it.
pub(super) async fn sdr_walk(ctx: &mut Ctx, h: Handle) -> Result<Vec<(u16, Vec<u8>)>, Finding> {
    let mut reader = SdrReader::new(ctx, h).await?;
    sdr_walk_with(ctx, &mut reader).await
}

async fn sdr_walk_with(
    ctx: &mut Ctx,
    reader: &mut SdrReader,
) -> Result<Vec<(u16, Vec<u8>)>, Finding> {
    let mut out: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut id = 0u16;
    loop {
        let (next, rec) = reader.record(ctx, id).await?;
        let rid = le16(&rec, 0);
        if id != 0 && rid != id {
            return Err(Finding::mismatch(
                format!("record asked for as {id:#06x}"),
                "the same record ID in the answer",
                format!("{rid:#06x}"),
            ));
        }
        if out.iter().any(|(r, _)| *r == rid) {
            return Err(Finding::mismatch(
                "SDR chain",
                "each record once",
                format!("{rid:#06x} again"),
            ));
        }
        out.push((rid, rec));
        if next == 0xFFFF {
            break;
        }
        if out.len() > 1024 {
            return Err(Finding::mismatch(
                "SDR chain",
                "an end (next record ID 0xFFFF)",
                "over 1024 records",
            ));
        }
        id = next;
    }
    Ok(out)
}

/// Every record of the repository, decoded (in chain order; find records by type, not
/// by position: no order is promised, and the first may be a controller locator).
pub(crate) async fn sdr_records(ctx: &mut Ctx, h: Handle) -> Result<Vec<Sdr>, Finding> {
    let mut out = Vec::new();
    for (id, rec) in sdr_walk(ctx, h).await? {
        let sdr = Sdr::decode(&rec).map_err(|e| {
            Finding::mismatch(
                format!("SDR {id:#06x}"),
                "a decodable record",
                format!("{e} ({})", hexs(&rec)),
            )
        })?;
        out.push(sdr);
    }
    Ok(out)
}

pub(super) async fn sdr_walk_chain(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let info = ctx
        .ipmi_ok(
            h,
            "Get SDR Repository Info",
            id::GET_SDR_INFO.0,
            id::GET_SDR_INFO.1,
            &[],
        )
        .await?;
    let count = usize::from(le16(&info, 1));
    let walked = sdr_walk(ctx, h).await?;
    if walked.len() != count {
        return Err(Finding::mismatch(
            "records in the chain",
            format!("{count} (Get SDR Repository Info)"),
            walked.len().to_string(),
        ));
    }
    Ok(())
}

pub(super) async fn sdr_partial_reads(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut reader = SdrReader::new(ctx, h).await?;
    let all = sdr_walk_with(ctx, &mut reader).await?;
    // The longest record (the most pieces); the first of equals.
    let Some((id, whole)) = all
        .into_iter()
        .reduce(|a, b| if b.1.len() > a.1.len() { b } else { a })
    else {
        return Err(Finding::Skip("the SDR repository is empty".into()));
    };
    // Pieces of 7 bytes from offset 0, so that one straddles the header's end (fewer
    // when the reader had to go below 7).
    let piece = 7.min(reader.chunk().size);
    let mut pieces = Vec::new();
    let mut renewals = 0;
    while pieces.len() < whole.len() {
        let off = pieces.len();
        let n = (whole.len() - off).min(usize::from(piece)) as u8;
        let what = format!("Get SDR {id:#06x} offset {off} count {n}");
        let mut req = reader.reservation().to_le_bytes().to_vec();
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&[off as u8, n]);
        let r = ctx
            .s(h)
            .command(id::GET_SDR.0, id::GET_SDR.1, &req)
            .await
            .map_err(|e| finding(&what, e))?;
        match r.completion {
            0xC5 if renewals < SDR_RESERVATIONS => {
                renewals += 1;
                reader.reserve_again(ctx).await?;
                continue;
            }
            0 => {}
            cc => {
                return Err(Finding::mismatch(
                    format!("{what}: completion code"),
                    "0x00",
                    crate::ipmi::completion(cc),
                ));
            }
        }
        if r.data.len() != 2 + usize::from(n) {
            return Err(Finding::mismatch(
                what,
                format!("{} bytes (the next record ID and the {n} asked for)", 2 + n),
                format!("{} bytes: {}", r.data.len(), hexs(&r.data)),
            ));
        }
        pieces.extend_from_slice(&r.data[2..]);
    }
    if pieces != whole {
        return Err(Finding::mismatch(
            format!("record {id:#06x} read in {piece}-byte pieces"),
            format!("{} (as read header first, then the body)", hexs(&whole)),
            hexs(&pieces),
        ));
    }
    // The whole record in one read (count 0xFF): a BMC may refuse it as too large.
    let mut req = reader.reservation().to_le_bytes().to_vec();
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let what = format!("Get SDR {id:#06x} offset 0 count 0xFF (the whole record)");
    let r = ctx
        .s(h)
        .command(id::GET_SDR.0, id::GET_SDR.1, &req)
        .await
        .map_err(|e| finding(&what, e))?;
    let sdr = Chunk::sdr();
    match r.completion {
        0 if r.data.get(2..) == Some(&whole[..]) => Ok(()),
        0 => Err(Finding::mismatch(
            what,
            format!("the next record ID and {}", hexs(&whole)),
            hexs(&r.data),
        )),
        cc if sdr.is_too_big(cc) => Ok(()),
        cc => Err(Finding::mismatch(
            format!("{what}: completion code"),
            format!(
                "0x00 with the record, or {} (too many bytes: clients then read in pieces)",
                sdr.codes()
            ),
            crate::ipmi::completion(cc),
        )),
    }
}

pub(super) async fn sdr_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let old = reserve(ctx, h, id::RESERVE_SDR.1).await?;
    let new = reserve(ctx, h, id::RESERVE_SDR.1).await?;
    if old == new {
        return Err(Finding::mismatch(
            "second reservation",
            "a new reservation ID",
            format!("{new:#06x} twice"),
        ));
    }
    let mut req = old.to_le_bytes().to_vec();
    req.extend_from_slice(&[0, 0, 2, 3]);
    completion_must_be(
        ctx,
        h,
        (id::GET_SDR.0, id::GET_SDR.1, &req),
        "Get SDR with the old reservation",
        "Get SDR with a cancelled reservation",
        0xC5,
    )
    .await
}

pub(super) async fn thresholds_match_sdr(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut misses = Vec::new();
    for sdr in sdr_records(ctx, h).await? {
        let Record::Full(f) = sdr.record else {
            continue;
        };
        let mask = f.key.readable_thresholds();
        if mask == 0 {
            continue;
        }
        let d = sensor_ok(
            ctx,
            h,
            "Get Sensor Thresholds",
            id::GET_SENSOR_THRESHOLDS.1,
            f.key.number,
        )
        .await?;
        if d.len() != 7 {
            misses.push(crate::eval::Mismatch {
                what: format!("sensor {} thresholds", f.key.number),
                expected: "7 bytes".into(),
                got: format!("{} bytes: {}", d.len(), hexs(&d)),
            });
            continue;
        }
        for bit in 0..6u8 {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let live = d[1 + usize::from(bit)];
            let sdr_raw = f.thresholds[usize::from(bit)];
            if d[0] & (1 << bit) == 0 || live != sdr_raw {
                misses.push(crate::eval::Mismatch {
                    what: format!(
                        "sensor {} ({}) threshold bit {bit}",
                        f.key.number,
                        f.id.text()
                    ),
                    expected: format!("readable, raw {sdr_raw:#04x} as in the SDR"),
                    got: format!("mask {:#04x}, raw {live:#04x}", d[0]),
                });
            }
        }
    }
    verdict(misses)
}

pub(super) async fn every_sensor_reads(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut n = 0;
    for sdr in sdr_records(ctx, h).await? {
        let Some(num) = sdr.record.sensor_number() else {
            continue;
        };
        n += 1;
        let d = sensor_ok(ctx, h, "Get Sensor Reading", id::GET_SENSOR_READING.1, num).await?;
        if d.len() < 2 || d[1] & 0x20 != 0 {
            return Err(Finding::mismatch(
                format!("sensor {num} reading"),
                "a reading, available",
                hexs(&d),
            ));
        }
    }
    if n == 0 {
        return Err(Finding::mismatch("SDR", "sensor records", "none"));
    }
    Ok(())
}

pub(super) async fn reading_conversion(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut misses = Vec::new();
    for sdr in sdr_records(ctx, h).await? {
        let Record::Full(f) = sdr.record else {
            continue;
        };
        let d = sensor_ok(
            ctx,
            h,
            "Get Sensor Reading",
            id::GET_SENSOR_READING.1,
            f.key.number,
        )
        .await?;
        // No reading to convert while it is unavailable (byte 2 bit 5).
        let Some(raw) = d
            .first()
            .copied()
            .filter(|_| d.get(1).is_some_and(|b| b & 0x20 == 0))
        else {
            continue;
        };
        let lin = f.linear();
        let (v, lo, hi) = (
            lin.value(raw),
            lin.value(f.min_reading),
            lin.value(f.max_reading),
        );
        let (lo, hi) = (lo.min(hi), lo.max(hi));
        if !v.is_finite() || v < lo - 1e-9 || v > hi + 1e-9 {
            misses.push(crate::eval::Mismatch {
                what: format!("sensor {} ({}) reading", f.key.number, f.id.text()),
                expected: format!("within [{lo}, {hi}]"),
                got: format!("{v} (raw {raw:#04x})"),
            });
        }
    }
    verdict(misses)
}

pub(super) async fn unknown_sensor(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let used: Vec<u8> = sdr_records(ctx, h)
        .await?
        .iter()
        .filter_map(|s| s.record.sensor_number())
        .collect();
    let Some(free) = (1..=0xFEu8).rev().find(|n| !used.contains(n)) else {
        return Err(Finding::Skip("every sensor number is in use".into()));
    };
    let r = ctx
        .s(h)
        .command(id::GET_SENSOR_READING.0, id::GET_SENSOR_READING.1, &[free])
        .await
        .map_err(|e| finding("Get Sensor Reading", e))?;
    if r.completion == 0 {
        return Err(Finding::mismatch(
            format!("Get Sensor Reading of absent sensor {free}"),
            "an error (0xCB)",
            format!("a reading: {}", hexs(&r.data)),
        ));
    }
    Ok(())
}

// ----- SEL -----

/// Walks the SEL: the 16-byte entries in chain order.
pub(crate) async fn sel_entries(ctx: &mut Ctx, h: Handle) -> Result<Vec<Vec<u8>>, Finding> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut id = 0u16;
    loop {
        let mut req = vec![0, 0];
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&[0, 0xFF]);
        let what = format!("Get SEL Entry {id:#06x}");
        let r = ctx
            .s(h)
            .command(id::GET_SEL_ENTRY.0, id::GET_SEL_ENTRY.1, &req)
            .await
            .map_err(|e| finding(&what, e))?;
        if r.completion == 0xCB && id == 0 {
            return Ok(out);
        }
        if r.completion != 0 {
            return Err(Finding::mismatch(
                format!("{what}: completion code"),
                "0x00",
                crate::ipmi::completion(r.completion),
            ));
        }
        if r.data.len() != 18 {
            return Err(Finding::mismatch(
                what,
                "18 bytes (the next record ID and the 16-byte entry)",
                format!("{} bytes: {}", r.data.len(), hexs(&r.data)),
            ));
        }
        let rid = le16(&r.data, 2);
        if out.iter().any(|e| le16(e, 0) == rid) {
            return Err(Finding::mismatch(
                "SEL chain",
                "each entry once",
                format!("{rid:#06x} again"),
            ));
        }
        out.push(r.data[2..].to_vec());
        let next = le16(&r.data, 0);
        if next == 0xFFFF {
            return Ok(out);
        }
        if out.len() > 4096 {
            return Err(Finding::mismatch(
                "SEL chain",
                "an end (next record ID 0xFFFF)",
                "over 4096 entries",
            ));
        }
        id = next;
    }
}

pub(crate) async fn sel_count(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx
        .ipmi_ok(
            h,
            "Get SEL Info",
            id::GET_SEL_INFO.0,
            id::GET_SEL_INFO.1,
            &[],
        )
        .await?;
    if d.len() < 3 {
        return Err(Finding::mismatch(
            "Get SEL Info",
            "14 bytes",
            format!("{} bytes: {}", d.len(), hexs(&d)),
        ));
    }
    Ok(le16(&d, 1))
}

/// The SEL as a case found it, to put back what the case (or a BMC ignoring a
/// reservation) removed: see [`sel_save`] and [`sel_restore`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct SelSnapshot {
    /// The 16-byte entries in chain order.
    pub(crate) entries: Vec<[u8; 16]>,
}

impl SelSnapshot {
    fn from_entries(entries: &[Vec<u8>]) -> SelSnapshot {
        SelSnapshot {
            entries: entries
                .iter()
                .filter_map(|e| e[..].try_into().ok())
                .collect(),
        }
    }
}

/// The saved entries no longer in `now`, in the order they were saved. An entry counts
/// as present only with the same 16 bytes (record ID included): an ID the BMC reused
/// for another entry does not hide a loss. Entries that appeared since are not touched
/// (the BMC logs its own events meanwhile).
pub(crate) fn sel_missing<'a>(saved: &'a SelSnapshot, now: &[Vec<u8>]) -> Vec<&'a [u8; 16]> {
    saved
        .entries
        .iter()
        .filter(|e| !now.iter().any(|n| n[..] == e[..]))
        .collect()
}

/// Saves the SEL before a case that could lose entries on a BMC that ignores
/// reservations.
pub(crate) async fn sel_save(ctx: &mut Ctx, h: Handle) -> Result<SelSnapshot, Finding> {
    Ok(SelSnapshot::from_entries(&sel_entries(ctx, h).await?))
}

/// Puts back what went missing since [`sel_save`]: reads the SEL, and adds each saved
/// entry no longer in it with Add SEL Entry (the saved 16 bytes; the BMC assigns a new
/// record ID and, for timestamped records, a new timestamp: Add SEL Entry cannot keep
/// them). Each entry added back is recorded with [`Ctx::record_change`]. Fails when an
/// entry cannot be added back (after trying every one).
pub(crate) async fn sel_restore(
    ctx: &mut Ctx,
    h: Handle,
    saved: &SelSnapshot,
) -> Result<(), Finding> {
    sel_restore_because(
        ctx,
        h,
        saved,
        "was gone after the case (removed by a deletion or clear the BMC should have refused)",
    )
    .await
    .map(|_| ())
}

/// Entries recorded one per line in the report; past this, one line sums up the rest.
const RESTORE_LINES: usize = 32;

/// [`sel_restore`], saying why entries went missing (`why` follows "SEL entry 0x0012");
/// the record IDs (as saved) of the entries added back.
async fn sel_restore_because(
    ctx: &mut Ctx,
    h: Handle,
    saved: &SelSnapshot,
    why: &str,
) -> Result<Vec<u16>, Finding> {
    let now = sel_entries(ctx, h).await?;
    let missing: Vec<[u8; 16]> = sel_missing(saved, &now).into_iter().copied().collect();
    let mut failed = Vec::new();
    let mut summed = (0usize, Vec::new());
    let mut back = Vec::new();
    for (i, e) in missing.iter().enumerate() {
        let old = u16::from_le_bytes([e[0], e[1]]);
        let mut rec = *e;
        rec[0] = 0;
        rec[1] = 0;
        let r = ctx
            .s(h)
            .command(id::ADD_SEL_ENTRY.0, id::ADD_SEL_ENTRY.1, &rec)
            .await
            .map_err(|e| finding("Add SEL Entry (restoring)", e))?;
        let new = (r.completion == 0 && r.data.len() == 2).then(|| le16(&r.data, 0));
        if new.is_some() {
            back.push(old);
        }
        match new {
            Some(new) if i < RESTORE_LINES => {
                // Types 0x02 and 0xC0-0xDF carry the BMC's timestamp (31.6).
                let stamped = e[2] == 0x02 || (0xC0..=0xDF).contains(&e[2]);
                ctx.record_change(format!(
                    "SEL entry {old:#06x} {why}; added back as {new:#06x} (Add SEL Entry gives it a new record ID{})",
                    if stamped { " and timestamp" } else { "" }
                ));
            }
            Some(new) => {
                summed.0 += 1;
                summed.1.push(new);
            }
            None => {
                let got = if r.completion == 0 {
                    format!("{} bytes: {}", r.data.len(), hexs(&r.data))
                } else {
                    crate::ipmi::completion(r.completion)
                };
                ctx.record_change(format!(
                    "SEL entry {old:#06x} {why}; adding it back failed ({got}): it is lost ({})",
                    hexs(e)
                ));
                failed.push(crate::eval::Mismatch {
                    what: format!("Add SEL Entry restoring entry {old:#06x}"),
                    expected: "0x00 and the new 2-byte record ID".into(),
                    got,
                });
            }
        }
    }
    if summed.0 > 0 {
        let first = summed.1.first().copied().unwrap_or_default();
        let last = summed.1.last().copied().unwrap_or_default();
        ctx.record_change(format!(
            "{} more SEL entries {why}; added back as {first:#06x} to {last:#06x} (new record IDs and timestamps)",
            summed.0
        ));
    }
    if failed.is_empty() {
        Ok(back)
    } else {
        Err(Finding::Mismatch(failed))
    }
}

pub(super) async fn sel_walk_chain(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let n = sel_count(ctx, h).await?;
    let all = sel_entries(ctx, h).await?;
    if all.len() != usize::from(n) {
        return Err(Finding::mismatch(
            "SEL entries in the chain",
            format!("{n} (Get SEL Info)"),
            all.len().to_string(),
        ));
    }
    Ok(())
}

/// A system event record to add (the BMC fills in ID and timestamp).
pub(super) const TEST_EVENT: [u8; 16] = [
    0, 0, 0x02, 0, 0, 0, 0, 0x41, 0, 0x04, 0x01, 0x77, 0x01, 0x57, 0x00, 0x00,
];

/// Adds the test event; records the change.
pub(super) async fn add_entry(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx
        .ipmi_ok(
            h,
            "Add SEL Entry",
            id::ADD_SEL_ENTRY.0,
            id::ADD_SEL_ENTRY.1,
            &TEST_EVENT,
        )
        .await?;
    if d.len() != 2 {
        return Err(Finding::mismatch(
            "Add SEL Entry",
            "the 2-byte record ID",
            format!("{} bytes: {}", d.len(), hexs(&d)),
        ));
    }
    let id = le16(&d, 0);
    ctx.record_change(format!(
        "added a test SEL entry (system event, sensor type 0x04, sensor 0x77) as {id:#06x}"
    ));
    Ok(id)
}

/// Deletes the case's own entry `id` with a fresh reservation; records the change
/// (or that the entry stayed).
pub(super) async fn delete_entry(ctx: &mut Ctx, h: Handle, id: u16) -> Result<(), Finding> {
    let result = async {
        let rsv = reserve(ctx, h, id::RESERVE_SEL.1).await?;
        let mut req = rsv.to_le_bytes().to_vec();
        req.extend_from_slice(&id.to_le_bytes());
        let d = ctx
            .ipmi_ok(
                h,
                "Delete SEL Entry",
                id::DELETE_SEL_ENTRY.0,
                id::DELETE_SEL_ENTRY.1,
                &req,
            )
            .await?;
        if d.len() != 2 || le16(&d, 0) != id {
            return Err(Finding::mismatch(
                "Delete SEL Entry",
                format!("the deleted record ID {id:#06x}"),
                format!("{} bytes: {}", d.len(), hexs(&d)),
            ));
        }
        Ok(())
    }
    .await;
    ctx.record_change(match &result {
        Ok(()) => format!("deleted the test SEL entry {id:#06x} again"),
        Err(_) => format!(
            "deleting the test SEL entry {id:#06x} failed (see the verdict): it may still be in the SEL"
        ),
    });
    result
}

pub(super) async fn sel_add_get_delete(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    // Deleting by ID on a BMC that confuses IDs could take another entry: save first.
    let saved = sel_save(ctx, h).await?;
    let result = add_get_delete(ctx, h).await;
    sel_restore(ctx, h, &saved).await?;
    result
}

async fn add_get_delete(ctx: &mut Ctx, h: Handle) -> Result<(), Finding> {
    let id = add_entry(ctx, h).await?;
    let mut req = vec![0, 0];
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let got = ctx
        .ipmi_ok(
            h,
            "Get SEL Entry of the new record",
            id::GET_SEL_ENTRY.0,
            id::GET_SEL_ENTRY.1,
            &req,
        )
        .await;
    let check = match got {
        Ok(d)
            if d.len() == 18 && le16(&d, 2) == id && d[4] == 0x02 && d[9..] == TEST_EVENT[7..] =>
        {
            Ok(())
        }
        Ok(d) => Err(Finding::mismatch(
            "the new record",
            format!(
                "ID {id:#06x}, type 0x02, event bytes {}",
                hexs(&TEST_EVENT[7..])
            ),
            hexs(&d),
        )),
        Err(e) => Err(e),
    };
    delete_entry(ctx, h, id).await?;
    check?;
    completion_must_be(
        ctx,
        h,
        (id::GET_SEL_ENTRY.0, id::GET_SEL_ENTRY.1, &req),
        "Get SEL Entry after delete",
        "Get SEL Entry of the deleted record",
        0xCB,
    )
    .await
}

pub(super) async fn sel_add_counts(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let saved = sel_save(ctx, h).await?;
    let result = add_counts(ctx, h).await;
    sel_restore(ctx, h, &saved).await?;
    result
}

async fn add_counts(ctx: &mut Ctx, h: Handle) -> Result<(), Finding> {
    let before = sel_count(ctx, h).await?;
    let id = add_entry(ctx, h).await?;
    let during = sel_count(ctx, h).await;
    delete_entry(ctx, h, id).await?;
    let during = during?;
    let after = sel_count(ctx, h).await?;
    if during != before.wrapping_add(1) || after != before {
        return Err(Finding::mismatch(
            "Get SEL Info entries (before, after add, after delete)",
            format!("({before}, {}, {before})", before.wrapping_add(1)),
            format!("({before}, {during}, {after})"),
        ));
    }
    Ok(())
}

pub(super) async fn sel_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    // A BMC that ignores reservations would delete the entry: save the SEL first.
    let saved = sel_save(ctx, h).await?;
    // An entry that exists, so that a refusal can only be about the reservation.
    let target = saved
        .entries
        .last()
        .map_or(0xFFFF, |e| u16::from_le_bytes([e[0], e[1]]));
    let old = reserve(ctx, h, id::RESERVE_SEL.1).await?;
    let new = reserve(ctx, h, id::RESERVE_SEL.1).await?;
    let mut req = old.to_le_bytes().to_vec();
    req.extend_from_slice(&target.to_le_bytes());
    let what = format!(
        "Delete SEL Entry {target:#06x} with reservation {old:#06x} (superseded by {new:#06x})"
    );
    let r = ctx
        .s(h)
        .command(id::DELETE_SEL_ENTRY.0, id::DELETE_SEL_ENTRY.1, &req)
        .await
        .map_err(|e| finding(&what, e));
    let restored = sel_restore_because(
        ctx,
        h,
        &saved,
        "was deleted by the case's Delete SEL Entry with a superseded reservation (the BMC ignored the reservation)",
    )
    .await;
    let r = r?;
    match r.completion {
        0xC5 => {}
        0xCB if saved.entries.is_empty() => {
            restored?;
            return Err(Finding::Skip(
                "the SEL is empty: the BMC answered 0xCB (record not present) before looking at the reservation, which it may".into(),
            ));
        }
        cc => {
            return Err(Finding::mismatch(
                format!("{what}: completion code"),
                "0xC5 (reservation cancelled)",
                crate::ipmi::completion(cc),
            ));
        }
    }
    // Answered 0xC5: the entry must still be there (restoring found nothing to add).
    if restored?.contains(&target) {
        return Err(Finding::mismatch(
            what,
            "0xC5 and the entry left in place",
            "0xC5, but the entry was gone (added back)",
        ));
    }
    Ok(())
}

pub(super) async fn sel_clear_and_restore(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let saved = sel_save(ctx, h).await?;
    let rsv = reserve(ctx, h, id::RESERVE_SEL.1).await?;
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(b"CLR");
    req.push(0xAA);
    let cleared = ctx
        .ipmi_ok(
            h,
            "Clear SEL (0xAA)",
            id::CLEAR_SEL.0,
            id::CLEAR_SEL.1,
            &req,
        )
        .await;
    let mut result = cleared.map(|_| ());
    if result.is_ok() {
        ctx.record_change(format!("cleared the SEL ({} entries)", saved.entries.len()));
        *req.last_mut().expect("four bytes") = 0x00;
        let poll = ctx
            .ipmi_ok(
                h,
                "Clear SEL (poll)",
                id::CLEAR_SEL.0,
                id::CLEAR_SEL.1,
                &req,
            )
            .await;
        let count = sel_count(ctx, h).await;
        result = match (poll, count) {
            (Ok(d), Ok(0)) if d.first().is_some_and(|b| b & 0x0F == 1) => Ok(()),
            (Ok(d), Ok(count)) => Err(Finding::mismatch(
                "after Clear SEL (progress, entries)",
                "(erasure completed, 0)",
                format!("({}, {count})", hexs(&d)),
            )),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    // Put the entries back (new IDs and timestamps); each is recorded.
    let restored = sel_restore_because(ctx, h, &saved, "was removed by the case's Clear SEL").await;
    result.and(restored.map(|_| ()))
}

// ----- FRU -----

pub(super) async fn fru_size(ctx: &mut Ctx, h: Handle) -> Result<usize, Finding> {
    let d = ctx
        .ipmi_ok(
            h,
            "Get FRU Inventory Area Info",
            id::GET_FRU_INFO.0,
            id::GET_FRU_INFO.1,
            &[0],
        )
        .await?;
    if d.len() != 3 {
        return Err(Finding::mismatch(
            "Get FRU Inventory Area Info",
            "3 bytes",
            format!("{} bytes: {}", d.len(), hexs(&d)),
        ));
    }
    Ok(usize::from(le16(&d, 0)))
}

/// What a Read FRU Data answer means to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FruAnswer {
    /// Bytes read.
    Bytes(Vec<u8>),
    /// Asked for too much: ask again with the smaller count.
    Retry(u8),
}

/// Judges the answer `(cc, data)` to a Read FRU Data of `asked` bytes at `off`,
/// shrinking `chunk` when the BMC asks for fewer bytes.
pub(crate) fn fru_answer(
    chunk: &mut Chunk,
    off: usize,
    asked: u8,
    cc: u8,
    data: &[u8],
) -> Result<FruAnswer, Finding> {
    let what = format!("Read FRU Data offset {off} count {asked}");
    if cc != 0 && chunk.is_too_big(cc) {
        return match chunk.shrink(asked) {
            Some(n) => Ok(FruAnswer::Retry(n)),
            None => Err(Finding::mismatch(
                what,
                format!(
                    "the byte asked for (the reader asks for fewer after {}, down to 1)",
                    chunk.codes()
                ),
                crate::ipmi::completion(cc),
            )),
        };
    }
    if cc != 0 {
        return Err(Finding::mismatch(
            format!("{what}: completion code"),
            "0x00",
            crate::ipmi::completion(cc),
        ));
    }
    match data.split_first() {
        Some((&n, rest)) if usize::from(n) == rest.len() && n <= asked && n > 0 => {
            Ok(FruAnswer::Bytes(rest.to_vec()))
        }
        _ => Err(Finding::mismatch(
            what,
            format!("a count of 1 to {asked} and that many bytes"),
            match data.split_first() {
                Some((n, rest)) => format!("count {n} and {} bytes", rest.len()),
                None => "no data".into(),
            },
        )),
    }
}

/// Reads FRU device 0 in pieces, the way ipmitool does (see the comment at the top).
pub(crate) struct FruReader {
    h: Handle,
    /// The inventory size Get FRU Inventory Area Info reports.
    pub(crate) size: usize,
    chunk: Chunk,
}

impl FruReader {
    /// Asks for the inventory size.
    pub(crate) async fn new(ctx: &mut Ctx, h: Handle) -> Result<FruReader, Finding> {
        Ok(FruReader {
            h,
            size: fru_size(ctx, h).await?,
            chunk: Chunk::fru(),
        })
    }

    /// `len` bytes from `off`.
    pub(crate) async fn read(
        &mut self,
        ctx: &mut Ctx,
        off: usize,
        len: usize,
    ) -> Result<Vec<u8>, Finding> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = off + out.len();
            let Ok(o) = u16::try_from(at) else {
                return Err(Finding::mismatch(
                    "FRU inventory",
                    "offsets Read FRU Data (two bytes) can reach",
                    format!("offset {at}"),
                ));
            };
            let n = self.chunk.request(len - out.len());
            let o = o.to_le_bytes();
            let r = ctx
                .s(self.h)
                .command(id::READ_FRU.0, id::READ_FRU.1, &[0, o[0], o[1], n])
                .await
                .map_err(|e| finding(&format!("Read FRU Data offset {at}"), e))?;
            match fru_answer(&mut self.chunk, at, n, r.completion, &r.data)? {
                FruAnswer::Retry(_) => {}
                FruAnswer::Bytes(b) => out.extend_from_slice(&b),
            }
        }
        Ok(out)
    }

    /// The whole inventory.
    pub(crate) async fn all(&mut self, ctx: &mut Ctx) -> Result<Vec<u8>, Finding> {
        self.read(ctx, 0, self.size).await
    }
}

pub(super) async fn fru_read_too_large(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let what = "Read FRU Data offset 0 count 255";
    let r = ctx
        .s(h)
        .command(id::READ_FRU.0, id::READ_FRU.1, &[0, 0, 0, 0xFF])
        .await
        .map_err(|e| finding(what, e))?;
    match (r.completion, r.data.split_first()) {
        // 0xC8 (request data field length limit exceeded) is the same refusal to
        // ipmitool and freeipmi, which shrink their reads on it: accepted alike.
        (0xCA | 0xC8, _) => Ok(()),
        (0, Some((&n, rest))) if usize::from(n) == rest.len() && n > 0 => {
            // A shorter answer is allowed; its bytes must be the inventory's.
            let mut reader = FruReader::new(ctx, h).await?;
            let want = rest.len().min(reader.size);
            let expect = reader.read(ctx, 0, want).await?;
            if rest.len() > reader.size || rest[..want] != expect[..] {
                return Err(Finding::mismatch(
                    format!("{what}: the {} bytes returned", rest.len()),
                    format!(
                        "the first bytes of the {}-byte inventory: {}",
                        reader.size,
                        hexs(&expect)
                    ),
                    hexs(rest),
                ));
            }
            Ok(())
        }
        (0, d) => Err(Finding::mismatch(
            what,
            "0xCA (cannot return number of requested data bytes), or a count that matches the bytes returned",
            match d {
                Some((n, rest)) => format!("count {n} and {} bytes", rest.len()),
                None => "no data".into(),
            },
        )),
        (cc, _) => Err(Finding::mismatch(
            format!("{what}: completion code"),
            "0xCA (cannot return number of requested data bytes) or 0xC8, or 0x00 with fewer bytes",
            crate::ipmi::completion(cc),
        )),
    }
}

pub(super) async fn fru_common_header(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let mut reader = FruReader::new(ctx, h).await?;
    let size = reader.size;
    if size < 8 {
        return Err(Finding::mismatch(
            "Get FRU Inventory Area Info size",
            "at least the 8-byte common header",
            format!("{size} bytes"),
        ));
    }
    let hdr = reader.read(ctx, 0, 8).await?;
    let sum = hdr.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    if hdr[0] & 0x0F != 1 || sum != 0 {
        return Err(Finding::mismatch(
            "common header",
            "format version 1 and a zero-sum checksum",
            hexs(&hdr),
        ));
    }
    for (i, off) in hdr[1..6].iter().enumerate() {
        if *off != 0 && usize::from(*off) * 8 >= size {
            let area = ["internal use", "chassis", "board", "product", "multirecord"][i];
            return Err(Finding::mismatch(
                format!("{area} area offset"),
                format!("inside the {size}-byte inventory"),
                format!("byte {}", usize::from(*off) * 8),
            ));
        }
    }
    Ok(())
}

pub(super) async fn fru_chunked(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let all = FruReader::new(ctx, h).await?.all(ctx).await?;
    if all.len() < 8 {
        return Err(Finding::mismatch(
            "inventory",
            "at least 8 bytes",
            format!("{} bytes: {}", all.len(), hexs(&all)),
        ));
    }
    // Chassis, board and product areas: length byte at +1 in multiples of 8, zero sum.
    for (i, off) in all[2..5].iter().enumerate() {
        if *off == 0 {
            continue;
        }
        let start = usize::from(*off) * 8;
        let len = all.get(start + 1).map_or(0, |l| usize::from(*l) * 8);
        let area = all.get(start..start + len);
        let ok =
            area.is_some_and(|a| len > 0 && a.iter().fold(0u8, |x, y| x.wrapping_add(*y)) == 0);
        if !ok {
            return Err(Finding::mismatch(
                format!(
                    "{} area at byte {start}",
                    ["chassis", "board", "product"][i]
                ),
                "a length inside the inventory and a zero-sum checksum",
                format!("length {len} in a {}-byte inventory", all.len()),
            ));
        }
    }
    Ok(())
}

pub(super) async fn fru_read_past_end(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let size = fru_size(ctx, h).await?;
    let at = (size + 16).min(0xFFFF);
    let o = (at as u16).to_le_bytes();
    let what = format!("Read FRU Data offset {at} count 8 (past the {size}-byte end)");
    let r = ctx
        .s(h)
        .command(id::READ_FRU.0, id::READ_FRU.1, &[0, o[0], o[1], 8])
        .await
        .map_err(|e| finding(&what, e))?;
    if r.completion == 0 && r.data.first().is_some_and(|c| *c > 0) {
        return Err(Finding::mismatch(
            what,
            "an error or a count of 0",
            format!("count {} and {} bytes", r.data[0], r.data.len() - 1),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(f: &Finding) -> String {
        match f {
            Finding::Mismatch(m) => m
                .iter()
                .map(|m| format!("{}: expected {}, got {}", m.what, m.expected, m.got))
                .collect::<Vec<_>>()
                .join("\n"),
            Finding::Skip(s) | Finding::Error(s) => s.clone(),
        }
    }

    fn sizes(mut c: Chunk) -> Vec<u8> {
        let mut out = vec![c.size];
        while let Some(n) = c.shrink(c.size) {
            out.push(n);
        }
        out
    }

    #[test]
    fn sdr_pieces_shrink_like_freeipmi_then_ipmitool() {
        // freeipmi: 16, 4 fewer, not below the 5-byte header; ipmitool: 1 fewer, to 1.
        assert_eq!(sizes(Chunk::sdr()), [16, 12, 8, 5, 4, 3, 2, 1]);
        assert!(Chunk::sdr().is_too_big(0xCA) && Chunk::sdr().is_too_big(0xFF));
        assert!(!Chunk::sdr().is_too_big(0xC5));
    }

    #[test]
    fn fru_pieces_shrink_like_ipmitool() {
        // 8 fewer above 32, then 1 fewer; on 0xC7, 0xC8 and 0xCA.
        let seq = sizes(Chunk::fru().starting_at(64));
        assert_eq!(&seq[..6], &[64, 56, 48, 40, 32, 31]);
        assert_eq!(seq.last(), Some(&1));
        assert_eq!(sizes(Chunk::fru()).len(), 16);
        for cc in [0xC7, 0xC8, 0xCA] {
            assert!(Chunk::fru().is_too_big(cc));
        }
        assert!(!Chunk::fru().is_too_big(0xFF));
    }

    #[test]
    fn shrinking_starts_from_what_was_asked() {
        // Near a record's end the request is smaller than the size: shrink from it.
        let mut c = Chunk::sdr();
        assert_eq!(c.shrink(7), Some(5));
        assert_eq!(c.size, 5);
    }

    /// A record of `len` bytes: ID 0x0042, version 0x51, type 0x01, body 0, 1, 2, ...
    fn record(len: usize) -> Vec<u8> {
        let mut r = vec![0x42, 0x00, 0x51, 0x01, (len - 5) as u8];
        r.extend((0..len - 5).map(|i| i as u8));
        r
    }

    /// Answers Get SDR of `rec` as a BMC that refuses more than `cap` bytes with
    /// `refusal` (next record ID 0x0043).
    fn capped(rec: Vec<u8>, cap: u8, refusal: u8) -> impl FnMut(u8, u8) -> (u8, Vec<u8>) {
        move |o, c| {
            if c > cap {
                return (refusal, Vec::new());
            }
            let o = usize::from(o);
            let mut d = vec![0x43, 0x00];
            d.extend_from_slice(&rec[o..(o + usize::from(c)).min(rec.len())]);
            (0, d)
        }
    }

    /// Runs a record read against `bmc`: the steps taken.
    fn drive(
        read: &mut SdrRecordRead,
        mut bmc: impl FnMut(u8, u8) -> (u8, Vec<u8>),
    ) -> Result<Vec<SdrStep>, Finding> {
        let mut steps = Vec::new();
        loop {
            let s = read.step()?;
            steps.push(s);
            match s {
                SdrStep::Done => return Ok(steps),
                SdrStep::Reserve => read.reserved(),
                SdrStep::Read { offset, count } => {
                    let (cc, d) = bmc(offset, count);
                    read.answer(cc, &d)?;
                }
            }
            assert!(steps.len() < 500, "no end");
        }
    }

    fn reads(steps: &[SdrStep]) -> Vec<(u8, u8)> {
        steps
            .iter()
            .filter_map(|s| match s {
                SdrStep::Read { offset, count } => Some((*offset, *count)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_record_is_read_header_first_then_in_pieces() {
        let rec = record(40);
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let steps = drive(&mut read, capped(rec.clone(), 128, 0xCA)).unwrap();
        assert_eq!(reads(&steps), [(0, 5), (5, 16), (21, 16), (37, 3)]);
        let (next, bytes, chunk) = read.finish();
        assert_eq!((next, bytes, chunk.size), (0x0043, rec, 16));
    }

    #[test]
    fn a_bmc_refusing_large_pieces_is_read_in_smaller_ones() {
        // Caps at 10 bytes with 0xCA: 16 and 12 refused, 8 works and is kept.
        let rec = record(30);
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let steps = drive(&mut read, capped(rec.clone(), 10, 0xCA)).unwrap();
        assert_eq!(
            reads(&steps),
            [(0, 5), (5, 16), (5, 12), (5, 8), (13, 8), (21, 8), (29, 1)]
        );
        let (_, bytes, chunk) = read.finish();
        assert_eq!(bytes, rec);
        assert_eq!(chunk.size, 8);
        // The next record starts at the size that worked.
        let mut again = SdrRecordRead::new(0x0043, chunk);
        let steps = drive(&mut again, capped(record(21), 10, 0xCA)).unwrap();
        assert_eq!(reads(&steps), [(0, 5), (5, 8), (13, 8)]);
    }

    #[test]
    fn unspecified_error_is_treated_as_too_many_bytes() {
        let rec = record(20);
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        drive(&mut read, capped(rec.clone(), 6, 0xFF)).unwrap();
        let (_, bytes, chunk) = read.finish();
        assert_eq!((bytes, chunk.size), (rec, 5));
    }

    #[test]
    fn a_lost_reservation_is_renewed_and_the_piece_read_again() {
        let rec = record(30);
        let mut inner = capped(rec.clone(), 64, 0xCA);
        let mut lost = false;
        let bmc = move |o: u8, c: u8| {
            if o == 21 && !lost {
                lost = true;
                return (0xC5, Vec::new());
            }
            inner(o, c)
        };
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let steps = drive(&mut read, bmc).unwrap();
        let at = steps
            .iter()
            .position(|s| *s == SdrStep::Reserve)
            .expect("a new reservation");
        assert_eq!(
            steps[at + 1],
            SdrStep::Read {
                offset: 21,
                count: 9
            }
        );
        assert_eq!(read.finish().1, rec);
    }

    #[test]
    fn a_reservation_that_never_holds_is_a_finding() {
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let e = drive(&mut read, |_, _| (0xC5, Vec::new())).unwrap_err();
        let m = message(&e);
        assert!(m.contains("0xC5 (") && m.contains("4 times"), "{m}");
    }

    #[test]
    fn refusing_even_one_byte_is_a_finding() {
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let e = drive(&mut read, capped(record(30), 0, 0xCA)).unwrap_err();
        // The header read is not shrunk (as neither client shrinks it).
        let m = message(&e);
        assert!(
            m.contains("offset 0 count 5") && m.contains("0xCA ("),
            "{m}"
        );
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let rec = record(30);
        let bmc = move |o: u8, c: u8| {
            if o == 0 {
                capped(rec.clone(), 5, 0xCA)(o, c)
            } else {
                (0xCA, Vec::new())
            }
        };
        let m = message(&drive(&mut read, bmc).unwrap_err());
        assert!(
            m.contains("offset 5 count 1") && m.contains("0xCA ("),
            "{m}"
        );
        assert!(!m.contains("Some(") && !m.contains("None"), "{m}");
    }

    #[test]
    fn short_pieces_are_progress_and_long_ones_a_finding() {
        let rec = record(30);
        let mut inner = capped(rec.clone(), 64, 0xCA);
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        drive(&mut read, move |o, c| inner(o, c.min(6))).unwrap();
        assert_eq!(read.finish().1, rec);
        let rec2 = record(30);
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let e = drive(&mut read, move |o, c| {
            let mut d = vec![0xFF, 0xFF];
            d.extend_from_slice(
                &rec2[usize::from(o)..(usize::from(o) + usize::from(c) + 1).min(30)],
            );
            (0, d)
        })
        .unwrap_err();
        let m = message(&e);
        assert!(m.contains("1 to 5 bytes") && m.contains("8 bytes"), "{m}");
    }

    #[test]
    fn other_codes_are_findings_with_their_meaning() {
        let mut read = SdrRecordRead::new(0x0042, Chunk::sdr());
        let m = message(&drive(&mut read, |_, _| (0xCB, Vec::new())).unwrap_err());
        assert!(m.contains("Get SDR 0x0042 offset 0 count 5"), "{m}");
        assert!(m.contains(&crate::ipmi::completion(0xCB)), "{m}");
    }

    #[test]
    fn fru_answers() {
        let mut c = Chunk::fru();
        assert_eq!(
            fru_answer(&mut c, 0, 16, 0, &[3, 1, 2, 3]).unwrap(),
            FruAnswer::Bytes(vec![1, 2, 3])
        );
        for cc in [0xC7, 0xC8, 0xCA] {
            let mut c = Chunk::fru();
            assert_eq!(
                fru_answer(&mut c, 0, 16, cc, &[]).unwrap(),
                FruAnswer::Retry(15)
            );
            assert_eq!(c.size, 15);
        }
        let mut c = Chunk::fru();
        let m = message(&fru_answer(&mut c, 8, 1, 0xCA, &[]).unwrap_err());
        assert!(
            m.contains("offset 8 count 1") && m.contains("0xCA ("),
            "{m}"
        );
        // A count that does not match the bytes, more than asked, or none.
        for d in [&[4u8, 1, 2][..], &[17; 18][..], &[0][..], &[][..]] {
            let mut c = Chunk::fru();
            assert!(fru_answer(&mut c, 0, 16, 0, d).is_err(), "{d:?}");
        }
        let mut c = Chunk::fru();
        let m = message(&fru_answer(&mut c, 0, 16, 0xD5, &[]).unwrap_err());
        assert!(m.contains("0xD5"), "{m}");
    }

    fn entry(id: u16, fill: u8) -> [u8; 16] {
        let mut e = [fill; 16];
        e[..2].copy_from_slice(&id.to_le_bytes());
        e
    }

    #[test]
    fn sel_diff_finds_what_went_missing() {
        let saved = SelSnapshot {
            entries: vec![entry(1, 0xA1), entry(2, 0xA2), entry(3, 0xA3)],
        };
        // Entry 2 deleted; entry 3's ID reused by another entry; a new entry 4 logged.
        let now: Vec<Vec<u8>> = vec![
            entry(1, 0xA1).to_vec(),
            entry(3, 0xB3).to_vec(),
            entry(4, 0xA4).to_vec(),
        ];
        let missing = sel_missing(&saved, &now);
        assert_eq!(missing, vec![&entry(2, 0xA2), &entry(3, 0xA3)]);
        // Nothing missing when everything is there, whatever was added.
        let mut all: Vec<Vec<u8>> = saved.entries.iter().map(|e| e.to_vec()).collect();
        all.push(entry(9, 0).to_vec());
        assert!(sel_missing(&saved, &all).is_empty());
        // A cleared SEL: everything, in the saved order.
        assert_eq!(sel_missing(&saved, &[]).len(), 3);
        assert_eq!(sel_missing(&saved, &[])[0], &entry(1, 0xA1));
    }

    #[test]
    fn snapshot_keeps_only_whole_entries() {
        let s = SelSnapshot::from_entries(&[entry(5, 1).to_vec(), vec![1, 2, 3]]);
        assert_eq!(s.entries, vec![entry(5, 1)]);
    }
}

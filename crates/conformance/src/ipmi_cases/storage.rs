//! SDR, sensor, SEL and FRU cases: reading the BMC's stores as real clients do.

use ipmi::sdr::{Record, Sdr};

use super::*;

// ----- SDR -----

/// Reads a whole record with Get SDR (bytes 0xFF), returning (next ID, bytes).
pub(super) async fn get_sdr(
    ctx: &mut Ctx,
    h: Handle,
    rsv: u16,
    id: u16,
) -> Result<(u16, Vec<u8>), Finding> {
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let d = ctx
        .ipmi_ok(h, &format!("Get SDR {id:#06x}"), STORAGE, 0x23, &req)
        .await?;
    if d.len() < 7 {
        return Err(Finding::mismatch(
            format!("Get SDR {id:#06x}"),
            "the next ID and a record",
            hexs(&d),
        ));
    }
    Ok((le16(&d, 0), d[2..].to_vec()))
}

pub(super) async fn reserve(ctx: &mut Ctx, h: Handle, cmd: u8) -> Result<u16, Finding> {
    let d = ctx.ipmi_ok(h, "reserve", STORAGE, cmd, &[]).await?;
    if d.len() != 2 {
        return Err(Finding::mismatch("reservation", "2 bytes", hexs(&d)));
    }
    Ok(le16(&d, 0))
}

/// Walks the repository: (record ID, bytes) in chain order.
pub(super) async fn sdr_walk(ctx: &mut Ctx, h: Handle) -> Result<Vec<(u16, Vec<u8>)>, Finding> {
    let rsv = reserve(ctx, h, 0x22).await?;
    let mut out = Vec::new();
    let mut id = 0u16;
    loop {
        let (next, rec) = get_sdr(ctx, h, rsv, id).await?;
        let rid = le16(&rec, 0);
        if id != 0 && rid != id {
            return Err(Finding::mismatch(
                format!("record asked as {id:#06x}"),
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
                "an end",
                "over 1024 records",
            ));
        }
        id = next;
    }
    Ok(out)
}

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
        .ipmi_ok(h, "Get SDR Repository Info", STORAGE, 0x20, &[])
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
    let rsv = reserve(ctx, h, 0x22).await?;
    let (_, whole) = get_sdr(ctx, h, rsv, 0).await?;
    let id = le16(&whole, 0);
    let mut pieces = Vec::new();
    let mut off = 0usize;
    while off < whole.len() {
        let n = (whole.len() - off).min(7) as u8;
        let mut req = rsv.to_le_bytes().to_vec();
        req.extend_from_slice(&id.to_le_bytes());
        req.extend_from_slice(&[off as u8, n]);
        let d = ctx
            .ipmi_ok(h, &format!("Get SDR offset {off}"), STORAGE, 0x23, &req)
            .await?;
        if d.len() != 2 + usize::from(n) {
            return Err(Finding::mismatch(
                format!("Get SDR offset {off} count {n}"),
                format!("{} bytes", 2 + n),
                hexs(&d),
            ));
        }
        pieces.extend_from_slice(&d[2..]);
        off += usize::from(n);
    }
    if pieces != whole {
        return Err(Finding::mismatch(
            "record read in pieces",
            hexs(&whole),
            hexs(&pieces),
        ));
    }
    Ok(())
}

pub(super) async fn sdr_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let old = reserve(ctx, h, 0x22).await?;
    let new = reserve(ctx, h, 0x22).await?;
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
        (STORAGE, 0x23, &req),
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
        let d = sensor_ok(ctx, h, "Get Sensor Thresholds", 0x27, f.key.number).await?;
        if d.len() != 7 {
            misses.push(crate::eval::Mismatch {
                what: format!("sensor {} thresholds", f.key.number),
                expected: "7 bytes".into(),
                got: hexs(&d),
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
        let d = sensor_ok(ctx, h, "Get Sensor Reading", 0x2D, num).await?;
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
        let d = sensor_ok(ctx, h, "Get Sensor Reading", 0x2D, f.key.number).await?;
        let Some(raw) = d.first().copied() else {
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
        .command(SENSOR, 0x2D, &[free])
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
        let r = ctx
            .s(h)
            .command(STORAGE, 0x43, &req)
            .await
            .map_err(|e| finding("Get SEL Entry", e))?;
        if r.completion == 0xCB && id == 0 {
            return Ok(out);
        }
        if r.completion != 0 || r.data.len() != 18 {
            return Err(Finding::mismatch(
                format!("Get SEL Entry {id:#06x}"),
                "0x00 and the next ID plus 16 bytes",
                format!("{:#04x} [{}]", r.completion, hexs(&r.data)),
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
                "an end",
                "over 4096 entries",
            ));
        }
        id = next;
    }
}

pub(crate) async fn sel_count(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx.ipmi_ok(h, "Get SEL Info", STORAGE, 0x40, &[]).await?;
    if d.len() < 3 {
        return Err(Finding::mismatch("Get SEL Info", "14 bytes", hexs(&d)));
    }
    Ok(le16(&d, 1))
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

pub(super) async fn add_entry(ctx: &mut Ctx, h: Handle) -> Result<u16, Finding> {
    let d = ctx
        .ipmi_ok(h, "Add SEL Entry", STORAGE, 0x44, &TEST_EVENT)
        .await?;
    if d.len() != 2 {
        return Err(Finding::mismatch(
            "Add SEL Entry",
            "the 2-byte record ID",
            hexs(&d),
        ));
    }
    Ok(le16(&d, 0))
}

pub(super) async fn delete_entry(ctx: &mut Ctx, h: Handle, id: u16) -> Result<(), Finding> {
    let rsv = reserve(ctx, h, 0x42).await?;
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(&id.to_le_bytes());
    let d = ctx
        .ipmi_ok(h, "Delete SEL Entry", STORAGE, 0x46, &req)
        .await?;
    if le16(&d, 0) != id {
        return Err(Finding::mismatch(
            "Delete SEL Entry",
            format!("the deleted ID {id:#06x}"),
            hexs(&d),
        ));
    }
    Ok(())
}

pub(super) async fn sel_add_get_delete(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let id = add_entry(ctx, h).await?;
    let mut req = vec![0, 0];
    req.extend_from_slice(&id.to_le_bytes());
    req.extend_from_slice(&[0, 0xFF]);
    let got = ctx
        .ipmi_ok(h, "Get SEL Entry of the new record", STORAGE, 0x43, &req)
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
        (STORAGE, 0x43, &req),
        "Get SEL Entry after delete",
        "Get SEL Entry of the deleted record",
        0xCB,
    )
    .await
}

pub(super) async fn sel_add_counts(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let before = sel_count(ctx, h).await?;
    let id = add_entry(ctx, h).await?;
    let during = sel_count(ctx, h).await?;
    delete_entry(ctx, h, id).await?;
    let after = sel_count(ctx, h).await?;
    if during != before + 1 || after != before {
        return Err(Finding::mismatch(
            "Get SEL Info entries (before, after add, after delete)",
            format!("({before}, {}, {before})", before + 1),
            format!("({before}, {during}, {after})"),
        ));
    }
    Ok(())
}

pub(super) async fn sel_reservation_cancelled(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let old = reserve(ctx, h, 0x42).await?;
    let _new = reserve(ctx, h, 0x42).await?;
    let mut req = old.to_le_bytes().to_vec();
    req.extend_from_slice(&[0xFE, 0xFF]);
    completion_must_be(
        ctx,
        h,
        (STORAGE, 0x46, &req),
        "Delete SEL Entry with the old reservation",
        "Delete SEL Entry with a superseded reservation",
        0xC5,
    )
    .await
}

pub(super) async fn sel_clear_and_restore(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let saved = sel_entries(ctx, h).await?;
    let rsv = reserve(ctx, h, 0x42).await?;
    let mut req = rsv.to_le_bytes().to_vec();
    req.extend_from_slice(b"CLR");
    req.push(0xAA);
    let cleared = ctx
        .ipmi_ok(h, "Clear SEL (0xAA)", STORAGE, 0x47, &req)
        .await;
    let mut result = cleared.map(|_| ());
    if result.is_ok() {
        *req.last_mut().expect("four bytes") = 0x00;
        let poll = ctx
            .ipmi_ok(h, "Clear SEL (poll)", STORAGE, 0x47, &req)
            .await;
        let count = sel_count(ctx, h).await?;
        result = match poll {
            Ok(d) if d.first().is_some_and(|b| b & 0x0F == 1) && count == 0 => Ok(()),
            Ok(d) => Err(Finding::mismatch(
                "after Clear SEL (progress, entries)",
                "(erasure completed, 0)",
                format!("({}, {count})", hexs(&d)),
            )),
            Err(e) => Err(e),
        };
    }
    // Put the entries back (new IDs and timestamps).
    for e in &saved {
        let mut rec = e.clone();
        rec[0] = 0;
        rec[1] = 0;
        let _ = ctx.s(h).command(STORAGE, 0x44, &rec).await;
    }
    result
}

// ----- FRU -----

pub(super) async fn fru_size(ctx: &mut Ctx, h: Handle) -> Result<usize, Finding> {
    let d = ctx
        .ipmi_ok(h, "Get FRU Inventory Area Info", STORAGE, 0x10, &[0])
        .await?;
    if d.len() != 3 {
        return Err(Finding::mismatch("FRU area info", "3 bytes", hexs(&d)));
    }
    Ok(usize::from(le16(&d, 0)))
}

pub(super) async fn fru_read(
    ctx: &mut Ctx,
    h: Handle,
    off: usize,
    n: u8,
) -> Result<Vec<u8>, Finding> {
    let o = (off as u16).to_le_bytes();
    let d = ctx
        .ipmi_ok(
            h,
            &format!("Read FRU Data {off}+{n}"),
            STORAGE,
            0x11,
            &[0, o[0], o[1], n],
        )
        .await?;
    if d.is_empty() || usize::from(d[0]) != d.len() - 1 || d[0] > n {
        return Err(Finding::mismatch(
            format!("Read FRU Data {off}+{n}"),
            "a count matching the bytes returned, at most the bytes asked for",
            hexs(&d),
        ));
    }
    Ok(d[1..].to_vec())
}

pub(super) async fn fru_all(ctx: &mut Ctx, h: Handle) -> Result<Vec<u8>, Finding> {
    let size = fru_size(ctx, h).await?;
    let mut all = Vec::new();
    while all.len() < size {
        let n = (size - all.len()).min(16) as u8;
        let d = fru_read(ctx, h, all.len(), n).await?;
        if d.is_empty() {
            return Err(Finding::mismatch("Read FRU Data", "progress", "0 bytes"));
        }
        all.extend_from_slice(&d);
    }
    Ok(all)
}

pub(super) async fn fru_read_too_large(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let r = ctx
        .s(h)
        .command(STORAGE, 0x11, &[0, 0, 0, 0xFF])
        .await
        .map_err(|e| finding("Read FRU Data of 255 bytes", e))?;
    match r.completion {
        0xCA => Ok(()),
        0 if !r.data.is_empty() && usize::from(r.data[0]) == r.data.len() - 1 => Ok(()),
        c => Err(Finding::mismatch(
            "Read FRU Data of 255 bytes",
            "0xCA, or a count that matches the bytes",
            format!("{c:#04x} [{}]", hexs(&r.data)),
        )),
    }
}

pub(super) async fn fru_common_header(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let size = fru_size(ctx, h).await?;
    let hdr = fru_read(ctx, h, 0, 8).await?;
    if hdr.len() != 8 {
        return Err(Finding::mismatch("common header", "8 bytes", hexs(&hdr)));
    }
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
            return Err(Finding::mismatch(
                format!("area offset {i}"),
                format!("inside the {size}-byte inventory"),
                format!("{}", usize::from(*off) * 8),
            ));
        }
    }
    Ok(())
}

pub(super) async fn fru_chunked(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let all = fru_all(ctx, h).await?;
    if all.len() < 8 {
        return Err(Finding::mismatch(
            "inventory",
            "at least 8 bytes",
            hexs(&all),
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
                format!("area {} at {start}", ["chassis", "board", "product"][i]),
                "a length inside the inventory and a zero-sum checksum",
                format!("length {len} of {} bytes", all.len()),
            ));
        }
    }
    Ok(())
}

pub(super) async fn fru_read_past_end(ctx: &mut Ctx) -> Result<(), Finding> {
    let h = ctx.ipmi_login(Role::Admin).await?;
    let size = fru_size(ctx, h).await?;
    let o = ((size + 16).min(0xFFFF) as u16).to_le_bytes();
    let r = ctx
        .s(h)
        .command(STORAGE, 0x11, &[0, o[0], o[1], 8])
        .await
        .map_err(|e| finding("Read FRU Data past the end", e))?;
    if r.completion == 0 && r.data.first().is_some_and(|c| *c > 0) {
        return Err(Finding::mismatch(
            "Read FRU Data past the end",
            "an error or no bytes",
            hexs(&r.data),
        ));
    }
    Ok(())
}

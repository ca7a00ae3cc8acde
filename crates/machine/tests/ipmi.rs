//! The machine as a BMC: every command of the reference table through
//! `ipmi::app::Application::handle`, decoded with the `ipmi` codecs (as a client would).

use ipmi::app::{Application, Request, Response, SessionView};
use ipmi::cmd::{self, Wire, id};
use ipmi::codes::{Privilege, cc, netfn};
use ipmi::sdr::{Record, Sdr};
use machine::{Machine, MachineSpec, PowerState};

fn machine() -> Machine {
    Machine::new(MachineSpec::default(), 0).unwrap()
}

fn send_as(m: &mut Machine, p: Privilege, c: (u8, u8), data: &[u8], now: u64) -> Response {
    let req = Request {
        netfn: c.0,
        cmd: c.1,
        lun: 0,
        data,
        session: Some(SessionView {
            id: 0x1234,
            handle: 1,
            user_id: 2,
            user: b"admin",
            privilege: p,
            channel: 1,
        }),
    };
    m.handle(&req, now)
}

fn send(m: &mut Machine, c: (u8, u8), data: &[u8], now: u64) -> Response {
    send_as(m, Privilege::Administrator, c, data, now)
}

fn ok<T: Wire>(m: &mut Machine, c: (u8, u8), data: &[u8], now: u64) -> T {
    let r = send(m, c, data, now);
    assert_eq!(r.completion, cc::OK, "{c:02X?} {data:02X?} -> {r:02X?}");
    T::decode(&r.data).unwrap_or_else(|e| panic!("{c:02X?}: {e} in {:02X?}", r.data))
}

fn walk_sdr(m: &mut Machine) -> Vec<Sdr> {
    let res: cmd::ReservationResp = ok(m, id::RESERVE_SDR, &[], 0);
    let mut out = Vec::new();
    let mut next = 0u16;
    while next != 0xFFFF {
        // Header first, then the rest at an offset (as ipmitool does).
        let q = cmd::GetRecordReq {
            reservation: res.reservation,
            record: next,
            offset: 0,
            count: 5,
        };
        let head: cmd::GetRecordResp = ok(m, id::GET_SDR, &q.encode(), 0);
        let len = usize::from(head.data[4]);
        let q = cmd::GetRecordReq {
            offset: 5,
            count: len as u8,
            ..q
        };
        let rest: cmd::GetRecordResp = ok(m, id::GET_SDR, &q.encode(), 0);
        assert_eq!(rest.next, head.next);
        let mut bytes = head.data.clone();
        bytes.extend_from_slice(&rest.data);
        out.push(Sdr::decode(&bytes).unwrap());
        assert!(out.len() < 1000, "the SDR chain loops");
        next = head.next;
    }
    out
}

#[test]
fn get_device_id_and_friends() {
    let mut m = machine();
    let d: cmd::GetDeviceIdResp = ok(&mut m, id::GET_DEVICE_ID, &[], 0);
    assert_eq!(d.ipmi_version, 0x02);
    assert_eq!((d.firmware_major, d.firmware_minor), (2, 0x10)); // "2.10.0"
    assert_eq!(
        d.additional_support & 0x8F,
        0x8F,
        "chassis, FRU, SEL, SDR, sensors"
    );
    assert_eq!(d.manufacturer_id, machine::ipmi::MANUFACTURER_ID);
    let t: cmd::SelfTestResp = ok(&mut m, id::GET_SELF_TEST, &[], 0);
    assert_eq!((t.result, t.detail), (0x55, 0));
    let g: cmd::GuidResp = ok(&mut m, id::GET_SYSTEM_GUID, &[], 0);
    assert_eq!(g.guid, Application::guid(&m));
    assert_eq!(machine::ipmi::guid_from_wire(g.guid), m.guid_bytes());
    // IPMI v2.0 table 20-10: the wire is the textual byte order reversed, node first
    // (the default GUID is 5a1d0c6e-3e2b-4f5a-9b7c-2d1e0f3a4b5c).
    assert_eq!(
        g.guid,
        [
            0x5c, 0x4b, 0x3a, 0x0f, 0x1e, 0x2d, 0x7c, 0x9b, 0x5a, 0x4f, 0x2b, 0x3e, 0x6e, 0x0c,
            0x1d, 0x5a
        ]
    );
    let w: cmd::WatchdogResp = ok(&mut m, id::GET_WATCHDOG, &[], 0);
    assert_eq!(w.timer_use & 0x40, 0, "not running");
    assert_eq!(send(&mut m, id::COLD_RESET, &[], 0).completion, cc::OK);
    // Length errors.
    assert_eq!(
        send(&mut m, id::GET_DEVICE_ID, &[1], 0).completion,
        cc::DATA_LENGTH_INVALID
    );
}

#[test]
fn a_reset_cancels_the_reservations_and_keeps_the_records() {
    for reset in [id::WARM_RESET, id::COLD_RESET] {
        let mut m = machine();
        let sdr: cmd::ReservationResp = ok(&mut m, id::RESERVE_SDR, &[], 0);
        let sel: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[], 0);
        let sdr_read = |res: u16| {
            cmd::GetRecordReq {
                reservation: res,
                record: 0,
                offset: 1,
                count: 4,
            }
            .encode()
        };
        let before: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &sdr_read(sdr.reservation), 0);
        let records = m.sel_entries().len();
        assert_eq!(
            send(&mut m, reset, &[], 0).completion,
            cc::OK,
            "{reset:02X?}"
        );
        assert_eq!(
            send(&mut m, id::GET_SDR, &sdr_read(sdr.reservation), 0).completion,
            cc::RESERVATION_CANCELLED,
            "{reset:02X?}: the SDR reservation outlived the reset"
        );
        let clear = [
            sel.reservation.to_le_bytes()[0],
            sel.reservation.to_le_bytes()[1],
            b'C',
            b'L',
            b'R',
            0xAA,
        ];
        assert_eq!(
            send(&mut m, id::CLEAR_SEL, &clear, 0).completion,
            cc::RESERVATION_CANCELLED,
            "{reset:02X?}: the SEL reservation outlived the reset"
        );
        assert_eq!(m.sel_entries().len(), records, "{reset:02X?} kept the SEL");
        let again: cmd::ReservationResp = ok(&mut m, id::RESERVE_SDR, &[], 0);
        let after: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &sdr_read(again.reservation), 0);
        assert_eq!(after.data, before.data, "{reset:02X?} kept the SDRs");
        assert_eq!(
            send(&mut m, reset, &[0], 0).completion,
            cc::DATA_LENGTH_INVALID,
            "{reset:02X?} takes no data"
        );
    }
}

#[test]
fn unimplemented_and_probes_are_invalid_command() {
    let mut m = machine();
    for (nf, c, data) in [
        (netfn::GROUP_EXT, 0x00, &[0x00][..]),
        (netfn::GROUP_EXT, 0x01, &[0xDC, 0x01][..]),
        (netfn::APP, 0x7F, &[][..]),
        (netfn::OEM_GROUP, 0x01, &[][..]),
        (netfn::FIRMWARE, 0x00, &[][..]),
    ] {
        let r = send_as(&mut m, Privilege::User, (nf, c), data, 0);
        assert_eq!(r.completion, cc::INVALID_COMMAND, "{nf:02X}/{c:02X}");
    }
}

#[test]
fn privilege_is_enforced() {
    let mut m = machine();
    for (c, data, need) in [
        (id::CHASSIS_CONTROL, &[1u8][..], Privilege::Operator),
        (
            id::CLEAR_SEL,
            &[1, 0, b'C', b'L', b'R', 0][..],
            Privilege::Operator,
        ),
        (
            id::SET_USER_PASSWORD,
            &[0x02, 0x01][..],
            Privilege::Administrator,
        ),
        (
            id::SET_LAN_CONFIG,
            &[1, 3, 127, 0, 0, 1][..],
            Privilege::Administrator,
        ),
        (id::GET_LAN_CONFIG, &[1, 3, 0, 0][..], Privilege::Operator),
        (id::COLD_RESET, &[][..], Privilege::Administrator),
        (id::WARM_RESET, &[][..], Privilege::Administrator),
    ] {
        for p in [Privilege::Callback, Privilege::User, Privilege::Operator] {
            let r = send_as(&mut m, p, c, data, 0);
            if p < need {
                assert_eq!(
                    r.completion,
                    cc::INSUFFICIENT_PRIVILEGE,
                    "{c:02X?} as {p:?}"
                );
            } else {
                assert_ne!(
                    r.completion,
                    cc::INSUFFICIENT_PRIVILEGE,
                    "{c:02X?} as {p:?}"
                );
            }
        }
    }
    // Reading needs only User.
    let r = send_as(&mut m, Privilege::User, id::GET_SEL_INFO, &[], 0);
    assert_eq!(r.completion, cc::OK);
    let r = send_as(&mut m, Privilege::Callback, id::GET_SEL_INFO, &[], 0);
    assert_eq!(r.completion, cc::INSUFFICIENT_PRIVILEGE);
}

#[test]
fn chassis_status_and_control_follow_the_machine() {
    let mut m = machine();
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 0);
    assert_eq!(s.power & 1, 1);
    let caps: cmd::ChassisCapsResp = ok(&mut m, id::GET_CHASSIS_CAPABILITIES, &[], 0);
    assert_eq!(caps.sdr_address, 0x20);
    let cim_state = |m: &mut Machine, now| {
        let sys = machine::cim::enumerate(m, "CIM_ComputerSystem", now, false)
            .unwrap()
            .into_iter()
            .next()
            .unwrap();
        sys.get("EnabledState").cloned()
    };
    let before = cim_state(&mut m, 10);
    // Power off: the machine and the CIM projection agree.
    assert_eq!(
        send(&mut m, id::CHASSIS_CONTROL, &[0], 10).completion,
        cc::OK
    );
    assert_eq!(m.power_state(20), PowerState::Off);
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 20);
    assert_eq!(s.power & 1, 0);
    let after = cim_state(&mut m, 20);
    assert_ne!(before, after);
    assert_eq!(after, Some(machine::cim::Value::UInt(3)));
    // A cycle of an off machine is refused (0xD5); power on works and is recorded as
    // an IPMI power on.
    assert_eq!(
        send(&mut m, id::CHASSIS_CONTROL, &[2], 30).completion,
        cc::NOT_SUPPORTED_IN_STATE
    );
    assert_eq!(
        send(&mut m, id::CHASSIS_CONTROL, &[1], 30).completion,
        cc::OK
    );
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 40);
    assert_eq!((s.power & 1, s.last_event & 0x10), (1, 0x10));
    assert_eq!(cim_state(&mut m, 40), Some(machine::cim::Value::UInt(2)));
    assert_eq!(
        send(&mut m, id::CHASSIS_CONTROL, &[4], 40).completion,
        cc::OK
    );
    assert_eq!(
        send(&mut m, id::CHASSIS_CONTROL, &[9], 40).completion,
        cc::INVALID_DATA_FIELD
    );
    // Identify: 15 s by default, then off; force = indefinitely.
    assert_eq!(
        send(&mut m, id::CHASSIS_IDENTIFY, &[], 1000).completion,
        cc::OK
    );
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 2000);
    assert_eq!(s.misc & 0x30, 0x10);
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 17_000);
    assert_eq!(s.misc & 0x30, 0);
    assert_eq!(
        send(&mut m, id::CHASSIS_IDENTIFY, &[0, 1], 17_000).completion,
        cc::OK
    );
    let s: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[], 99_000);
    assert_eq!(s.misc & 0x30, 0x20);
    let poh: cmd::PohResp = ok(&mut m, id::GET_POH_COUNTER, &[], 7_300_000);
    assert_eq!(poh.minutes_per_count, 60);
    assert_eq!(u64::from(poh.counter), m.power_on_hours(7_300_000));
    assert_eq!(poh.counter, 2);
}

#[test]
fn boot_flags_round_trip() {
    let mut m = machine();
    let flags = [0xA0, 0x04, 0x00, 0x00, 0x00]; // valid, persistent? no: PXE
    assert_eq!(
        send(
            &mut m,
            id::SET_BOOT_OPTIONS,
            &[&[5u8][..], &flags].concat(),
            0
        )
        .completion,
        cc::OK
    );
    let r: cmd::ParamResp = ok(&mut m, id::GET_BOOT_OPTIONS, &[5, 0, 0], 0);
    assert_eq!(r.revision, 0x01);
    assert_eq!(r.data, [&[5u8][..], &flags].concat());
    for p in 0..=7u8 {
        let r: cmd::ParamResp = ok(&mut m, id::GET_BOOT_OPTIONS, &[p, 0, 0], 0);
        assert_eq!(r.data[0] & 0x7F, p);
    }
    // Set in progress twice: 0x81.
    assert_eq!(
        send(&mut m, id::SET_BOOT_OPTIONS, &[0, 1], 0).completion,
        cc::OK
    );
    assert_eq!(
        send(&mut m, id::SET_BOOT_OPTIONS, &[0, 1], 0).completion,
        0x81
    );
    assert_eq!(
        send(&mut m, id::SET_BOOT_OPTIONS, &[0, 0], 0).completion,
        cc::OK
    );
    // Wrong length and unknown parameters.
    assert_eq!(
        send(&mut m, id::SET_BOOT_OPTIONS, &[5, 1, 2], 0).completion,
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(
        send(&mut m, id::GET_BOOT_OPTIONS, &[0x30, 0, 0], 0).completion,
        0x80
    );
    // Marking a parameter invalid shows in bit 7.
    assert_eq!(
        send(&mut m, id::SET_BOOT_OPTIONS, &[0x85, 0, 0, 0, 0, 0], 0).completion,
        cc::OK
    );
    let r: cmd::ParamResp = ok(&mut m, id::GET_BOOT_OPTIONS, &[5, 0, 0], 0);
    assert_eq!(r.data[0], 0x85);
}

#[test]
fn sdr_walk_is_consistent_with_the_sensors() {
    let mut m = machine();
    let info: ipmi::sdr::RepositoryInfo = {
        let r = send(&mut m, id::GET_SDR_INFO, &[], 0);
        ipmi::sdr::RepositoryInfo::decode(&r.data).unwrap()
    };
    let sdrs = walk_sdr(&mut m);
    assert_eq!(usize::from(info.count), sdrs.len());
    let numeric: Vec<_> = m.numeric_sensors().to_vec();
    let discrete: Vec<_> = m.discrete_sensors().to_vec();
    assert_eq!(sdrs.len(), numeric.len() + discrete.len() + 2);
    // Record ids are unique.
    let mut ids: Vec<u16> = sdrs.iter().map(|s| s.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), sdrs.len());
    let mut seen = std::collections::BTreeSet::new();
    for sdr in &sdrs {
        if let Some(n) = sdr.record.sensor_number() {
            assert!(seen.insert(n), "sensor {n} twice");
        }
    }
    for s in &numeric {
        let full = sdrs
            .iter()
            .find_map(|r| match &r.record {
                Record::Full(f) if f.key.number == s.number() => Some(f.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no full record for {}", s.id()));
        assert_eq!(full.id.text(), s.name());
        assert_eq!(full.key.sensor_type, s.sensor_type().ipmi_code());
        assert_eq!(full.units.base, s.unit().ipmi_code());
        assert_eq!(full.key.entity_id, s.entity_id());
        // Live thresholds == the SDR's, and both == the machine's (quantized).
        let t: cmd::ThresholdsResp = ok(&mut m, id::GET_SENSOR_THRESHOLDS, &[s.number()], 0);
        assert_eq!(t.readable, full.key.readable_thresholds());
        assert_eq!(t.values, full.thresholds);
        for (th, v) in s.thresholds().present() {
            let sdr_value = full.threshold_value(th.bit()).unwrap();
            assert!(
                (sdr_value - s.quantize(v)).abs() < s.resolution() / 2.0,
                "{} {th:?}: {sdr_value} vs {v}",
                s.id()
            );
        }
        // The conversion the SDR states reproduces the machine's reading.
        for now in [0u64, 5_000, 61_000, 3_600_000] {
            let r: cmd::SensorReadingResp = ok(&mut m, id::GET_SENSOR_READING, &[s.number()], now);
            assert_eq!(r.flags & 0x60, 0x40, "scanning, reading available");
            let client = full.linear().value(r.reading);
            let machine = m.reading(s.id(), now).unwrap();
            assert!(
                (client - machine).abs() <= s.resolution() / 2.0 + 1e-9,
                "{}: SDR gives {client}, machine {machine}",
                s.id()
            );
            let status = m.threshold_status(s.id(), now).unwrap();
            assert_eq!(r.state1, Some(status.bits()));
        }
        let h: cmd::HysteresisResp = ok(&mut m, id::GET_SENSOR_HYSTERESIS, &[s.number(), 0xFF], 0);
        assert_eq!((h.positive, h.negative), (0, 0));
        let e: cmd::EventEnableResp = ok(&mut m, id::GET_SENSOR_EVENT_ENABLE, &[s.number()], 0);
        assert_eq!(e.flags & 0xC0, 0xC0);
        assert_eq!(e.assertion, Some(full.key.assertion_mask & 0x0FFF));
    }
    for d in &discrete {
        let c = sdrs
            .iter()
            .find_map(|r| match &r.record {
                Record::Compact(c) if c.key.number == d.number() => Some(c.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.id.text(), d.name());
        let r: cmd::SensorReadingResp = ok(&mut m, id::GET_SENSOR_READING, &[d.number()], 0);
        assert_eq!(r.state1, Some((d.state() & 0xFF) as u8));
        assert_eq!(
            send(&mut m, id::GET_SENSOR_THRESHOLDS, &[d.number()], 0).completion,
            cc::ILLEGAL_FOR_SENSOR
        );
    }
    assert!(
        sdrs.iter()
            .any(|s| matches!(&s.record, Record::FruLocator(l) if l.fru_device_id == 0))
    );
    assert!(
        sdrs.iter()
            .any(|s| matches!(&s.record, Record::McLocator(l) if l.slave_address == 0x20))
    );
    assert_eq!(
        send(&mut m, id::GET_SENSOR_READING, &[0xEE], 0).completion,
        cc::NOT_PRESENT
    );
}

#[test]
fn an_override_beyond_a_threshold_shows_in_the_reading_status() {
    let mut m = machine();
    let s = m.numeric_sensor("CPU1_TEMP").unwrap().clone();
    m.set_sensor("CPU1_TEMP", 96.0, 0).unwrap();
    let r: cmd::SensorReadingResp = ok(&mut m, id::GET_SENSOR_READING, &[s.number()], 0);
    // UNC and UC crossed, UNR not.
    assert_eq!(r.state1, Some(0b0001_1000));
    assert_eq!(r.reading, s.to_raw(96.0));
}

#[test]
fn sdr_reservations_and_partial_reads() {
    let mut m = machine();
    let r1: cmd::ReservationResp = ok(&mut m, id::RESERVE_SDR, &[], 0);
    let q = |res: u16, offset: u8, count: u8| {
        cmd::GetRecordReq {
            reservation: res,
            record: 0,
            offset,
            count,
        }
        .encode()
    };
    let whole: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &q(0, 0, 0xFF), 0);
    let part: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &q(r1.reservation, 10, 8), 0);
    assert_eq!(part.data, whole.data[10..18]);
    // A new reservation cancels the old one for partial reads; offset 0 needs none.
    let r2: cmd::ReservationResp = ok(&mut m, id::RESERVE_SDR, &[], 0);
    assert_ne!(r1.reservation, r2.reservation);
    assert_eq!(
        send(&mut m, id::GET_SDR, &q(r1.reservation, 10, 8), 0).completion,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(send(&mut m, id::GET_SDR, &q(0, 0, 5), 0).completion, cc::OK);
    // Too many bytes: 0xCA; a count past the end is cut.
    assert_eq!(
        send(&mut m, id::GET_SDR, &q(r2.reservation, 1, 0xF0), 0).completion,
        cc::CANNOT_RETURN_BYTES
    );
    let tail: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &q(r2.reservation, 40, 100), 0);
    assert_eq!(tail.data, whole.data[40..]);
    // Unknown record; 0xFFFF is the last record and chains to 0xFFFF.
    let bad = cmd::GetRecordReq {
        reservation: 0,
        record: 0x7777,
        offset: 0,
        count: 0xFF,
    };
    assert_eq!(
        send(&mut m, id::GET_SDR, &bad.encode(), 0).completion,
        cc::NOT_PRESENT
    );
    let last = cmd::GetRecordReq {
        record: 0xFFFF,
        ..bad
    };
    let l: cmd::GetRecordResp = ok(&mut m, id::GET_SDR, &last.encode(), 0);
    assert_eq!(l.next, 0xFFFF);
}

#[test]
fn fru_chunked_reads_reproduce_the_inventory() {
    let mut m = machine();
    let info: cmd::FruInfoResp = ok(&mut m, id::GET_FRU_INFO, &[0], 0);
    let want = m.fru_bytes();
    assert_eq!(usize::from(info.size), want.len());
    for chunk in [16u8, 32, 27] {
        let mut got = Vec::new();
        while got.len() < want.len() {
            let q = cmd::ReadFruReq {
                device: 0,
                offset: got.len() as u16,
                count: chunk,
            };
            let r: cmd::ReadFruResp = ok(&mut m, id::READ_FRU, &q.encode(), 0);
            assert!(!r.data.is_empty() && r.data.len() <= usize::from(chunk));
            got.extend_from_slice(&r.data);
        }
        assert_eq!(got, want);
    }
    let inv = ipmi::fru::Inventory::decode(&want).unwrap();
    let p = inv.product.unwrap();
    assert_eq!(p.name.text(), m.spec().fru.product.name);
    assert_eq!(
        inv.board.unwrap().manufacturer.text(),
        m.spec().fru.board.manufacturer
    );
    assert_eq!(
        send(&mut m, id::GET_FRU_INFO, &[1], 0).completion,
        cc::NOT_PRESENT
    );
    let too_many = cmd::ReadFruReq {
        device: 0,
        offset: 0,
        count: 200,
    };
    assert_eq!(
        send(&mut m, id::READ_FRU, &too_many.encode(), 0).completion,
        cc::CANNOT_RETURN_BYTES
    );
}

fn sel_walk(m: &mut Machine) -> Vec<ipmi::sel::SelRecord> {
    let mut out = Vec::new();
    let mut next = 0u16;
    while next != 0xFFFF {
        let q = cmd::GetRecordReq {
            reservation: 0,
            record: next,
            offset: 0,
            count: 0xFF,
        };
        let r: cmd::GetRecordResp = ok(m, id::GET_SEL_ENTRY, &q.encode(), 0);
        out.push(ipmi::sel::SelRecord::decode(&r.data).unwrap());
        next = r.next;
        assert!(out.len() < 10_000);
    }
    out
}

#[test]
fn sel_is_the_machines_sel() {
    let mut m = machine();
    let info = ipmi::sel::SelInfo::decode(&send(&mut m, id::GET_SEL_INFO, &[], 0).data).unwrap();
    assert_eq!(usize::from(info.entries), m.sel_entries().len());
    assert_eq!(info.support & 0x0A, 0x0A);
    let walked = sel_walk(&mut m);
    let want: Vec<[u8; 16]> = m.sel_entries().iter().map(|e| e.to_bytes()).collect();
    let got: Vec<[u8; 16]> = walked.iter().map(|r| r.encode()).collect();
    assert_eq!(got, want);

    // Add: the machine assigns id and timestamp; CIM sees the record.
    let mut rec = [0u8; 16];
    rec[2] = 0x02;
    rec[7] = 0x41;
    rec[9] = 0x04;
    rec[10] = 0x01;
    rec[11] = 0x30;
    rec[12] = 0x01;
    rec[13..].copy_from_slice(&[0x57, 0x50, 0x4B]);
    let added: cmd::RecordIdResp = ok(&mut m, id::ADD_SEL_ENTRY, &rec, 5000);
    let e = m.sel_entry(added.record).unwrap();
    assert_eq!(e.timestamp, m.sel_time(5000));
    assert_eq!(e.generator_id, 0x41);
    let logs = machine::cim::enumerate(&mut m, "CIM_LogRecord", 5000, false).unwrap();
    assert_eq!(logs.len(), m.sel_entries().len());

    // Partial read needs the current reservation.
    let res: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[], 0);
    let part = cmd::GetRecordReq {
        reservation: res.reservation,
        record: added.record,
        offset: 13,
        count: 3,
    };
    let p: cmd::GetRecordResp = ok(&mut m, id::GET_SEL_ENTRY, &part.encode(), 0);
    assert_eq!(p.data, [0x57, 0x50, 0x4B]);
    let stale = cmd::GetRecordReq {
        reservation: res.reservation.wrapping_add(7),
        ..part
    };
    assert_eq!(
        send(&mut m, id::GET_SEL_ENTRY, &stale.encode(), 0).completion,
        cc::RESERVATION_CANCELLED
    );

    // Delete needs the reservation, and cancels it.
    let del = cmd::DeleteSelReq {
        reservation: res.reservation,
        record: added.record,
    };
    let d: cmd::RecordIdResp = ok(&mut m, id::DELETE_SEL_ENTRY, &del.encode(), 6000);
    assert_eq!(d.record, added.record);
    assert!(m.sel_entry(added.record).is_none());
    assert_eq!(
        send(&mut m, id::DELETE_SEL_ENTRY, &del.encode(), 6000).completion,
        cc::RESERVATION_CANCELLED
    );
    let res: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[], 0);
    let missing = cmd::DeleteSelReq {
        reservation: res.reservation,
        record: added.record,
    };
    assert_eq!(
        send(&mut m, id::DELETE_SEL_ENTRY, &missing.encode(), 0).completion,
        cc::NOT_PRESENT
    );
}

#[test]
fn sel_clear_protocol() {
    let mut m = machine();
    assert!(!m.sel_entries().is_empty());
    let clr = |res: u16, action: u8| cmd::ClearSelReq {
        reservation: res,
        action,
    };
    // Without a reservation: 0xC5; a wrong confirmation: 0xCC.
    assert_eq!(
        send(&mut m, id::CLEAR_SEL, &clr(0x99, 0xAA).encode(), 0).completion,
        cc::RESERVATION_CANCELLED
    );
    let res: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[], 0);
    assert_eq!(
        send(
            &mut m,
            id::CLEAR_SEL,
            &[res.reservation as u8, 0, b'C', b'L', b'X', 0xAA],
            0
        )
        .completion,
        cc::INVALID_DATA_FIELD
    );
    assert!(!m.sel_entries().is_empty());
    let s: cmd::ClearSelResp = ok(
        &mut m,
        id::CLEAR_SEL,
        &clr(res.reservation, 0xAA).encode(),
        9000,
    );
    assert_eq!(s.progress & 0x0F, 1);
    assert!(m.sel_entries().is_empty());
    // Status poll with the same reservation: erased.
    let s: cmd::ClearSelResp = ok(
        &mut m,
        id::CLEAR_SEL,
        &clr(res.reservation, 0x00).encode(),
        9000,
    );
    assert_eq!(s.progress & 0x0F, 1);
    let info = ipmi::sel::SelInfo::decode(&send(&mut m, id::GET_SEL_INFO, &[], 9000).data).unwrap();
    assert_eq!(info.entries, 0);
    assert_eq!(info.last_erase, m.sel_time(9000));
    // The CIM side sees the empty log too.
    assert!(
        machine::cim::enumerate(&mut m, "CIM_LogRecord", 9000, false)
            .unwrap()
            .is_empty()
    );
    // An empty SEL: Get SEL Entry of the first record is "not present".
    let q = cmd::GetRecordReq {
        reservation: 0,
        record: 0,
        offset: 0,
        count: 0xFF,
    };
    assert_eq!(
        send(&mut m, id::GET_SEL_ENTRY, &q.encode(), 0).completion,
        cc::NOT_PRESENT
    );
}

#[test]
fn sel_time_get_and_set() {
    let mut m = machine();
    let t: cmd::SelTime = ok(&mut m, id::GET_SEL_TIME, &[], 3000);
    assert_eq!(t.time, m.spec().sel_epoch + 3);
    let set = cmd::SelTime {
        time: 2_000_000_000,
    };
    assert_eq!(
        send(&mut m, id::SET_SEL_TIME, &set.encode(), 3000).completion,
        cc::OK
    );
    let t: cmd::SelTime = ok(&mut m, id::GET_SEL_TIME, &[], 5000);
    assert_eq!(t.time, 2_000_000_002);
    assert_eq!(
        send_as(&mut m, Privilege::User, id::SET_SEL_TIME, &set.encode(), 0).completion,
        cc::INSUFFICIENT_PRIVILEGE
    );
}

#[test]
fn channels() {
    let mut m = machine();
    let i: cmd::ChannelInfoResp = ok(&mut m, id::GET_CHANNEL_INFO, &[0x0E], 0);
    assert_eq!((i.channel, i.medium, i.protocol), (1, 0x04, 0x01));
    assert_eq!(i.session_support & 0xC0, 0x80);
    assert_eq!(i.vendor_id, 7154);
    let i: cmd::ChannelInfoResp = ok(&mut m, id::GET_CHANNEL_INFO, &[1], 0);
    assert_eq!(i.channel, 1);
    assert_eq!(
        send(&mut m, id::GET_CHANNEL_INFO, &[5], 0).completion,
        cc::INVALID_DATA_FIELD
    );
    let a: cmd::ChannelAccessResp = ok(&mut m, id::GET_CHANNEL_ACCESS, &[1, 0x40], 0);
    assert_eq!(a.privilege_limit, 4);
    assert_eq!(a.access & 0x07, 0x02);
}

#[test]
fn users_through_ipmi_change_the_machine() {
    let mut m = machine();
    // User list: names and access as the machine has them.
    for u in m.users().to_vec() {
        let n: cmd::UserNameResp = ok(&mut m, id::GET_USER_NAME, &[u.id], 0);
        assert_eq!(&n.name[..u.name.len()], u.name.as_bytes());
        let a: cmd::UserAccessResp = ok(&mut m, id::GET_USER_ACCESS, &[1, u.id], 0);
        assert_eq!(a.access & 0x0F, u.privilege.ipmi_code());
        assert_eq!(a.max_users & 0x3F, 15);
    }
    let rec = Application::user_by_name(&m, b"operator").unwrap();
    assert_eq!(rec.max_privilege, Privilege::Operator);
    assert_eq!(rec.password, b"operator");
    assert!(Application::user_by_name(&m, b"nobody").is_none());

    // Create user 6: name, password, enable, privilege.
    let mut name = [0u8; 16];
    name[..4].copy_from_slice(b"newb");
    assert_eq!(
        send(&mut m, id::SET_USER_NAME, &[&[6u8][..], &name].concat(), 0).completion,
        cc::OK
    );
    let mut pw = vec![0x06, 0x02];
    pw.extend_from_slice(b"s3cret\0\0\0\0\0\0\0\0\0\0");
    assert_eq!(
        send(&mut m, id::SET_USER_PASSWORD, &pw, 0).completion,
        cc::OK
    );
    assert_eq!(
        send(&mut m, id::SET_USER_PASSWORD, &[6, 1], 0).completion,
        cc::OK
    );
    assert_eq!(
        send(&mut m, id::SET_USER_ACCESS, &[0x91, 6, 3], 0).completion,
        cc::OK
    );
    let u = m.user("newb").unwrap();
    assert_eq!((u.id, u.password.as_str(), u.enabled), (6, "s3cret", true));
    assert_eq!(u.privilege, machine::Privilege::Operator);
    assert!(m.authenticate("newb", "s3cret").is_some());
    // Test password: right, wrong.
    let mut test = pw.clone();
    test[1] = 3;
    assert_eq!(
        send(&mut m, id::SET_USER_PASSWORD, &test, 0).completion,
        cc::OK
    );
    test[2] = b'x';
    assert_eq!(
        send(&mut m, id::SET_USER_PASSWORD, &test, 0).completion,
        0x80
    );
    // No access, then disable.
    assert_eq!(
        send(&mut m, id::SET_USER_ACCESS, &[0x91, 6, 0x0F], 0).completion,
        cc::OK
    );
    assert!(!Application::user_by_name(&m, b"newb").unwrap().enabled);
    let a: cmd::UserAccessResp = ok(&mut m, id::GET_USER_ACCESS, &[1, 6], 0);
    assert_eq!(a.access & 0x0F, 0x0F);
    assert_eq!(
        send(&mut m, id::SET_USER_PASSWORD, &[6, 0], 0).completion,
        cc::OK
    );
    assert!(!m.user("newb").unwrap().enabled);
    // Duplicate names and bad ids are refused.
    let mut dup = [0u8; 16];
    dup[..5].copy_from_slice(b"admin");
    assert_eq!(
        send(&mut m, id::SET_USER_NAME, &[&[7u8][..], &dup].concat(), 0).completion,
        cc::INVALID_DATA_FIELD
    );
    assert_eq!(
        send(&mut m, id::GET_USER_NAME, &[0], 0).completion,
        cc::INVALID_DATA_FIELD
    );
    assert_eq!(
        send(&mut m, id::GET_USER_NAME, &[40], 0).completion,
        cc::INVALID_DATA_FIELD
    );
}

#[test]
fn lan_and_sol_configuration() {
    let mut m = machine();
    let get = |m: &mut Machine, c, p: u8| -> Vec<u8> {
        let r: cmd::ParamResp = ok(m, c, &[1, p, 0, 0], 0);
        assert_eq!(r.revision, 0x11);
        r.data
    };
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 3), [127, 0, 0, 1]);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 4), [1]);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 5).len(), 6);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 22), [2]);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 23), [0, 3, 17]);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 24)[..2], [0, 0x44]);
    m.set_ipmi_cipher_suites(&[0, 1, 2, 3, 17]);
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 23), [0, 0, 1, 2, 3, 17]);
    // Set: writable, read-only, unknown, wrong length, set in progress.
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 6, 255, 255, 255, 0], 0).completion,
        cc::OK
    );
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 6), [255, 255, 255, 0]);
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 22, 1], 0).completion,
        0x82
    );
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 99, 1], 0).completion,
        0x80
    );
    assert_eq!(
        send(&mut m, id::GET_LAN_CONFIG, &[1, 99, 0, 0], 0).completion,
        0x80
    );
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 3, 1], 0).completion,
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 0, 1], 0).completion,
        cc::OK
    );
    assert_eq!(get(&mut m, id::GET_LAN_CONFIG, 0), [1]);
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 0, 1], 0).completion,
        0x81
    );
    assert_eq!(
        send(&mut m, id::SET_LAN_CONFIG, &[1, 0, 0], 0).completion,
        cc::OK
    );
    // Revision only; another channel.
    let r: cmd::ParamResp = ok(&mut m, id::GET_LAN_CONFIG, &[0x81, 3, 0, 0], 0);
    assert!(r.data.is_empty());
    assert_eq!(
        send(&mut m, id::GET_LAN_CONFIG, &[3, 3, 0, 0], 0).completion,
        cc::INVALID_DATA_FIELD
    );

    // SOL: enabled, port 623, channel 1; settable bit rate.
    assert_eq!(get(&mut m, id::GET_SOL_CONFIG, 1), [1]);
    assert_eq!(get(&mut m, id::GET_SOL_CONFIG, 8), [0x6F, 0x02]);
    assert_eq!(get(&mut m, id::GET_SOL_CONFIG, 7), [1]);
    assert_eq!(
        send(&mut m, id::SET_SOL_CONFIG, &[1, 5, 0x07], 0).completion,
        cc::OK
    );
    assert_eq!(get(&mut m, id::GET_SOL_CONFIG, 5), [0x07]);
    assert_eq!(
        send(&mut m, id::SET_SOL_CONFIG, &[1, 8, 1, 2], 0).completion,
        0x82
    );
    assert_eq!(
        send_as(
            &mut m,
            Privilege::User,
            id::GET_SOL_CONFIG,
            &[1, 1, 0, 0],
            0
        )
        .completion,
        cc::OK
    );
}

#[test]
fn system_info_parameters() {
    let mut m = machine();
    let r: cmd::ParamResp = ok(&mut m, id::GET_SYSTEM_INFO, &[0, 1, 0, 0], 0);
    let fw = m.firmware_version().to_owned();
    assert_eq!(r.data[0], 0); // set selector
    assert_eq!(r.data[1], 0); // ASCII
    assert_eq!(usize::from(r.data[2]), fw.len());
    assert_eq!(&r.data[3..3 + fw.len()], fw.as_bytes());
    let r: cmd::ParamResp = ok(&mut m, id::GET_SYSTEM_INFO, &[0, 2, 0, 0], 0);
    let host = m.hostname().to_owned();
    assert_eq!(&r.data[3..3 + host.len()], host.as_bytes());
    assert_eq!(
        send(&mut m, id::GET_SYSTEM_INFO, &[0, 0x55, 0, 0], 0).completion,
        0x80
    );
}

#[test]
fn serial_over_lan_console() {
    let mut m = machine();
    let sol = m.spec().sol.clone();
    let hello = m.sol_activated(7, 0);
    let text = String::from_utf8(hello).unwrap();
    assert!(text.starts_with(&sol.banner));
    assert!(text.ends_with("touchstone-sim login: "), "{text:?}");
    // The user name is echoed; the password is not; then the user's prompt.
    let out = String::from_utf8(m.sol_input(7, b"admin\r\n", 0)).unwrap();
    assert_eq!(out, "admin\r\nPassword: ");
    let out = String::from_utf8(m.sol_input(7, b"admin\r", 0)).unwrap();
    assert_eq!(out, "\r\nadmin@touchstone-sim:~$ ");
    // Echo, then a line: the command table answers as that user, then the prompt again.
    let out = m.sol_input(7, b"host", 0);
    assert_eq!(out, b"host");
    let out = String::from_utf8(m.sol_input(7, b"name\r\n", 0)).unwrap();
    assert!(out.starts_with("name\r\n"), "{out:?}");
    assert!(out.contains("touchstone-sim\r\n"), "{out:?}");
    assert!(out.ends_with("admin@touchstone-sim:~$ "), "{out:?}");
    let out = String::from_utf8(m.sol_input(7, b"whoami\r", 0)).unwrap();
    assert!(out.contains("admin"), "{out:?}");
    // A bare newline prints the prompt again; backspace erases.
    let out = String::from_utf8(m.sol_input(7, b"\r", 0)).unwrap();
    assert_eq!(out, "\r\nadmin@touchstone-sim:~$ ");
    let out = m.sol_input(7, b"ab\x7f", 0);
    assert_eq!(out, b"ab\x08 \x08");
    // Without echo nothing but answers comes back; no login prompt: straight in.
    let mut spec = MachineSpec::default();
    spec.sol.echo = false;
    spec.sol.login_prompt = String::new();
    spec.sol.prompt = "$ ".into();
    let mut m = Machine::new(spec, 0).unwrap();
    let hello = String::from_utf8(m.sol_activated(1, 0)).unwrap();
    assert!(hello.ends_with("$ "), "{hello:?}");
    // An unknown command is answered as cmd.exe answers it, then the prompt.
    let out = String::from_utf8(m.sol_input(1, b"xyz\r", 0)).unwrap();
    assert!(out.starts_with("'xyz' is not recognized"), "{out:?}");
    assert!(out.ends_with("batch file.\r\n$ "), "{out:?}");
}

#[test]
fn the_sol_login_refuses_wrong_credentials_and_asks_again() {
    let mut m = machine();
    m.sol_activated(3, 0);
    // A user name alone is never run as a command.
    let out = String::from_utf8(m.sol_input(3, b"admin\r", 0)).unwrap();
    assert!(!out.contains("not recognized"), "{out:?}");
    assert!(out.ends_with("Password: "), "{out:?}");
    // A wrong password: not echoed, "Login incorrect", then login: again.
    let out = String::from_utf8(m.sol_input(3, b"wrong\r", 0)).unwrap();
    assert!(!out.contains("wrong"), "{out:?}");
    assert_eq!(out, "\r\n\r\nLogin incorrect\r\ntouchstone-sim login: ");
    // An unknown user is refused the same way, whatever the password.
    m.sol_input(3, b"nobody\r", 0);
    let out = String::from_utf8(m.sol_input(3, b"admin\r", 0)).unwrap();
    assert!(out.contains("Login incorrect"), "{out:?}");
    // An empty name asks for the name again.
    let out = String::from_utf8(m.sol_input(3, b"\r", 0)).unwrap();
    assert_eq!(out, "\r\ntouchstone-sim login: ");
    // Another scenario user logs in with its own password.
    let user = m
        .users()
        .iter()
        .find(|u| u.name != "admin" && u.enabled)
        .cloned()
        .expect("the default scenario has a second user");
    m.sol_input(3, format!("{}\r", user.name).as_bytes(), 0);
    let out =
        String::from_utf8(m.sol_input(3, format!("{}\r", user.password).as_bytes(), 0)).unwrap();
    assert!(
        out.ends_with(&format!("{}@touchstone-sim:~$ ", user.name)),
        "{out:?}"
    );
    // Another session starts at login: again.
    let hello = String::from_utf8(m.sol_activated(4, 0)).unwrap();
    assert!(hello.ends_with("login: "), "{hello:?}");
}

#[test]
fn the_sol_section_is_read_from_a_scenario() {
    #[derive(serde::Deserialize)]
    struct S {
        machine: MachineSpec,
    }
    let s: S = toml::from_str("[machine.sol]\nprompt = \"# \"\necho = false\n").unwrap();
    assert_eq!(s.machine.sol.prompt, "# ");
    assert_eq!(
        s.machine.sol.login_prompt,
        MachineSpec::default().sol.login_prompt
    );
    assert!(!s.machine.sol.echo);
    assert_eq!(s.machine.sol.banner, MachineSpec::default().sol.banner);
    assert!(toml::from_str::<S>("[machine.sol]\npromt = \"# \"\n").is_err());
}

#[test]
fn no_request_panics() {
    let mut m = machine();
    let mut seed = 0x1234_5678_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let nf = [0u8, 4, 6, 0x0A, 0x0C, 0x2C][(next() % 6) as usize];
        let c = (next() % 0x60) as u8;
        let len = (next() % 24) as usize;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Avoid hard power actions changing the machine under the loop: that is fine
        // too, but keep it at Operator sometimes.
        let p = if next() % 2 == 0 {
            Privilege::Administrator
        } else {
            Privilege::User
        };
        let r = send_as(&mut m, p, (nf, c), &data, next() % 10_000_000);
        assert!(r.completion == cc::OK || r.completion >= 0x80);
    }
}

mod conversion {
    use super::*;
    use machine::SensorType;
    use machine::spec::SensorSpec;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// Any sensor a scenario can describe: the SDR the BMC generates converts the
        /// raw reading back to the machine's reading within the SDR resolution.
        #[test]
        fn sdr_conversion_matches_reading(m in 1u32..=500, e in -3i32..=1, o in -5000i32..=5000,
                                          k in 0u32..=255, frac in -0.49f64..0.49) {
            let res = f64::from(m) * 10f64.powi(e);
            let offset = f64::from(o) / 100.0;
            let value = offset + (f64::from(k) + frac) * res;
            let s = SensorSpec {
                resolution: res,
                offset,
                ..SensorSpec::new("S", "S", SensorType::Voltage, value)
            };
            let spec = MachineSpec { sensors: vec![s], discrete_sensors: vec![], sel: vec![], ..MachineSpec::default() };
            // Offsets IPMI cannot express are refused at load (tested below); the rest
            // must agree.
            let mach = Machine::new(spec, 0);
            prop_assume!(mach.is_ok());
            let mut mach = mach.unwrap();
            let sdrs = walk_sdr(&mut mach);
            let Record::Full(full) = &sdrs[0].record else { panic!("first record is not a full sensor") };
            let r: cmd::SensorReadingResp = ok(&mut mach, id::GET_SENSOR_READING, &[full.key.number], 0);
            let client = full.linear().value(r.reading);
            let reading = mach.reading("S", 0).unwrap();
            prop_assert!((client - reading).abs() <= res / 2.0 + 1e-9 * reading.abs().max(1.0),
                "res {} offset {} raw {}: SDR {} machine {}", res, offset, r.reading, client, reading);
        }
    }
}

#[test]
fn an_offset_ipmi_cannot_express_is_refused_with_a_reason() {
    use machine::SensorType;
    use machine::spec::SensorSpec;
    let s = SensorSpec {
        resolution: 0.01,
        offset: 5.12,
        ..SensorSpec::new("S", "S", SensorType::Voltage, 6.0)
    };
    let spec = MachineSpec {
        sensors: vec![s],
        discrete_sensors: vec![],
        sel: vec![],
        ..MachineSpec::default()
    };
    let e = Machine::new(spec, 0).unwrap_err().to_string();
    assert!(e.contains("offset") && e.contains("SDR"), "{e}");
}

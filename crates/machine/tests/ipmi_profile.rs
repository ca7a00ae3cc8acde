//! The BMC profile (`machine::ipmi::IpmiProfile`): what a scenario's `[ipmi]` table
//! changes in the machine's IPMI answers (device support, read size, SOL, SDR order,
//! unimplemented commands) and the seeded reservation defect.

use ipmi::app::{Application, Request, Response, SessionView};
use ipmi::cmd::{self, Wire, id};
use ipmi::codes::{Privilege, cc};
use ipmi::sdr::{Record, Sdr};
use machine::ipmi::IpmiProfile;
use machine::{Machine, MachineSpec};

fn machine(profile: IpmiProfile) -> Machine {
    let mut m = Machine::new(MachineSpec::default(), 0).unwrap();
    m.set_ipmi_profile(profile);
    m
}

fn send(m: &mut Machine, c: (u8, u8), data: &[u8]) -> Response {
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
            privilege: Privilege::Administrator,
            channel: 1,
        }),
    };
    m.handle(&req, 0)
}

fn ok<T: Wire>(m: &mut Machine, c: (u8, u8), data: &[u8]) -> T {
    let r = send(m, c, data);
    assert_eq!(r.completion, cc::OK, "{c:02X?} {data:02X?} -> {r:02X?}");
    T::decode(&r.data).unwrap_or_else(|e| panic!("{c:02X?}: {e} in {:02X?}", r.data))
}

fn get_sdr(m: &mut Machine, reservation: u16, record: u16, offset: u8, count: u8) -> Response {
    let q = cmd::GetRecordReq {
        reservation,
        record,
        offset,
        count,
    };
    send(m, id::GET_SDR, &q.encode())
}

fn reserve_sdr(m: &mut Machine) -> u16 {
    let r: cmd::ReservationResp = ok(m, id::RESERVE_SDR, &[]);
    r.reservation
}

fn small() -> IpmiProfile {
    IpmiProfile {
        max_read: 16,
        ..IpmiProfile::default()
    }
}

#[test]
fn get_sdr_above_max_read_is_0xca_and_at_it_is_data() {
    let mut m = machine(small());
    let rsv = reserve_sdr(&mut m);
    // The first record is a full sensor record (well over 16 bytes).
    let r = get_sdr(&mut m, rsv, 0, 0, 17);
    assert_eq!(r.completion, cc::CANNOT_RETURN_BYTES, "{r:02X?}");
    assert!(r.data.is_empty());
    let r = get_sdr(&mut m, rsv, 0, 0, 16);
    assert_eq!(r.completion, cc::OK, "{r:02X?}");
    let got = cmd::GetRecordResp::decode(&r.data).unwrap();
    assert_eq!(got.data.len(), 16);
    // "Whole record" with more than 16 bytes left: 0xCA; the last 16 bytes: data.
    assert_eq!(
        get_sdr(&mut m, rsv, 0, 0, 0xFF).completion,
        cc::CANNOT_RETURN_BYTES
    );
    let whole = m.sdr_repository()[0].encode();
    let tail = (whole.len() - 16) as u8;
    let r = get_sdr(&mut m, rsv, 0, tail, 0xFF);
    assert_eq!(r.completion, cc::OK, "{r:02X?}");
    let got = cmd::GetRecordResp::decode(&r.data).unwrap();
    assert_eq!(got.data, whole[whole.len() - 16..]);
    // The default BMC reads a whole record at once.
    let mut d = machine(IpmiProfile::default());
    let rsv = reserve_sdr(&mut d);
    assert_eq!(get_sdr(&mut d, rsv, 0, 0, 0xFF).completion, cc::OK);
    assert_eq!(get_sdr(&mut d, rsv, 0, 0, 17).completion, cc::OK);
}

#[test]
fn sdr_read_in_16_byte_pieces_reproduces_each_record() {
    let mut m = machine(small());
    let rsv = reserve_sdr(&mut m);
    let repo = m.sdr_repository();
    let mut next = 0u16;
    let mut n = 0;
    while next != 0xFFFF {
        let head: cmd::GetRecordResp =
            cmd::GetRecordResp::decode(&get_sdr(&mut m, rsv, next, 0, 5).data).unwrap();
        let total = 5 + usize::from(head.data[4]);
        let mut bytes = head.data.clone();
        while bytes.len() < total {
            let want = (total - bytes.len()).min(16) as u8;
            let r = get_sdr(&mut m, rsv, next, bytes.len() as u8, want);
            assert_eq!(r.completion, cc::OK, "{r:02X?}");
            bytes.extend(cmd::GetRecordResp::decode(&r.data).unwrap().data);
        }
        assert_eq!(bytes, repo[n].encode());
        n += 1;
        next = head.next;
    }
    assert_eq!(n, repo.len());
}

#[test]
fn read_fru_above_max_read_is_0xca() {
    let mut m = machine(small());
    let read = |m: &mut Machine, count: u8| {
        let q = cmd::ReadFruReq {
            device: 0,
            offset: 0,
            count,
        };
        send(m, id::READ_FRU, &q.encode())
    };
    assert_eq!(read(&mut m, 17).completion, cc::CANNOT_RETURN_BYTES);
    let r = read(&mut m, 16);
    assert_eq!(r.completion, cc::OK);
    let got = cmd::ReadFruResp::decode(&r.data).unwrap();
    assert_eq!(got.data, m.fru_bytes()[..16]);
}

#[test]
fn device_support_is_the_profiles_in_get_device_id_and_the_mc_locator() {
    let mut m = machine(IpmiProfile {
        device_support: 0x80,
        ..IpmiProfile::default()
    });
    let d: cmd::GetDeviceIdResp = ok(&mut m, id::GET_DEVICE_ID, &[]);
    assert_eq!(d.additional_support, 0x80);
    let mc = m
        .sdr_repository()
        .into_iter()
        .find_map(|s| match s.record {
            Record::McLocator(l) => Some(l),
            _ => None,
        })
        .expect("an MC locator");
    assert_eq!(mc.capabilities, 0x80);
    let mut d = machine(IpmiProfile::default());
    let id: cmd::GetDeviceIdResp = ok(&mut d, id::GET_DEVICE_ID, &[]);
    assert_eq!(id.additional_support, machine::ipmi::DEVICE_SUPPORT);
}

#[test]
fn mc_locator_first_keeps_a_valid_chain() {
    let mut m = machine(IpmiProfile {
        mc_locator_first: true,
        ..IpmiProfile::default()
    });
    let repo: Vec<Sdr> = m.sdr_repository();
    assert!(matches!(repo[0].record, Record::McLocator(_)), "{repo:?}");
    assert_eq!(repo[0].id, 1);
    assert!(!matches!(repo.last().unwrap().record, Record::McLocator(_)));
    // Walk the chain over IPMI: IDs 1, 2, ... then 0xFFFF, each record once.
    let rsv = reserve_sdr(&mut m);
    let mut next = 0u16;
    let mut seen = Vec::new();
    while next != 0xFFFF {
        let r = get_sdr(&mut m, rsv, next, 0, 0xFF);
        assert_eq!(r.completion, cc::OK, "{r:02X?}");
        let got = cmd::GetRecordResp::decode(&r.data).unwrap();
        let sdr = Sdr::decode(&got.data).unwrap();
        seen.push(sdr.id);
        assert!(seen.len() <= repo.len(), "the chain loops: {seen:?}");
        next = got.next;
    }
    let expect: Vec<u16> = (1..=repo.len() as u16).collect();
    assert_eq!(seen, expect);
    // The same records as the default order, the MC locator moved.
    let d = machine(IpmiProfile::default()).sdr_repository();
    assert_eq!(d.len(), repo.len());
    assert!(matches!(d.last().unwrap().record, Record::McLocator(_)));
}

#[test]
fn sol_off_refuses_the_sol_configuration_parameters() {
    let mut m = machine(IpmiProfile {
        sol: false,
        ..IpmiProfile::default()
    });
    // Get SOL Configuration Parameters: channel 1, parameter 1 (enable), set 0, block 0.
    let r = send(&mut m, id::GET_SOL_CONFIG, &[0x01, 0x01, 0x00, 0x00]);
    assert_eq!(r.completion, cc::INVALID_COMMAND);
    let r = send(&mut m, id::SET_SOL_CONFIG, &[0x01, 0x01, 0x01]);
    assert_eq!(r.completion, cc::INVALID_COMMAND);
    let mut d = machine(IpmiProfile::default());
    let r = send(&mut d, id::GET_SOL_CONFIG, &[0x01, 0x01, 0x00, 0x00]);
    assert_eq!(r.completion, cc::OK);
}

#[test]
fn unsupported_commands_and_netfns_are_invalid_command() {
    let mut m = machine(IpmiProfile {
        unsupported: vec![(0x04, None), (0x0A, None), (0x00, Some(0x0F))],
        ..IpmiProfile::default()
    });
    assert_eq!(
        send(&mut m, id::GET_SENSOR_READING, &[1]).completion,
        cc::INVALID_COMMAND
    );
    assert_eq!(
        send(&mut m, id::GET_SDR_INFO, &[]).completion,
        cc::INVALID_COMMAND
    );
    assert_eq!(
        send(&mut m, id::RESERVE_SDR, &[]).completion,
        cc::INVALID_COMMAND
    );
    assert_eq!(
        send(&mut m, id::GET_SEL_INFO, &[]).completion,
        cc::INVALID_COMMAND
    );
    assert_eq!(
        send(&mut m, id::GET_POH_COUNTER, &[]).completion,
        cc::INVALID_COMMAND
    );
    // What is not listed still works.
    let _: cmd::ChassisStatusResp = ok(&mut m, id::GET_CHASSIS_STATUS, &[]);
    let _: cmd::GetDeviceIdResp = ok(&mut m, id::GET_DEVICE_ID, &[]);
}

#[test]
fn ignored_reservations_accept_zero_and_superseded_ones() {
    let profile = IpmiProfile {
        ignore_reservations: true,
        ..IpmiProfile::default()
    };
    let mut m = machine(profile);
    let old = reserve_sdr(&mut m);
    let _new = reserve_sdr(&mut m);
    assert_eq!(get_sdr(&mut m, old, 0, 5, 4).completion, cc::OK);
    assert_eq!(get_sdr(&mut m, 0, 0, 5, 4).completion, cc::OK);
    let entries = m.sel_entries().len();
    assert!(entries >= 2);
    let r: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[]);
    let _: cmd::ReservationResp = ok(&mut m, id::RESERVE_SEL, &[]);
    let mut del = r.reservation.to_le_bytes().to_vec();
    del.extend_from_slice(&[0x00, 0x00]);
    assert_eq!(send(&mut m, id::DELETE_SEL_ENTRY, &del).completion, cc::OK);
    assert_eq!(m.sel_entries().len(), entries - 1);
    let mut clear = vec![0x00, 0x00];
    clear.extend_from_slice(b"CLR");
    clear.push(0xAA);
    assert_eq!(send(&mut m, id::CLEAR_SEL, &clear).completion, cc::OK);
    assert_eq!(m.sel_entries().len(), 0);

    // The default BMC refuses all of these with 0xC5.
    let mut d = machine(IpmiProfile::default());
    let old = reserve_sdr(&mut d);
    let _new = reserve_sdr(&mut d);
    assert_eq!(
        get_sdr(&mut d, old, 0, 5, 4).completion,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(
        get_sdr(&mut d, 0, 0, 5, 4).completion,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(
        send(&mut d, id::DELETE_SEL_ENTRY, &del).completion,
        cc::RESERVATION_CANCELLED
    );
    assert_eq!(
        send(&mut d, id::CLEAR_SEL, &clear).completion,
        cc::RESERVATION_CANCELLED
    );
}

#[test]
fn the_guid_goes_out_reversed() {
    let m = machine(IpmiProfile::default());
    let text = m.guid_bytes();
    let wire = Application::guid(&m);
    for i in 0..16 {
        assert_eq!(wire[i], text[15 - i], "byte {i}");
    }
    assert_eq!(machine::ipmi::guid_from_wire(wire), text);
}

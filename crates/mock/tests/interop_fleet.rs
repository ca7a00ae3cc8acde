//! Interop: real clients against two different machines of one fleet. ipmitool
//! (`-I lanplus -H <machine's own IP>`) reads each machine's GUID and LAN address, and
//! pywinrm runs `hostname` in each machine's remote shell: every answer is that
//! machine's own, as the inventory lists it. Skipped locally (with the reason) when a
//! client is missing; a failure under `CI=true`.

mod interop;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use interop::{DEADLINE, Requirement, run_with_deadline};
use mock::fleet::{Fleet, FleetConfig};

async fn fleet(first: Ipv4Addr) -> Fleet {
    let mut c = FleetConfig::new(
        mock::Scenario::default_scenario(),
        mock::scenario::DEFAULT_TOML.into(),
        16,
    );
    c.spec.first_ip = first;
    c.spec.http_port = Some(0);
    c.spec.ipmi_port = Some(0);
    Fleet::start(c).await.expect("the fleet starts")
}

#[cfg_attr(
    not(has_ipmitool),
    ignore = "ipmitool is not installed: apt-get update && apt-get install -y ipmitool"
)]
#[tokio::test(flavor = "multi_thread")]
async fn ipmitool_reaches_each_machine_at_its_own_address() {
    if !Requirement::program("ipmitool", &["-V"], "apt-get install ipmitool")
        .check("interop_fleet_ipmitool")
    {
        return;
    }
    let fleet = fleet(Ipv4Addr::new(127, 5, 0, 1)).await;
    let inv = fleet.inventory();
    let expected_guids: Vec<String> = [2usize, 13]
        .iter()
        .map(|&i| mock::fleet::plan::identity(&fleet_spec(), i).guid)
        .collect();
    for (k, i) in [2usize, 13].into_iter().enumerate() {
        let addr: SocketAddr = inv.machines[i].ipmi.as_deref().unwrap().parse().unwrap();
        let run = move |args: &[&str]| {
            let mut c = Command::new("ipmitool");
            c.args([
                "-I",
                "lanplus",
                "-H",
                &addr.ip().to_string(),
                "-p",
                &addr.port().to_string(),
            ])
            .args(["-U", "admin", "-P", "admin"])
            .args(args);
            let out = run_with_deadline(&mut c, DEADLINE);
            assert!(out.success(), "{}", out.report());
            out.stdout.clone()
        };
        let (guid, lan) = tokio::task::spawn_blocking(move || {
            (run(&["mc", "guid"]), run(&["lan", "print", "1"]))
        })
        .await
        .unwrap();
        assert!(guid.contains(&expected_guids[k]), "machine {i}: {guid}");
        let own_ip = format!("IP Address              : {}", addr.ip());
        assert!(lan.contains(&own_ip), "machine {i}: {lan}");
        assert!(
            lan.contains(&format!("02:54:53:00:00:{i:02x}")),
            "machine {i}: {lan}"
        );
    }
    assert_eq!(fleet.built(), 2, "only the two machines asked were built");
    fleet.shutdown().await;
}

fn fleet_spec() -> mock::fleet::FleetSpec {
    mock::fleet::FleetSpec {
        first_ip: Ipv4Addr::new(127, 5, 0, 1),
        ..Default::default()
    }
}

#[cfg_attr(
    not(has_pywinrm),
    ignore = "pywinrm is not installed: python3 -m pip install pywinrm"
)]
#[tokio::test(flavor = "multi_thread")]
async fn pywinrm_runs_a_command_on_each_machine_and_hears_its_own_host_name() {
    if !Requirement::python_module("winrm", "pip install pywinrm").check("interop_fleet_pywinrm") {
        return;
    }
    let fleet = fleet(Ipv4Addr::new(127, 5, 1, 1)).await;
    let inv = fleet.inventory();
    for i in [5usize, 11] {
        let url = inv.machines[i].wsman_url.clone().unwrap();
        let out = tokio::task::spawn_blocking(move || {
            let mut c = interop::python3();
            c.arg("-c").arg(
                "import sys, winrm\n\
                 r = winrm.Session(sys.argv[1], auth=('admin', 'admin'), transport='basic').run_cmd('hostname')\n\
                 print(r.status_code, r.std_out.decode().strip())",
            );
            c.arg(&url);
            run_with_deadline(&mut c, DEADLINE)
        })
        .await
        .unwrap();
        assert!(out.success(), "{}", out.report());
        assert_eq!(
            out.stdout.trim(),
            format!("0 node-{i:05}"),
            "{}",
            out.report()
        );
    }
    fleet.shutdown().await;
}

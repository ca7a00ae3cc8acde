//! The library API end to end: a mock on loopback, a typed WS-Man mock and an IPMI
//! mock with expectations, a client talking to both, and the typed journal.
//!
//! `cargo run -p mock --example library`

use std::time::Duration;

use client::ipmi::{IpmiSession, IpmiTarget};
use mock::{FaultKind, IpmiMock, IpmiRespond, Mock, MockServer, Respond, operation};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = MockServer::builder().ipmi(true).start().await?;
    println!(
        "WS-Man at {}, IPMI at {:?}",
        server.url(),
        server.ipmi_addr()
    );

    // The first Get of a sensor is slow (then answered as usual), the next one denied.
    Mock::given(operation("Get").resource("CIM_NumericSensor"))
        .respond_with(Respond::delay(Duration::from_millis(200)))
        .then_respond_with(Respond::fault(FaultKind::AccessDenied))
        .named("fans")
        .expect(2)
        .mount(&server)
        .await?;
    // Get Device ID answers made-up data.
    IpmiMock::given(0x06, 0x01)
        .respond_with(IpmiRespond::data([0x20, 0x81, 0x01, 0x02]))
        .expect(1)
        .mount(&server)
        .await?;

    let wsman =
        client::Client::new(client::Target::new(server.url()).credentials("admin", "admin"))?;
    for _ in 0..2 {
        let get = wsman
            .request("http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_NumericSensor")
            .selector("CreationClassName", "CIM_NumericSensor")
            .selector("DeviceID", "FAN1")
            .selector("SystemCreationClassName", "CIM_ComputerSystem")
            .selector("SystemName", "touchstone-sim")
            .get();
        let x = wsman.send(&get).await?;
        println!(
            "Get FAN1: HTTP {:?} in {:?}, fault {:?}",
            x.status(),
            x.elapsed,
            x.fault().and_then(|f| f.subcode)
        );
    }
    let addr = server.ipmi_addr().ok_or("IPMI is not listening")?;
    let mut bmc = IpmiSession::open(&IpmiTarget::new(addr, "admin", "admin"), 1).await?;
    let id = bmc.sessionless(0x06, 0x01, &[], false).await?;
    println!(
        "Get Device ID: cc {:#04x}, data {:02x?}",
        id.completion, id.data
    );

    println!("Received:");
    for r in server.received_requests() {
        println!("  {r}");
    }
    server.verify()?;
    server.shutdown().await;
    Ok(())
}

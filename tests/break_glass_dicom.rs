//! Break-glass on a DICOM route, end to end with DCMTK: in an emergency a modality whose AE title
//! nobody registered can still verify and store to the PACS while an operator's grant is in
//! force; every association judged under it is audited as such, and it reverts by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::dicom::*;
use wardgate_proxy::breakglass::{BreakGlass, Request};
use wardgate_proxy::clock::ManualClock;

async fn echo_as(bed: &DicomBed, calling: &str) -> Output {
    let port = bed.port();
    run(
        &dcmtk("echoscu"),
        &["-aet", calling, "-aec", "STORESCP", "127.0.0.1", &port],
    )
    .await
}

#[tokio::test]
async fn an_unregistered_modality_passes_only_while_the_route_is_under_break_glass() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let refused = echo_as(&bed, "PORTABLE9").await;
    assert!(!refused.status.success(), "{}", refused.text());
    assert!(
        refused.text().contains("Calling AE Title Not Recognized"),
        "{}",
        refused.text()
    );

    let clock = Arc::new(ManualClock::at(SystemTime::now()));
    let glass = BreakGlass::new(bed.routes.clone(), Duration::from_secs(3600), clock.clone());
    let grant = glass
        .activate(
            Request {
                route: "pacs".into(),
                rule: None,
                duration: Duration::from_secs(15 * 60),
                reason: "trauma bay portable X-ray not yet registered".into(),
                operator: "radiology on call".into(),
            },
            "127.0.0.1",
        )
        .unwrap();

    let passed = echo_as(&bed, "PORTABLE9").await;
    assert!(passed.status.success(), "{}", passed.text());
    let rq = bed
        .audit_where(2, |r| r["message_type"] == "A-ASSOCIATE-RQ")
        .await;
    let under = rq.last().unwrap();
    assert_eq!(under["verdict"], "audit-deny", "{under}");
    assert_eq!(under["break_glass"][0]["id"], grant.id, "{under}");
    assert!(
        under["audit"].to_string().contains("PORTABLE9"),
        "the registry's refusal is recorded: {under}"
    );

    // Fifteen minutes later the grant has expired: refused again.
    clock.advance(Duration::from_secs(15 * 60 + 1));
    let after = echo_as(&bed, "PORTABLE9").await;
    assert!(!after.status.success(), "{}", after.text());
    let expired = bed
        .audit_where(1, |r| r["verdict"] == "break-glass-expired")
        .await;
    assert_eq!(expired.len(), 1, "{expired:?}");
}

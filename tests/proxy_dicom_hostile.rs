//! Peers that break the rules of a `dicom` route, scripted byte by byte: input that is not DICOM
//! at all, lengths that lie, PDUs out of order or cut short, a P-DATA-TF longer than the
//! acceptor announced it can take, an acceptor sending a request its role does not allow. Each
//! is refused (A-ABORT) or closed, audited, and nothing of it reaches the other side.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dicom::*;

const VERIFICATION: &str = "1.2.840.10008.1.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";

/// Send `bytes` raw to a proxy whose upstream records everything; expect one A-ABORT with
/// `reason`, then the close, and nothing upstream.
async fn refused_raw(bytes: &[u8], reason: u8) {
    let recorder = Recorder::start().await;
    let mut bed = DicomBed::start(recorder.addr, false).await;
    let got = exchange_raw(bed.proxy, bytes).await;
    assert_eq!(got, abort_pdu(reason), "expected A-ABORT reason {reason}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(recorder.saw_nothing(), "bytes reached the upstream");
    let malformed = bed.audit_where(1, |r| r["verdict"] == "malformed").await;
    assert_eq!(malformed.len(), 1, "{:?}", bed.audit.records());
    assert_eq!(malformed[0]["forwarded"], false);
    bed.shutdown().await;
}

#[tokio::test]
async fn an_http_request_to_the_dicom_port_is_aborted() {
    refused_raw(b"GET / HTTP/1.1\r\nHost: pacs\r\n\r\n", 1).await;
}

#[tokio::test]
async fn a_pdu_declaring_4_gib_is_aborted_on_sight() {
    refused_raw(&[0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xFF], 6).await;
}

#[tokio::test]
async fn p_data_before_association_is_aborted() {
    refused_raw(&p_data(1, 0x03, &[0; 8]), 2).await;
}

#[tokio::test]
async fn a_truncated_associate_rq_is_aborted() {
    let mut rq = associate_rq("MODALITY", "STORESCP", &[(1, VERIFICATION, IMPLICIT_LE)]);
    // Cut the user information item short but keep the PDU length consistent.
    rq.truncate(rq.len() - 3);
    let body = (rq.len() - 6) as u32;
    rq[2..6].copy_from_slice(&body.to_be_bytes());
    refused_raw(&rq, 6).await;
}

#[tokio::test]
async fn a_ten_thousand_item_presentation_context_list_is_aborted() {
    let contexts: Vec<(u8, &str, &str)> = (0..10_000)
        .map(|i| (((i * 2 + 1) % 256) as u8, "1.2", "1.2"))
        .collect();
    let rq = associate_rq("MODALITY", "STORESCP", &contexts);
    assert!(
        rq.len() < 256 * 1024,
        "fits the PDU limit: the decoder must refuse it"
    );
    refused_raw(&rq, 6).await;
}

#[tokio::test]
async fn a_truncated_rq_followed_by_eof_is_closed_without_forwarding() {
    let recorder = Recorder::start().await;
    let bed = DicomBed::start(recorder.addr, false).await;
    let rq = associate_rq("MODALITY", "STORESCP", &[(1, VERIFICATION, IMPLICIT_LE)]);
    let mut s = tokio::net::TcpStream::connect(bed.proxy).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&rq[..rq.len() / 2]).await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(rest.is_empty());
    let closed = bed.audit_where(1, |r| r["verdict"] == "closed").await;
    assert_eq!(closed.len(), 1);
    assert!(recorder.saw_nothing());
}

#[tokio::test]
async fn p_data_longer_than_the_acceptor_can_receive_is_aborted_before_it_reaches_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limit = std::time::Duration::from_secs(10);
    // storescp announces in its A-ASSOCIATE-AC that it takes P-DATA-TF of at most 4096 bytes.
    let scp = StoreScp::start(&["--max-pdu", "4096"]).await;
    let mut bed = DicomBed::start(scp.addr, false).await;
    let mut s = tokio::net::TcpStream::connect(bed.proxy).await.unwrap();
    let rq = associate_rq("MODALITY", "STORESCP", &[(1, VERIFICATION, IMPLICIT_LE)]);
    s.write_all(&rq).await.unwrap();
    let mut head = [0u8; 6];
    tokio::time::timeout(limit, s.read_exact(&mut head))
        .await
        .expect("an answer to the RQ")
        .unwrap();
    assert_eq!(
        head[0], 0x02,
        "expected A-ASSOCIATE-AC, got PDU type {}",
        head[0]
    );
    let mut ac = vec![0u8; u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize];
    tokio::time::timeout(limit, s.read_exact(&mut ac))
        .await
        .expect("the whole AC")
        .unwrap();
    // A command fragment of 5000 bytes: a P-DATA-TF variable field of 5006 bytes.
    let _ = s.write_all(&p_data(1, 0x03, &[0; 5000])).await;
    let mut rest = Vec::new();
    tokio::time::timeout(limit, s.read_to_end(&mut rest))
        .await
        .expect("the proxy answers and closes")
        .unwrap();
    assert_eq!(rest, abort_pdu(6));
    let malformed = bed.audit_where(1, |r| r["verdict"] == "malformed").await;
    assert_eq!(malformed[0]["message_type"], "P-DATA-TF");
    assert_eq!(malformed[0]["forwarded"], false);
    let reason = malformed[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("5006 bytes") && reason.contains("4096-byte maximum"),
        "{reason}"
    );
    bed.shutdown().await;
}

fn c_echo_rq_command(message_id: u16) -> Vec<u8> {
    let el = |tag: u16, value: &[u8]| {
        let mut v = vec![0, 0];
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&(value.len() as u32).to_le_bytes());
        v.extend_from_slice(value);
        v
    };
    let mut rest = el(0x0002, b"1.2.840.10008.1.1\0");
    rest.extend(el(0x0100, &0x0030u16.to_le_bytes()));
    rest.extend(el(0x0110, &message_id.to_le_bytes()));
    rest.extend(el(0x0800, &0x0101u16.to_le_bytes()));
    let mut cmd = el(0x0000, &(rest.len() as u32).to_le_bytes());
    cmd.extend(rest);
    cmd
}

/// Read one whole PDU (bounded wait).
async fn read_pdu(s: &mut tokio::net::TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let limit = std::time::Duration::from_secs(10);
    let mut pdu = vec![0u8; 6];
    tokio::time::timeout(limit, s.read_exact(&mut pdu))
        .await
        .expect("a PDU in time")
        .unwrap();
    let len = u32::from_be_bytes([pdu[2], pdu[3], pdu[4], pdu[5]]) as usize;
    pdu.resize(6 + len, 0);
    tokio::time::timeout(limit, s.read_exact(&mut pdu[6..]))
        .await
        .expect("the PDU's body in time")
        .unwrap();
    pdu
}

#[tokio::test]
async fn a_request_from_an_acceptor_without_the_role_to_send_it_aborts_the_association() {
    use tokio::io::AsyncWriteExt;
    // A scripted SCP: it accepts the association, then sends the modality a C-ECHO-RQ of its
    // own, a request only an SCU may send (no role selection was negotiated).
    let scp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut bed = DicomBed::start(scp.local_addr().unwrap(), false).await;
    let mut modality = tokio::net::TcpStream::connect(bed.proxy).await.unwrap();
    let rq = associate_rq("MODALITY", "STORESCP", &[(1, VERIFICATION, IMPLICIT_LE)]);
    modality.write_all(&rq).await.unwrap();
    let (mut acceptor, _) = tokio::time::timeout(std::time::Duration::from_secs(10), scp.accept())
        .await
        .expect("the proxy connects upstream")
        .unwrap();
    assert_eq!(read_pdu(&mut acceptor).await, rq);
    let ac = associate_ac("MODALITY", "STORESCP", &[(1, IMPLICIT_LE)]);
    acceptor.write_all(&ac).await.unwrap();
    assert_eq!(
        read_pdu(&mut modality).await,
        ac,
        "the AC is forwarded as sent"
    );
    acceptor
        .write_all(&p_data(1, 0x03, &c_echo_rq_command(7)))
        .await
        .unwrap();
    assert_eq!(read_pdu(&mut modality).await, abort_pdu(0));
    assert_eq!(read_pdu(&mut acceptor).await, abort_pdu(5));
    let denied = bed.audit_where(1, |r| r["verdict"] == "deny").await;
    assert_eq!(denied[0]["direction"], "outbound");
    assert_eq!(denied[0]["message_type"], "C-ECHO-RQ");
    assert_eq!(denied[0]["forwarded"], false);
    assert!(
        denied[0]["reason"]
            .as_str()
            .unwrap()
            .contains("without the role"),
        "{}",
        denied[0]
    );
    bed.shutdown().await;
}

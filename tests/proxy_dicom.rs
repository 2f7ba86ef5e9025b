//! End to end through a `dicom` route with real peers we did not write: DCMTK (echoscu, storescu,
//! storescp, dcmqrscp) and pynetdicom, on 127.0.0.1, with the test policy tests/dicom/policy.toml.
//! What the SCP stored (or never saw) and what the SCU reported are the evidence.
// Tests fail by panicking: unwrap/expect on test data is the point.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::dicom::*;

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const VERIFICATION: &str = "1.2.840.10008.1.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const J2K_LOSSLESS: &str = "1.2.840.10008.1.2.4.90";

fn verdicts(records: &[serde_json::Value]) -> Vec<(String, String)> {
    records
        .iter()
        .map(|r| {
            (
                r["message_type"].as_str().unwrap_or("").to_owned(),
                r["verdict"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn c_echo_passes_through_to_storescp() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let out = run(
        &dcmtk("echoscu"),
        &[
            "-aet",
            "MODALITY",
            "-aec",
            "STORESCP",
            "127.0.0.1",
            &bed.port(),
        ],
    )
    .await;
    assert!(out.status.success(), "echoscu failed: {}", out.text());
    let audit = bed
        .audit_where(1, |r| r["message_type"] == "C-ECHO-RQ")
        .await;
    assert_eq!(audit[0]["verdict"], "allow");
    assert_eq!(audit[0]["rule"], "echo");
    assert_eq!(audit[0]["calling_ae"], "MODALITY");
    assert_eq!(audit[0]["called_ae"], "STORESCP");
    assert_eq!(audit[0]["sop_class"], "Verification");
    let rq = bed
        .audit_where(1, |r| r["message_type"] == "A-ASSOCIATE-RQ")
        .await;
    assert_eq!(rq[0]["verdict"], "allow");
}

#[tokio::test]
async fn c_store_of_ct_instances_arrives_byte_identical_at_storescp() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let src = tempfile::tempdir().unwrap();
    let files = gen_ct(src.path(), 3, 0).await;
    let mut args = vec!["-R", "-aet", "MODALITY", "-aec", "STORESCP", "127.0.0.1"];
    let port = bed.port();
    args.push(&port);
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let out = run(&dcmtk("storescu"), &args).await;
    assert!(out.status.success(), "storescu failed: {}", out.text());
    let stored = scp.wait_for(3).await;
    assert_eq!(stored.len(), 3, "storescp log: {}", scp.proc.log());
    let mut sent: Vec<Vec<u8>> = files.iter().map(|p| dataset_of(p)).collect();
    let mut got: Vec<Vec<u8>> = stored.iter().map(|p| dataset_of(p)).collect();
    sent.sort();
    got.sort();
    assert!(
        sent == got,
        "the stored data sets differ from the sent ones"
    );
    let stores = bed
        .audit_where(3, |r| r["message_type"] == "C-STORE-RQ")
        .await;
    assert_eq!(stores.len(), 3);
    for s in &stores {
        assert_eq!(s["verdict"], "allow");
        assert_eq!(s["rule"], "modality-stores-ct");
        assert_eq!(s["sop_class"], "CTImageStorage");
        let line = s.to_string();
        assert!(
            !line.contains("WARDGATE") && !line.contains("WG-TEST"),
            "patient data in the audit log: {line}"
        );
    }
}

#[tokio::test]
async fn an_unknown_calling_ae_gets_rj_reason_3_and_storescp_receives_nothing() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let src = tempfile::tempdir().unwrap();
    let files = gen_ct(src.path(), 1, 0).await;
    let port = bed.port();
    let out = run(
        &dcmtk("storescu"),
        &[
            "-R",
            "-aet",
            "INTRUDER",
            "-aec",
            "STORESCP",
            "127.0.0.1",
            &port,
            files[0].to_str().unwrap(),
        ],
    )
    .await;
    assert!(!out.status.success(), "storescu succeeded: {}", out.text());
    assert!(
        out.text().contains("Calling AE Title Not Recognized"),
        "storescu did not report reason 3: {}",
        out.text()
    );
    let echo = run(
        &dcmtk("echoscu"),
        &["-aet", "INTRUDER", "-aec", "STORESCP", "127.0.0.1", &port],
    )
    .await;
    assert!(!echo.status.success());
    assert!(
        echo.text().contains("Calling AE Title Not Recognized"),
        "{}",
        echo.text()
    );
    let rq = bed
        .audit_where(2, |r| r["message_type"] == "A-ASSOCIATE-RQ")
        .await;
    assert_eq!(rq.len(), 2);
    assert!(rq.iter().all(|r| r["verdict"] == "deny" && r["code"] == 3));
    assert!(rq.iter().all(|r| r["forwarded"] == false));
    assert!(scp.received().is_empty());
    // One TCP connection only: the readiness probe of StoreScp::start.
    assert_eq!(
        scp.proc.log().matches("Association Received").count(),
        1,
        "storescp saw an association: {}",
        scp.proc.log()
    );
}

/// A dcmqrscp with one indexed study, which may move to `STORESCP` at `dest`.
async fn qrscp(dest: &StoreScp, files: &[std::path::PathBuf]) -> (Proc, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let port = free_port();
    let cfg = format!(
        "NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 4\n\
         HostTable BEGIN\nstorescp = (STORESCP, 127.0.0.1, {})\nHostTable END\n\
         VendorTable BEGIN\nVendorTable END\n\
         AETable BEGIN\nQRSCP {} RW (10, 64mb) ANY\nAETable END\n",
        dest.addr.port(),
        db.display()
    );
    let cfg_path = dir.path().join("dcmqrscp.cfg");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut args = vec![db.to_str().unwrap()];
    args.extend(files.iter().map(|p| p.to_str().unwrap()));
    let idx = run(&dcmtk("dcmqridx"), &args).await;
    assert!(idx.status.success(), "dcmqridx: {}", idx.text());
    let proc = Proc::spawn(
        &dcmtk("dcmqrscp"),
        &["-v", "--single-process", "-c", cfg_path.to_str().unwrap()],
    );
    wait_listening(format!("127.0.0.1:{port}").parse().unwrap()).await;
    (proc, dir, port)
}

/// dcmqrscp (QRSCP) with one indexed study of two generated CT images, behind a proxy; it may
/// move to STORESCP (`dest`).
struct QrBed {
    dest: StoreScp,
    qr: Proc,
    bed: DicomBed,
    /// The generated images and dcmqrscp's database, kept until the test ends.
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

impl QrBed {
    async fn start() -> QrBed {
        let dest = StoreScp::start(&[]).await;
        let src = tempfile::tempdir().unwrap();
        let files = gen_ct(src.path(), 2, 0).await;
        let (qr, qr_dir, qr_port) = qrscp(&dest, &files).await;
        let bed = DicomBed::start(format!("127.0.0.1:{qr_port}").parse().unwrap(), false).await;
        QrBed {
            dest,
            qr,
            bed,
            _dirs: (src, qr_dir),
        }
    }
}

/// `scu.py` as VIEWER calling QRSCP through the proxy, with the operation's arguments.
async fn viewer(bed: &DicomBed, op: &[&str]) -> (Output, serde_json::Value) {
    let port = bed.port();
    let mut args = vec!["127.0.0.1", &port, "VIEWER", "QRSCP"];
    args.extend_from_slice(op);
    python("scu.py", &args).await
}

#[tokio::test]
async fn c_move_to_an_unlisted_destination_fails_while_c_find_and_an_allowed_move_work() {
    // `_dirs` is bound (not `..`) so the files outlive the test's body.
    let QrBed {
        dest,
        qr,
        bed,
        _dirs,
    } = QrBed::start().await;
    let (out, result) = viewer(
        &bed,
        &[
            "qr",
            "--patient-id",
            "WG-TEST-1",
            "--move-to",
            "EVIL",
            "STORESCP",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "scu.py: {}\ndcmqrscp: {}",
        out.text(),
        qr.log()
    );
    assert_eq!(result["established"], true, "{result}");
    assert_eq!(result["studies"].as_array().unwrap().len(), 1, "{result}");
    assert_eq!(
        result["find_statuses"].as_array().unwrap().last().unwrap(),
        0
    );
    let moves = result["moves"].as_array().unwrap();
    assert_eq!(moves[0]["destination"], "EVIL");
    assert_eq!(moves[0]["status"], 0xA801, "{result}");
    assert_eq!(moves[1]["destination"], "STORESCP");
    assert_eq!(moves[1]["status"], 0, "{result}\ndcmqrscp: {}", qr.log());
    assert_eq!(result["released"], true);
    assert_eq!(
        dest.wait_for(2).await.len(),
        2,
        "the allowed move stored nothing"
    );
    let cmds = bed
        .audit_where(3, |r| {
            r["direction"] == "inbound" && r["control_id"].is_string()
        })
        .await;
    assert_eq!(
        verdicts(&cmds),
        [
            ("C-FIND-RQ".into(), "allow".into()),
            ("C-MOVE-RQ".into(), "deny".into()),
            ("C-MOVE-RQ".into(), "allow".into()),
        ]
    );
    assert_eq!(cmds[1]["move_destination"], "EVIL");
    assert_eq!(cmds[1]["code"], 0xA801);
    assert!(
        !qr.log().contains("EVIL"),
        "dcmqrscp saw the refused move: {}",
        qr.log()
    );
}

#[tokio::test]
async fn a_refused_c_store_drops_its_data_set_and_the_association_lives_on() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let src = tempfile::tempdir().unwrap();
    let files = gen_ct(src.path(), 2, 0).await;
    let port = bed.port();
    let (out, result) = python(
        "scu.py",
        &[
            "127.0.0.1",
            &port,
            "MODALITY",
            "STORESCP",
            "store",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
            "--priorities",
            "1",
            "0",
        ],
    )
    .await;
    assert!(out.status.success(), "scu.py: {}", out.text());
    assert_eq!(
        result["statuses"],
        serde_json::json!([0x0124, 0]),
        "{result}"
    );
    assert_eq!(result["released"], true);
    let stored = scp.wait_for(1).await;
    assert_eq!(stored.len(), 1);
    assert!(dataset_of(&stored[0]) == dataset_of(&files[1]));
    let stores = bed
        .audit_where(2, |r| r["message_type"] == "C-STORE-RQ")
        .await;
    assert_eq!(stores[0]["verdict"], "deny");
    assert_eq!(stores[0]["rule"], "no-urgent-stores");
    assert_eq!(stores[1]["verdict"], "allow");
}

#[tokio::test]
async fn an_acceptor_choosing_a_forbidden_transfer_syntax_is_aborted_on_both_sides() {
    // storescp prefers JPEG 2000 lossless; the policy allows CT only uncompressed.
    let scp = StoreScp::start(&["+xv"]).await;
    let bed = DicomBed::start(scp.addr, false).await;
    let port = bed.port();
    let (out, result) = python(
        "scu.py",
        &[
            "127.0.0.1",
            &port,
            "MODALITY",
            "STORESCP",
            "propose",
            "--sop",
            CT,
            "--ts",
            J2K_LOSSLESS,
            EXPLICIT_LE,
        ],
    )
    .await;
    assert!(out.status.success(), "scu.py: {}", out.text());
    assert_eq!(result["established"], false, "{result}");
    assert_eq!(result["aborted"], true, "{result}");
    let ac = bed
        .audit_where(1, |r| r["message_type"] == "A-ASSOCIATE-AC")
        .await;
    assert_eq!(ac[0]["verdict"], "deny");
    assert_eq!(ac[0]["forwarded"], false);
    assert!(scp.received().is_empty());
}

#[tokio::test]
async fn storescu_over_tls_reaches_a_plaintext_storescp() {
    let scp = StoreScp::start(&[]).await;
    let bed = DicomBed::start(scp.addr, true).await;
    let (cert, key, ca) = bed.client_files(MODALITY_CN);
    let src = tempfile::tempdir().unwrap();
    let files = gen_ct(src.path(), 1, 0).await;
    let port = bed.port();
    let out = run(
        &dcmtk("storescu"),
        &[
            "-R",
            "+tls",
            &key,
            &cert,
            "+cf",
            &ca,
            "-aet",
            "TLSMODALITY",
            "-aec",
            "STORESCP",
            "127.0.0.1",
            &port,
            files[0].to_str().unwrap(),
        ],
    )
    .await;
    assert!(out.status.success(), "storescu +tls failed: {}", out.text());
    let stored = scp.wait_for(1).await;
    assert_eq!(stored.len(), 1);
    assert!(dataset_of(&stored[0]) == dataset_of(&files[0]));
    let rq = bed
        .audit_where(1, |r| r["message_type"] == "A-ASSOCIATE-RQ")
        .await;
    assert_eq!(rq[0]["cert_subject"], MODALITY_CN);
    assert_eq!(rq[0]["verdict"], "allow");
}

#[tokio::test]
async fn c_get_sub_operations_come_back_through_the_negotiated_scp_role() {
    // `_dirs` is bound (not `..`) so the files outlive the test's body.
    let QrBed {
        dest,
        qr,
        bed,
        _dirs,
    } = QrBed::start().await;
    let (out, result) = viewer(&bed, &["get", "--patient-id", "WG-TEST-1"]).await;
    assert!(
        out.status.success(),
        "scu.py: {}\ndcmqrscp: {}",
        out.text(),
        qr.log()
    );
    assert_eq!(result["established"], true, "{result}");
    assert_eq!(result["status"], 0, "{result}\ndcmqrscp: {}", qr.log());
    assert_eq!(result["stored"].as_array().unwrap().len(), 2, "{result}");
    assert_eq!(result["aborted"], false, "{result}");
    let stores = bed
        .audit_where(2, |r| {
            r["direction"] == "outbound" && r["message_type"] == "C-STORE-RQ"
        })
        .await;
    assert!(stores.iter().all(|r| r["verdict"] == "allow"), "{stores:?}");
    assert!(
        dest.received().is_empty(),
        "C-GET stores to the requestor, not STORESCP"
    );
}

/// A C-ECHO-RQ command set (implicit VR little endian, PS3.7 §9.3.5).
#[tokio::test]
async fn shutdown_aborts_an_idle_association_and_the_proxy_stops() {
    let recorder = Recorder::start().await;
    drop(recorder);
    let scp = StoreScp::start(&[]).await;
    let mut bed = DicomBed::start(scp.addr, false).await;
    let rq = associate_rq("MODALITY", "STORESCP", &[(1, VERIFICATION, IMPLICIT_LE)]);
    let mut s = tokio::net::TcpStream::connect(bed.proxy).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(&rq).await.unwrap();
    let mut head = [0u8; 6];
    s.read_exact(&mut head).await.unwrap();
    assert_eq!(head[0], 0x02, "storescp accepted through the proxy");
    let len = u32::from_be_bytes(head[2..6].try_into().unwrap()) as usize;
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.unwrap();
    bed.shutdown().await;
    let mut rest = Vec::new();
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert_eq!(rest, abort_pdu(0));
}

/// Peak resident memory (VmHWM) of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_large_c_store_streams_through_with_bounded_memory() {
    // WARDGATE_DICOM_BIG_MB=1024 for the 1 GB study of the issue; 96 MB keeps CI quick.
    let mb: usize = std::env::var("WARDGATE_DICOM_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let scp = StoreScp::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ct(dir.path(), 1, mb).await;
    let port = free_port();
    let config = dir.path().join("wardgate.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\npath = {:?}\n[[route]]\nname = \"pacs\"\nprotocol = \"dicom\"\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\nrules = [{:?}]\n",
            dir.path().join("audit.jsonl").display().to_string(),
            scp.addr,
            test_rules()[0].display().to_string(),
        ),
    )
    .unwrap();
    let proxy = Proc::spawn(
        Path::new(env!("CARGO_BIN_EXE_wardgate")),
        &["run", "--config", config.to_str().unwrap()],
    );
    wait_listening(format!("127.0.0.1:{port}").parse().unwrap()).await;
    let before = peak_kib(proxy.id());
    let out = run(
        &dcmtk("storescu"),
        &[
            "-R",
            "-aet",
            "MODALITY",
            "-aec",
            "STORESCP",
            "127.0.0.1",
            &port.to_string(),
            files[0].to_str().unwrap(),
        ],
    )
    .await;
    let peak = peak_kib(proxy.id());
    assert!(
        out.status.success(),
        "storescu: {}\nproxy: {}",
        out.text(),
        proxy.log()
    );
    let stored = scp.wait_for(1).await;
    assert_eq!(stored.len(), 1);
    assert!(dataset_of(&stored[0]) == dataset_of(&files[0]));
    eprintln!(
        "{mb} MB C-STORE through wardgate: proxy peak RSS {} KiB (before: {} KiB)",
        peak, before
    );
    assert!(
        peak < 64 * 1024,
        "the proxy peaked at {peak} KiB for a {mb} MB store"
    );
}

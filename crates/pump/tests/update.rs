//! The update tracker: chunks in order, one transfer, consistent fields, digest checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use wardgate_pump::{
    ChunkError, ChunkField, Progress, UpdateChunk, UpdateError, UpdateKind, UpdateTracker,
    image_digest,
};

const IMAGE: &[u8] = b"drug library image: heparin 25000 U/250 mL, hard max 25 U/kg/h";

fn chunks(transfer_id: u32, size: usize) -> Vec<UpdateChunk<'static>> {
    let digest = image_digest(IMAGE);
    let parts: Vec<&'static [u8]> = IMAGE.chunks(size).collect();
    let count = parts.len() as u32;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, data)| UpdateChunk {
            transfer_id,
            index: i as u32,
            count,
            total_size: IMAGE.len() as u32,
            digest,
            version: "DL-2026.1",
            data,
        })
        .collect()
}

const DL: UpdateKind = UpdateKind::DrugLibrary;

#[test]
fn in_order_transfer_completes() {
    let mut t = UpdateTracker::new();
    let c = chunks(5, 16);
    for (i, chunk) in c.iter().enumerate().take(c.len() - 1) {
        assert_eq!(
            t.accept(DL, chunk),
            Ok(Progress::InProgress {
                next_index: i as u32 + 1,
                received: ((i + 1) * 16) as u64
            })
        );
    }
    assert_eq!(
        t.accept(DL, c.last().unwrap()),
        Ok(Progress::Complete {
            kind: DL,
            transfer_id: 5,
            version: "DL-2026.1".to_owned(),
            total_size: IMAGE.len() as u32
        })
    );
    assert_eq!(t.in_progress(), None);
}

#[test]
fn ordering_errors_leave_the_tracker_unchanged() {
    let mut t = UpdateTracker::new();
    let c = chunks(5, 16);
    assert_eq!(
        t.accept(DL, &c[1]),
        Err(UpdateError::NotStarted { index: 1 })
    );
    assert_eq!(t.in_progress(), None);
    t.accept(DL, &c[0]).unwrap();
    assert_eq!(
        t.accept(DL, &c[0]),
        Err(UpdateError::Duplicate { index: 0 })
    );
    assert_eq!(
        t.accept(DL, &c[2]),
        Err(UpdateError::Missing {
            expected: 1,
            found: 2
        })
    );
    let other = chunks(6, 16);
    assert_eq!(
        t.accept(DL, &other[1]),
        Err(UpdateError::TransferMismatch {
            expected: 5,
            found: 6
        })
    );
    assert_eq!(
        t.accept(DL, &other[0]),
        Err(UpdateError::Interrupted {
            previous: 5,
            next_index: 1
        })
    );
    assert_eq!(
        t.accept(UpdateKind::Firmware, &c[1]),
        Err(UpdateError::FieldChanged(ChunkField::Kind))
    );
    let mut changed = c[1].clone();
    changed.total_size += 1;
    assert_eq!(
        t.accept(DL, &changed),
        Err(UpdateError::FieldChanged(ChunkField::TotalSize))
    );
    let mut changed = c[1].clone();
    changed.digest[0] ^= 1;
    assert_eq!(
        t.accept(DL, &changed),
        Err(UpdateError::FieldChanged(ChunkField::Digest))
    );
    let mut changed = c[1].clone();
    changed.version = "DL-EVIL";
    assert_eq!(
        t.accept(DL, &changed),
        Err(UpdateError::FieldChanged(ChunkField::Version))
    );
    // After all those refusals the right chunk is still welcome.
    assert_eq!(t.in_progress(), Some((DL, 5, 1)));
    for chunk in &c[1..] {
        t.accept(DL, chunk).unwrap();
    }
    assert_eq!(t.in_progress(), None);
}

#[test]
fn size_and_digest_mismatches() {
    let mut t = UpdateTracker::new();
    let mut c = chunks(1, 40);
    assert_eq!(c.len(), 2);
    // The last chunk one byte short of TOTAL-SIZE.
    c[1].data = &c[1].data[1..];
    t.accept(DL, &c[0]).unwrap();
    assert!(matches!(
        t.accept(DL, &c[1]),
        Err(UpdateError::SizeMismatch { .. })
    ));
    assert_eq!(t.in_progress(), Some((DL, 1, 1)));
    // A first chunk that leaves no byte for the second.
    let mut t = UpdateTracker::new();
    let c = chunks(2, 40);
    let mut first = c[0].clone();
    first.data = IMAGE;
    assert!(matches!(
        t.accept(DL, &first),
        Err(UpdateError::SizeMismatch { .. })
    ));
    assert_eq!(t.in_progress(), None);
    // Right sizes, wrong bytes: the digest catches it and the transfer ends.
    let mut t = UpdateTracker::new();
    let c = chunks(3, 40);
    let tampered: Vec<u8> = c[1].data.iter().map(|b| b ^ 0x20).collect();
    let mut last = c[1].clone();
    last.data = &tampered;
    t.accept(DL, &c[0]).unwrap();
    assert_eq!(t.accept(DL, &last), Err(UpdateError::DigestMismatch));
    assert_eq!(t.in_progress(), None);
    // Inconsistent single-chunk fields are refused like the parser does.
    let mut bad = c[0].clone();
    bad.index = 9;
    assert_eq!(
        UpdateTracker::new().accept(DL, &bad),
        Err(UpdateError::BadChunk(ChunkError::IndexOutOfRange {
            index: 9,
            count: 2
        }))
    );
}

#[test]
fn abandon_allows_a_restart() {
    let mut t = UpdateTracker::new();
    let c = chunks(1, 16);
    t.accept(DL, &c[0]).unwrap();
    t.abandon();
    let c2 = chunks(2, 16);
    assert!(matches!(
        t.accept(DL, &c2[0]),
        Ok(Progress::InProgress { .. })
    ));
}

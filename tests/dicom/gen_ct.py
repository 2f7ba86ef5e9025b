#!/usr/bin/env python3
"""Write synthetic CT Image Storage instances (DICOM Part 10, Explicit VR Little Endian) for the
wardgate DICOM end-to-end tests. No real patient data: every identifier is made up.

usage: gen_ct.py OUT_DIR COUNT [--pixels-mb N] [--patient-id ID]
"""
import argparse
import os
import sys


from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def make(study_uid, series_uid, index, rows, cols, frames_bytes, patient_id):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(prefix="1.2.826.0.1.3680043.10.1234.")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = "CT"
    ds.PatientName = "TEST^WARDGATE"
    ds.PatientID = patient_id
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.StudyDate = "20260101"
    ds.AccessionNumber = "WG0001"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    if frames_bytes:
        ds.NumberOfFrames = frames_bytes // (rows * cols * 2)
        n = ds.NumberOfFrames * rows * cols * 2
    else:
        n = rows * cols * 2
    # A deterministic pattern, different per instance, cheap to make at any size.
    block = bytes((i * 7 + index) & 0xFF for i in range(65536))
    ds.PixelData = (block * (n // len(block) + 1))[:n]
    return ds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("count", type=int)
    p.add_argument("--pixels-mb", type=int, default=0)
    p.add_argument("--patient-id", default="WG-TEST-1")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    study = generate_uid(prefix="1.2.826.0.1.3680043.10.1234.")
    series = generate_uid(prefix="1.2.826.0.1.3680043.10.1234.")
    for i in range(a.count):
        if a.pixels_mb:
            ds = make(study, series, i, 512, 512, a.pixels_mb * 1024 * 1024, a.patient_id)
        else:
            ds = make(study, series, i, 64, 64, 0, a.patient_id)
        path = os.path.join(a.out, f"ct{i:04d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

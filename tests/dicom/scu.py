#!/usr/bin/env python3
"""pynetdicom SCU for wardgate's DICOM end-to-end tests: several operations on ONE association,
results printed as one JSON object on stdout.

  scu.py HOST PORT CALLING CALLED qr --patient-id ID --move-to AE [AE ...]
      C-FIND (study root, STUDY level) then one C-MOVE of the found study per destination.
  scu.py HOST PORT CALLING CALLED store FILE [FILE ...] --priorities 1 0 ...
      C-STORE each file with the given priority (0 medium, 1 high, 2 low).
  scu.py HOST PORT CALLING CALLED get --patient-id ID
      C-GET (study root, STUDY level) of the patient's study; the CT images come back as C-STORE
      sub-operations on the same association (SCP role negotiated for CT storage).
  scu.py HOST PORT CALLING CALLED propose --sop CTImageStorage --ts UID [UID ...]
      associate with one context; report whether it was established.
"""
import argparse
import json
import sys

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE, build_role, evt
from pynetdicom.sop_class import (
    CTImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)


def associate(ae, a):
    assoc = ae.associate(a.host, a.port, ae_title=a.called)
    return assoc


def qr(a):
    ae = AE(ae_title=a.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    out = {"established": False}
    assoc = associate(ae, a)
    if not assoc.is_established:
        out["rejected"] = assoc.is_rejected
        return out
    out["established"] = True
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = a.patient_id
    query.StudyInstanceUID = ""
    studies, statuses = [], []
    for status, ident in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
        if status is None:
            statuses.append(None)
            break
        statuses.append(status.Status)
        if ident is not None and status.Status in (0xFF00, 0xFF01):
            studies.append(str(ident.StudyInstanceUID))
    out["find_statuses"] = statuses
    out["studies"] = studies
    moves = []
    for dest in a.move_to:
        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = studies[0] if studies else "1.2.3"
        final = None
        completed = None
        for status, _ in assoc.send_c_move(ident, dest, StudyRootQueryRetrieveInformationModelMove):
            if status is None:
                break
            final = status.Status
            completed = getattr(status, "NumberOfCompletedSuboperations", completed)
        moves.append({"destination": dest, "status": final, "completed": completed})
    out["moves"] = moves
    assoc.release()
    out["released"] = True
    return out


def get(a):
    ae = AE(ae_title=a.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    stored = []

    def on_store(event):
        stored.append(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    out = {"established": False}
    assoc = ae.associate(
        a.host,
        a.port,
        ae_title=a.called,
        ext_neg=[build_role(CTImageStorage, scp_role=True)],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    if not assoc.is_established:
        out["rejected"] = assoc.is_rejected
        return out
    out["established"] = True
    ident = Dataset()
    ident.QueryRetrieveLevel = "STUDY"
    ident.PatientID = a.patient_id
    final = None
    for status, _ in assoc.send_c_get(ident, StudyRootQueryRetrieveInformationModelGet):
        if status is None:
            break
        final = status.Status
    out["status"] = final
    out["stored"] = stored
    out["aborted"] = assoc.is_aborted
    if assoc.is_established:
        assoc.release()
        out["released"] = True
    return out


def store(a):
    ae = AE(ae_title=a.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(CTImageStorage, "1.2.840.10008.1.2.1")
    out = {"established": False, "statuses": []}
    assoc = associate(ae, a)
    if not assoc.is_established:
        out["rejected"] = assoc.is_rejected
        return out
    out["established"] = True
    for path, prio in zip(a.files, a.priorities):
        ds = dcmread(path)
        status = assoc.send_c_store(ds, priority=prio)
        out["statuses"].append(status.Status if status else None)
    assoc.release()
    out["released"] = True
    return out


def propose(a):
    ae = AE(ae_title=a.calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    ae.add_requested_context(a.sop, a.ts)
    assoc = associate(ae, a)
    out = {
        "established": assoc.is_established,
        "rejected": assoc.is_rejected,
        "aborted": assoc.is_aborted,
    }
    if assoc.is_established:
        out["accepted"] = [
            [c.abstract_syntax, c.transfer_syntax[0]] for c in assoc.accepted_contexts
        ]
        assoc.release()
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("calling")
    p.add_argument("called")
    sub = p.add_subparsers(dest="op", required=True)
    q = sub.add_parser("qr")
    q.add_argument("--patient-id", required=True)
    q.add_argument("--move-to", nargs="*", default=[])
    g = sub.add_parser("get")
    g.add_argument("--patient-id", required=True)
    s = sub.add_parser("store")
    s.add_argument("files", nargs="+")
    s.add_argument("--priorities", nargs="+", type=int, required=True)
    r = sub.add_parser("propose")
    r.add_argument("--sop", default=CTImageStorage)
    r.add_argument("--ts", nargs="+", required=True)
    a = p.parse_args()
    result = {"qr": qr, "get": get, "store": store, "propose": propose}[a.op](a)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

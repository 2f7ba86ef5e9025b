//! What happens to each PDV of the requestor's P-DATA-TF PDUs, and the PDUs held back while the
//! command they carry part of is still incomplete (PS3.8 Annex E: one PDU may end one message
//! and start the next, so a verdict can arrive after the PDU that carries its first fragment).
//!
//! Pure bookkeeping: the driver feeds it PDUs with one [`Fate`] per PDV, resolves the pending
//! fates when the command's verdict is known, and writes whatever [`HeldPdus::ready`] returns.

use std::collections::VecDeque;

use crate::{
    CommandAssembler, CommandSet, DEFAULT_MAX_COMMAND_LEN, PDU_HEADER_LEN, Pdv, build_p_data_tf,
    parse_pdvs,
};

/// The message stream of one direction: command reassembly and where the current message is
/// (shared by the proxy's DICOM driver and the decision-path fuzz harness, so both track message
/// boundaries the same way).
#[derive(Debug)]
pub struct MessageStream {
    /// Reassembles the current command set from its fragments.
    pub assembler: CommandAssembler,
    /// What happens to the data-set fragments of the current message.
    pub data_fate: Fate,
    /// A data set is announced or under way and its last fragment has not arrived.
    pub data_due: bool,
    /// Command fragments are arriving.
    pub command_pending: bool,
}

impl Default for MessageStream {
    fn default() -> Self {
        MessageStream {
            assembler: CommandAssembler::new(DEFAULT_MAX_COMMAND_LEN),
            data_fate: Fate::Forward,
            data_due: false,
            command_pending: false,
        }
    }
}

impl MessageStream {
    /// Between messages: a PDU written now cannot split one.
    pub fn at_boundary(&self) -> bool {
        !self.data_due && !self.command_pending
    }

    /// A command set is complete and judged: its data set (if it announces one) follows with
    /// the same fate.
    pub fn on_command(&mut self, cmd: &CommandSet<'_>, fate: Fate) {
        self.command_pending = false;
        self.data_due = cmd.has_data_set();
        self.data_fate = fate;
    }
}

/// The fate of one PDV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Goes to the acceptor.
    Forward,
    /// Never reaches the acceptor (a refused command and its data set).
    Drop,
    /// Part of a command whose verdict is not known yet.
    Pending,
}

/// A P-DATA-TF PDU and the fate of each of its PDVs, in wire order.
struct Held {
    bytes: Vec<u8>,
    fates: Vec<Fate>,
}

/// Bytes to write to the acceptor for one PDU that is ready.
#[derive(Debug, PartialEq, Eq)]
pub enum Ready {
    /// Every PDV goes: the PDU exactly as received.
    Original(Vec<u8>),
    /// Some PDVs go: a P-DATA-TF rebuilt from exactly those PDVs (fragments unchanged).
    Rebuilt(Vec<u8>),
}

/// The held PDUs of one direction, bounded in count and bytes.
pub struct HeldPdus {
    queue: VecDeque<Held>,
    bytes: usize,
    max_bytes: usize,
    max_pdus: usize,
}

/// The held PDUs exceed their bound: a command set spread over too many PDUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a command set spread over more than {max_pdus} PDUs or {max_bytes} bytes")]
pub struct TooManyHeld {
    /// Most PDUs held.
    pub max_pdus: usize,
    /// Most bytes held.
    pub max_bytes: usize,
}

impl HeldPdus {
    /// Hold at most `max_pdus` PDUs and `max_bytes` bytes.
    pub fn new(max_pdus: usize, max_bytes: usize) -> Self {
        HeldPdus {
            queue: VecDeque::new(),
            bytes: 0,
            max_bytes,
            max_pdus,
        }
    }

    /// Whether any PDU is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queue a PDU with one fate per PDV.
    pub fn push(&mut self, bytes: Vec<u8>, fates: Vec<Fate>) -> Result<(), TooManyHeld> {
        self.bytes += bytes.len();
        self.queue.push_back(Held { bytes, fates });
        if self.queue.len() > self.max_pdus || self.bytes > self.max_bytes {
            return Err(TooManyHeld {
                max_pdus: self.max_pdus,
                max_bytes: self.max_bytes,
            });
        }
        Ok(())
    }

    /// The command whose fragments are pending has its verdict: every pending PDV takes `fate`.
    pub fn resolve(&mut self, fate: Fate) {
        for held in &mut self.queue {
            for f in held.fates.iter_mut().filter(|f| **f == Fate::Pending) {
                *f = fate;
            }
        }
    }

    /// Take the PDUs at the front whose every PDV has a fate, in order, as bytes to write
    /// (PDUs whose PDVs all drop yield nothing).
    pub fn ready(&mut self) -> Vec<Ready> {
        let mut out = Vec::new();
        while let Some(front) = self.queue.front() {
            if front.fates.contains(&Fate::Pending) {
                break;
            }
            let Some(held) = self.queue.pop_front() else {
                break;
            };
            self.bytes -= held.bytes.len();
            if let Some(ready) = emit(held) {
                out.push(ready);
            }
        }
        out
    }
}

fn emit(held: Held) -> Option<Ready> {
    if held.fates.iter().all(|f| *f == Fate::Forward) {
        return Some(Ready::Original(held.bytes));
    }
    if held.fates.iter().all(|f| *f == Fate::Drop) {
        return None;
    }
    // The PDU was parsed once already, so this cannot fail; if it did, nothing is forwarded.
    let body = held.bytes.get(PDU_HEADER_LEN..)?;
    let pdvs = parse_pdvs(body).ok()?;
    let kept: Vec<Pdv<'_>> = pdvs
        .into_iter()
        .zip(&held.fates)
        .filter(|(_, f)| **f == Fate::Forward)
        .map(|(p, _)| p)
        .collect();
    build_p_data_tf(&kept).ok().map(Ready::Rebuilt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageControl;

    fn pdu(items: &[(u8, bool, bool, &[u8])]) -> Vec<u8> {
        let pdvs: Vec<Pdv<'_>> = items
            .iter()
            .map(|&(context_id, command, last, fragment)| Pdv {
                context_id,
                control: MessageControl::new(command, last),
                fragment,
            })
            .collect();
        build_p_data_tf(&pdvs).unwrap()
    }

    #[test]
    fn a_pdu_whose_pdvs_all_go_is_forwarded_as_received() {
        let mut held = HeldPdus::new(8, 1 << 20);
        let bytes = pdu(&[(1, true, true, b"cmd"), (1, false, true, b"data")]);
        held.push(bytes.clone(), vec![Fate::Forward; 2]).unwrap();
        assert_eq!(held.ready(), vec![Ready::Original(bytes)]);
        assert!(held.is_empty());
    }

    #[test]
    fn pdus_wait_for_the_verdict_then_leave_in_order() {
        let mut held = HeldPdus::new(8, 1 << 20);
        // The end of an allowed message and the first fragment of the next command.
        let first = pdu(&[(1, false, true, b"tail"), (3, true, false, b"cm")]);
        let second = pdu(&[(3, true, true, b"d")]);
        held.push(first.clone(), vec![Fate::Forward, Fate::Pending])
            .unwrap();
        assert_eq!(held.ready(), vec![]);
        held.push(second.clone(), vec![Fate::Pending]).unwrap();
        held.resolve(Fate::Forward);
        assert_eq!(
            held.ready(),
            vec![Ready::Original(first), Ready::Original(second)]
        );
    }

    #[test]
    fn a_refused_command_is_cut_out_of_a_shared_pdu() {
        let mut held = HeldPdus::new(8, 1 << 20);
        let shared = pdu(&[(1, false, true, b"tail"), (3, true, false, b"cm")]);
        let rest = pdu(&[(3, true, true, b"d")]);
        held.push(shared, vec![Fate::Forward, Fate::Pending])
            .unwrap();
        held.push(rest, vec![Fate::Pending]).unwrap();
        held.resolve(Fate::Drop);
        assert_eq!(
            held.ready(),
            vec![Ready::Rebuilt(pdu(&[(1, false, true, b"tail")]))]
        );
    }

    #[test]
    fn holding_is_bounded() {
        let mut held = HeldPdus::new(2, 1 << 20);
        let p = pdu(&[(1, true, false, b"")]);
        held.push(p.clone(), vec![Fate::Pending]).unwrap();
        held.push(p.clone(), vec![Fate::Pending]).unwrap();
        assert!(held.push(p, vec![Fate::Pending]).is_err());
        let mut held = HeldPdus::new(100, 20);
        let p = pdu(&[(1, true, false, b"0123456789")]);
        assert!(held.push(p, vec![Fate::Pending]).is_err());
    }
}

//! The `[dicom]` AE registry: which called AE titles a route serves, and where each calling AE
//! title is believed from.

use std::sync::Arc;

use wardgate_dicom::AssociateRq;

use super::{CALLED_AE_REGISTRY, CALLING_AE_REGISTRY, reject_reason};
use crate::condition::{AddressCondition, TextCondition};
use crate::sender::{Sender, sender_holds};
use crate::verdict::Denial;

/// One `[[dicom.calling_ae]]` entry: an AE title and where it is believed from (all given
/// conditions must hold; several entries for one title are alternatives).
#[derive(Debug, Clone)]
pub struct CallingAe {
    /// The AE title, exactly (DICOM AE titles are case-sensitive; spaces are trimmed).
    pub title: String,
    pub(crate) address: Option<AddressCondition>,
    pub(crate) cert_cn: Option<TextCondition>,
    pub(crate) cert_san: Option<TextCondition>,
}

impl CallingAe {
    fn vouches(&self, title: &str, sender: &Sender) -> bool {
        self.title == title && sender_holds(&self.address, &self.cert_cn, &self.cert_san, sender)
    }
}

/// The `[dicom]` table: the AE titles a DICOM route knows.
#[derive(Debug, Clone, Default)]
pub struct DicomPolicy {
    /// Called AE titles this route answers for; any other is rejected with reason 7.
    pub called_ae: Vec<String>,
    /// Calling AE titles and where each is believed from; any other title, or a known title from
    /// elsewhere, is rejected with reason 3.
    pub calling_ae: Vec<CallingAe>,
}

impl DicomPolicy {
    /// Whether the registry vouches for the request's AE titles from this sender: the calling AE
    /// first (reason 3), then the called AE (reason 7).
    pub(super) fn check_titles(
        &self,
        rq: &AssociateRq,
        sender: &Sender,
    ) -> Result<(), (Denial, u8)> {
        let calling = rq.header.calling_ae_title.as_str();
        let called = rq.header.called_ae_title.as_str();
        if !self.calling_ae.iter().any(|e| e.vouches(calling, sender)) {
            let known = self.calling_ae.iter().any(|e| e.title == calling);
            let reason = if known {
                format!(
                    "calling AE title {calling:?} is not believed from {}: it is registered for other hosts or certificates",
                    describe_sender(sender)
                )
            } else {
                format!("calling AE title {calling:?} is not registered")
            };
            return Err((
                dicom_denial(CALLING_AE_REGISTRY, reason),
                reject_reason::CALLING_AE_NOT_RECOGNIZED,
            ));
        }
        if !self.called_ae.iter().any(|t| t == called) {
            return Err((
                dicom_denial(
                    CALLED_AE_REGISTRY,
                    format!("called AE title {called:?} is not served by this route"),
                ),
                reject_reason::CALLED_AE_NOT_RECOGNIZED,
            ));
        }
        Ok(())
    }
}

fn describe_sender(sender: &Sender) -> String {
    match sender
        .certificate
        .as_ref()
        .and_then(|c| c.common_name.as_deref())
    {
        Some(cn) => format!("{} (certificate {cn})", sender.address),
        None => sender.address.to_string(),
    }
}

pub(super) fn dicom_denial(rule: impl Into<Arc<str>>, reason: String) -> Denial {
    Denial::outside_hl7(rule, reason, None)
}

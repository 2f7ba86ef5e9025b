//! The approved device inventory (`[[device]]` in a TOML file the operator writes): which devices
//! exist, what kind they are, where they stand, and the identifiers that recognise them on the
//! wire. Rules (`sender.device_known`), micro-segmentation and the proxy's learned inventory all
//! resolve devices against it. Sans-IO: addresses and names in, a device out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::sender::CertIdentity;

/// Most devices one inventory may list.
pub const MAX_DEVICES: usize = 10_000;
/// Most identifiers of one kind (addresses, names, ...) one device may list.
pub const MAX_IDENTIFIERS: usize = 256;

/// What a device is, from a fixed list so a typo is caught at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// An EHR or its interface engine.
    Ehr,
    /// A bar-code medication administration system.
    Bcma,
    /// An infusion pump.
    Pump,
    /// An infusion pump gateway (PCD-03 Infusion Order Consumer).
    PumpGateway,
    /// An imaging modality (CT, MR, US, ...).
    Modality,
    /// A PACS or other DICOM archive.
    Pacs,
    /// A clinical or reading workstation.
    Workstation,
    /// A patient monitor.
    Monitor,
    /// A networked thermometer or other small sensor.
    Thermometer,
    /// A database or application server.
    Server,
    /// Anything else.
    Other,
}

/// The names of [`DeviceKind`] as written in inventory and rule files.
pub const KIND_NAMES: &[&str] = &[
    "ehr",
    "bcma",
    "pump",
    "pump-gateway",
    "modality",
    "pacs",
    "workstation",
    "monitor",
    "thermometer",
    "server",
    "other",
];

impl DeviceKind {
    /// Parse a kind name (one of [`KIND_NAMES`]).
    pub fn from_name(name: &str) -> Option<Self> {
        use DeviceKind::*;
        let all = [
            Ehr,
            Bcma,
            Pump,
            PumpGateway,
            Modality,
            Pacs,
            Workstation,
            Monitor,
            Thermometer,
            Server,
            Other,
        ];
        KIND_NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| all.get(i).copied())
    }

    /// The name used in files, JSON and audit lines.
    pub fn as_str(self) -> &'static str {
        KIND_NAMES.get(self as usize).copied().unwrap_or("other")
    }
}

/// One approved device and the identifiers that recognise it.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Unique id, named in verdicts and the learned inventory.
    pub id: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Where it stands (free text for people).
    pub location: Option<String>,
    /// The group it belongs to (segmentation and rules name groups).
    pub group: Option<String>,
    /// IP addresses or networks it connects from.
    pub addresses: Vec<IpNet>,
    /// Its client certificate's subject CN (compared ignoring case).
    pub cert_cn: Vec<String>,
    /// Its client certificate's subject alternative names (compared ignoring case).
    pub cert_san: Vec<String>,
    /// HL7 sending application it writes in MSH-3.1.
    pub hl7_application: Vec<String>,
    /// HL7 sending facility in MSH-4.1; qualifies `hl7_application` (facilities are shared).
    pub hl7_facility: Vec<String>,
    /// Pump ids PCD-03 orders name in OBX-18.
    pub pump_id: Vec<String>,
    /// Pump serials in the pump protocol's device field.
    pub serial: Vec<String>,
    /// DICOM AE titles.
    pub ae_title: Vec<String>,
    /// The file and line of its `[[device]]`.
    pub origin: (Arc<str>, usize),
}

/// MSH-3.1 and MSH-4.1 of an HL7 message, decoded (absent or empty: `None`).
pub type Hl7Sender<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// What the network, TLS and the first message tell about a sender.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The peer address.
    pub address: IpAddr,
    /// The verified client certificate, if any.
    pub certificate: Option<&'a CertIdentity>,
    /// On HL7: MSH-3.1 and MSH-4.1 (decoded). `None` outside HL7.
    pub hl7: Option<Hl7Sender<'a>>,
    /// On DICOM: the calling AE title. `None` outside DICOM.
    pub calling_ae: Option<&'a str>,
}

impl<'a> Observed<'a> {
    /// An observation of an address (and certificate) only.
    pub fn address(address: IpAddr, certificate: Option<&'a CertIdentity>) -> Self {
        Observed {
            address,
            certificate,
            hl7: None,
            calling_ae: None,
        }
    }
}

/// IPv4-mapped IPv6 addresses count as IPv4.
pub(crate) fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn any_eq_ci<'v>(list: &[String], mut values: impl Iterator<Item = &'v str>) -> bool {
    values.any(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
}

impl Device {
    /// How many of its identifier kinds this observation satisfies, or `None` when one it
    /// declares and the observation can show does not hold (a spoofed MSH-3 from another host
    /// is not this device), or when none holds at all.
    pub fn identifies(&self, o: &Observed<'_>) -> Option<usize> {
        let mut held = 0;
        let mut check = |declared: bool, applicable: bool, holds: bool| -> bool {
            if !declared || !applicable {
                return true;
            }
            held += usize::from(holds);
            holds
        };
        let addr = canonical(o.address);
        let cert = o.certificate;
        let cn = cert.and_then(|c| c.common_name.as_deref());
        let sans = cert.map(|c| c.alt_names.as_slice()).unwrap_or_default();
        let (app, facility) = o.hl7.unwrap_or((None, None));
        fn text(b: Option<&[u8]>) -> Option<&str> {
            b.and_then(|b| std::str::from_utf8(b).ok())
        }
        let ok = check(
            !self.addresses.is_empty(),
            true,
            self.addresses.iter().any(|n| n.contains(&addr)),
        ) && check(
            !self.cert_cn.is_empty(),
            true,
            any_eq_ci(&self.cert_cn, cn.into_iter()),
        ) && check(
            !self.cert_san.is_empty(),
            true,
            any_eq_ci(&self.cert_san, sans.iter().map(String::as_str)),
        ) && check(
            !self.hl7_application.is_empty(),
            o.hl7.is_some(),
            text(app).is_some_and(|a| self.hl7_application.iter().any(|x| x == a)),
        ) && check(
            !self.ae_title.is_empty(),
            o.calling_ae.is_some(),
            o.calling_ae
                .is_some_and(|t| self.ae_title.iter().any(|x| x == t.trim_end())),
        );
        // A facility only qualifies an application: many devices share one.
        let facility_ok = self.hl7_facility.is_empty()
            || o.hl7.is_none()
            || text(facility).is_some_and(|f| self.hl7_facility.iter().any(|x| x == f));
        (ok && facility_ok && held > 0).then_some(held)
    }

    /// The most specific of its networks that contains `addr` (its prefix length).
    fn address_prefix(&self, addr: IpAddr) -> Option<u8> {
        let addr = canonical(addr);
        self.addresses
            .iter()
            .filter(|n| n.contains(&addr))
            .map(IpNet::prefix_len)
            .max()
    }
}

/// The approved devices of a site, indexed by every identifier so that a lookup costs a few
/// hash probes (plus one containment test per network entry), not a scan of every device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    devices: Vec<Device>,
    /// Single addresses (/32, /128) to devices.
    hosts: HashMap<IpAddr, Vec<usize>>,
    /// Wider networks, with their device.
    networks: Vec<(IpNet, usize)>,
    /// Lower-cased certificate CN and SAN values to devices.
    cert_names: HashMap<String, Vec<usize>>,
    /// MSH-3.1 values to devices.
    applications: HashMap<String, Vec<usize>>,
    /// AE titles to devices.
    ae_titles: HashMap<String, Vec<usize>>,
    /// Pump ids (OBX-18) to devices.
    pump_ids: HashMap<String, Vec<usize>>,
    /// Pump serials to devices.
    serials: HashMap<String, Vec<usize>>,
}

fn index(map: &mut HashMap<String, Vec<usize>>, values: &[String], i: usize, lower: bool) {
    for v in values {
        let key = if lower {
            v.to_ascii_lowercase()
        } else {
            v.clone()
        };
        let slot = map.entry(key).or_default();
        if !slot.contains(&i) {
            slot.push(i);
        }
    }
}

impl Inventory {
    /// An inventory of these devices (in file order; earlier entries win ties).
    pub fn new(devices: Vec<Device>) -> Self {
        let mut inv = Inventory {
            devices,
            ..Inventory::default()
        };
        for (i, d) in inv.devices.iter().enumerate() {
            for n in &d.addresses {
                if n.prefix_len() == n.max_prefix_len() {
                    inv.hosts.entry(n.addr()).or_default().push(i);
                } else {
                    inv.networks.push((*n, i));
                }
            }
            index(&mut inv.cert_names, &d.cert_cn, i, true);
            index(&mut inv.cert_names, &d.cert_san, i, true);
            index(&mut inv.applications, &d.hl7_application, i, false);
            index(&mut inv.ae_titles, &d.ae_title, i, false);
            index(&mut inv.pump_ids, &d.pump_id, i, false);
            index(&mut inv.serials, &d.serial, i, false);
        }
        inv
    }

    /// The devices, in file order.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    /// Whether no device is listed.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Devices with an address or network containing `addr`.
    fn at_address(&self, addr: IpAddr) -> impl Iterator<Item = usize> + '_ {
        let addr = canonical(addr);
        let hosts = self.hosts.get(&addr).into_iter().flatten().copied();
        let nets = self
            .networks
            .iter()
            .filter(move |(n, _)| n.contains(&addr))
            .map(|(_, i)| *i);
        hosts.chain(nets)
    }

    /// The device this sender is, if the inventory recognises it: every identifier kind a device
    /// declares that the observation can show must hold, and at least one must; of several
    /// candidates the one recognised by the most kinds wins (then the first listed).
    pub fn resolve_sender(&self, o: &Observed<'_>) -> Option<&Device> {
        // A device can only be recognised through one of its identifiers, so the candidates are
        // the devices some observed identifier points at.
        let mut candidates: Vec<usize> = self.at_address(o.address).collect();
        let lookup = |map: &HashMap<String, Vec<usize>>, key: &str, out: &mut Vec<usize>| {
            out.extend(map.get(key).into_iter().flatten().copied());
        };
        if let Some(c) = o.certificate {
            for name in c.common_name.iter().chain(c.alt_names.iter()) {
                lookup(
                    &self.cert_names,
                    &name.to_ascii_lowercase(),
                    &mut candidates,
                );
            }
        }
        if let Some(app) = o
            .hl7
            .and_then(|(a, _)| a)
            .and_then(|a| std::str::from_utf8(a).ok())
        {
            lookup(&self.applications, app, &mut candidates);
        }
        if let Some(ae) = o.calling_ae {
            lookup(&self.ae_titles, ae.trim_end(), &mut candidates);
        }
        candidates.sort_unstable();
        candidates.dedup();
        let mut best: Option<(&Device, usize)> = None;
        for d in candidates.iter().filter_map(|&i| self.devices.get(i)) {
            if let Some(n) = d.identifies(o) {
                if best.is_none_or(|(_, b)| n > b) {
                    best = Some((d, n));
                }
            }
        }
        best.map(|(d, _)| d)
    }

    /// The device an address belongs to (the most specific network wins), e.g. a destination.
    pub fn by_address(&self, addr: IpAddr) -> Option<&Device> {
        let mut best: Option<(usize, u8)> = None;
        for i in self.at_address(addr) {
            let p = self.devices.get(i).and_then(|d| d.address_prefix(addr));
            if let Some(p) = p {
                if best.is_none_or(|(b, bp)| p > bp || (p == bp && i < b)) {
                    best = Some((i, p));
                }
            }
        }
        best.and_then(|(i, _)| self.devices.get(i))
    }

    fn first(&self, map: &HashMap<String, Vec<usize>>, key: &str) -> Option<&Device> {
        map.get(key)
            .and_then(|v| v.first())
            .and_then(|&i| self.devices.get(i))
    }

    /// The pump a PCD-03 order names in OBX-18.
    pub fn by_pump_id(&self, id: &str) -> Option<&Device> {
        self.first(&self.pump_ids, id)
    }

    /// The pump with this serial (pump protocol).
    pub fn by_serial(&self, serial: &str) -> Option<&Device> {
        self.first(&self.serials, serial)
    }

    /// The device with this DICOM AE title.
    pub fn by_ae_title(&self, title: &str) -> Option<&Device> {
        self.first(&self.ae_titles, title.trim_end())
    }

    /// The device with this id.
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }
}

/// `[rule.sender]` device conditions: all given must hold for the device the sender resolves to.
#[derive(Debug, Clone, Default)]
pub struct DeviceCondition {
    /// `device_known`: the sender is (true) or is not (false) in the approved inventory.
    pub known: Option<bool>,
    /// `device`: the sender is one of these devices.
    pub ids: Vec<String>,
    /// `device_group`: the sender belongs to one of these groups.
    pub groups: Vec<String>,
    /// `device_kind`: the sender is of one of these kinds.
    pub kinds: Vec<DeviceKind>,
    /// The inventory senders are resolved against (the rule set's, filled in at compile time).
    pub inventory: Arc<Inventory>,
}

impl DeviceCondition {
    /// Whether the resolved device (or its absence) satisfies every condition given.
    pub fn holds(&self, device: Option<&Device>) -> bool {
        if let Some(want) = self.known {
            if want != device.is_some() {
                return false;
            }
        }
        if !self.ids.is_empty() && !device.is_some_and(|d| self.ids.contains(&d.id)) {
            return false;
        }
        if !self.groups.is_empty()
            && !device.is_some_and(|d| d.group.as_ref().is_some_and(|g| self.groups.contains(g)))
        {
            return false;
        }
        if !self.kinds.is_empty() && !device.is_some_and(|d| self.kinds.contains(&d.kind)) {
            return false;
        }
        true
    }
}

/// Words for a sender in a refusal: its address and what else identified it.
pub fn describe(o: &Observed<'_>) -> String {
    let mut s = o.address.to_string();
    if let Some(cn) = o.certificate.and_then(|c| c.common_name.as_deref()) {
        s.push_str(&format!(", certificate {cn}"));
    }
    if let Some((app, fac)) = o.hl7 {
        let t = |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
        s.push_str(&format!(", MSH-3/4 {}/{}", t(app), t(fac)));
    }
    if let Some(ae) = o.calling_ae {
        s.push_str(&format!(", AE {}", ae.trim_end()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: &str) -> Device {
        Device {
            id: id.into(),
            kind: DeviceKind::Ehr,
            location: None,
            group: None,
            addresses: vec![],
            cert_cn: vec![],
            cert_san: vec![],
            hl7_application: vec![],
            hl7_facility: vec![],
            pump_id: vec![],
            serial: vec![],
            ae_title: vec![],
            origin: (Arc::from("t"), 1),
        }
    }

    #[test]
    fn every_declared_identifier_the_context_shows_must_hold() {
        let mut ehr = dev("ehr");
        ehr.addresses = vec!["10.20.30.40/32".parse().unwrap()];
        ehr.hl7_application = vec!["EHR_BCMA".into()];
        let inv = Inventory::new(vec![ehr]);
        let from = |ip: &str, app: &'static [u8]| Observed {
            address: ip.parse().unwrap(),
            certificate: None,
            hl7: Some((Some(app), None)),
            calling_ae: None,
        };
        assert!(
            inv.resolve_sender(&from("10.20.30.40", b"EHR_BCMA"))
                .is_some()
        );
        // The same MSH-3 from another host, or another MSH-3 from the host: not this device.
        assert!(inv.resolve_sender(&from("10.9.9.9", b"EHR_BCMA")).is_none());
        assert!(inv.resolve_sender(&from("10.20.30.40", b"OTHER")).is_none());
        // Outside HL7 the address alone recognises it.
        let bare = Observed::address("10.20.30.40".parse().unwrap(), None);
        assert_eq!(
            inv.resolve_sender(&bare).map(|d| d.id.as_str()),
            Some("ehr")
        );
    }

    #[test]
    fn the_most_specific_network_wins_and_certificates_ignore_case() {
        let mut ward = dev("ward");
        ward.addresses = vec!["10.50.0.0/16".parse().unwrap()];
        let mut thermo = dev("thermo");
        thermo.addresses = vec!["10.50.3.7/32".parse().unwrap()];
        thermo.cert_cn = vec!["Thermo.egh.example".into()];
        let inv = Inventory::new(vec![ward, thermo]);
        let ip = "::ffff:10.50.3.7".parse().unwrap();
        assert_eq!(inv.by_address(ip).map(|d| d.id.as_str()), Some("thermo"));
        let cert = CertIdentity {
            common_name: Some("thermo.EGH.example".into()),
            alt_names: vec![],
        };
        let o = Observed::address(ip, Some(&cert));
        assert_eq!(
            inv.resolve_sender(&o).map(|d| d.id.as_str()),
            Some("thermo")
        );
        let no_cert = Observed::address(ip, None);
        assert_eq!(
            inv.resolve_sender(&no_cert).map(|d| d.id.as_str()),
            Some("ward")
        );
    }

    #[test]
    fn the_index_finds_devices_known_only_by_certificate_or_ae_title() {
        let mut ws = dev("ws");
        ws.cert_san = vec!["WS1.egh.example".into()];
        let mut ct = dev("ct");
        ct.ae_title = vec!["CT01".into()];
        let mut pump = dev("pump");
        pump.serial = vec!["PUMP-0042".into()];
        let inv = Inventory::new(vec![ws, ct, pump]);
        let cert = CertIdentity {
            common_name: None,
            alt_names: vec!["ws1.EGH.example".into()],
        };
        let anywhere = "192.0.2.77".parse().unwrap();
        let o = Observed::address(anywhere, Some(&cert));
        assert_eq!(inv.resolve_sender(&o).map(|d| d.id.as_str()), Some("ws"));
        let dicom = Observed {
            calling_ae: Some("CT01            "),
            ..Observed::address(anywhere, None)
        };
        assert_eq!(
            inv.resolve_sender(&dicom).map(|d| d.id.as_str()),
            Some("ct")
        );
        // A serial recognises the pump a command is for, never a sender.
        assert!(
            inv.resolve_sender(&Observed::address(anywhere, None))
                .is_none()
        );
        assert_eq!(
            inv.by_serial("PUMP-0042").map(|d| d.id.as_str()),
            Some("pump")
        );
        assert_eq!(inv.by_ae_title("CT01 ").map(|d| d.id.as_str()), Some("ct"));
    }

    #[test]
    fn device_conditions() {
        let mut d = dev("ehr");
        d.group = Some("clinical".into());
        let known = DeviceCondition {
            known: Some(true),
            ..Default::default()
        };
        assert!(known.holds(Some(&d)));
        assert!(!known.holds(None));
        let group = DeviceCondition {
            groups: vec!["clinical".into()],
            kinds: vec![DeviceKind::Ehr],
            ..Default::default()
        };
        assert!(group.holds(Some(&d)));
        d.kind = DeviceKind::Pump;
        assert!(!group.holds(Some(&d)));
        assert_eq!(
            DeviceKind::from_name("pump-gateway"),
            Some(DeviceKind::PumpGateway)
        );
        assert_eq!(DeviceKind::PumpGateway.as_str(), "pump-gateway");
    }
}

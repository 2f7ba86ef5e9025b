//! Phase 1: frame + parse + rules on the PCD-03 fixtures, against `hl7-parser`.

use super::*;

/// One fixture, framed.
pub(crate) struct Fixture {
    pub(crate) name: String,
    /// The MLLP-framed bytes (what arrives on the wire).
    pub(crate) wire: Vec<u8>,
    /// The payload as text, for hl7-parser (`None` when it is not UTF-8).
    pub(crate) text: Option<String>,
}

pub(crate) fn load_fixtures() -> Vec<Fixture> {
    let dir = root().join("fixtures/hl7");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading fixtures/hl7")
        .take(10_000)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("pcd03-") && n.ends_with(".hl7"))
        })
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no fixtures/hl7/pcd03-*.hl7 found");
    paths
        .iter()
        .map(|p| {
            let payload = std::fs::read(p).expect("reading a fixture");
            Fixture {
                name: p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                wire: wrap(&payload),
                text: String::from_utf8(payload).ok(),
            }
        })
        .collect()
}

pub(crate) fn shipped_rules() -> RuleSet {
    let dir = root().join("rules/pcd03");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading rules/pcd03")
        .take(10_000)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|f| RuleSource::from_file(f).expect("reading a shipped rule file"))
        .collect();
    compile(&sources).unwrap_or_else(|d| panic!("the shipped rules do not compile:\n{d}"))
}

pub(crate) fn ehr_sender() -> Sender {
    Sender {
        address: IpAddr::V4(Ipv4Addr::new(10, 20, 30, 40)),
        certificate: Some(CertIdentity {
            common_name: Some(EHR_CN.to_owned()),
            alt_names: vec![],
        }),
    }
}

/// One phase-1 measurement: the median of [`SAMPLES`] timed samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate {
    pub(crate) ns_per_msg: f64,
    /// (slowest - fastest sample) / median, in percent.
    pub(crate) spread_pct: f64,
    /// Mean payload bytes per message of the set.
    pub(crate) bytes_per_msg: f64,
}

impl Rate {
    pub(crate) fn msgs_per_s(&self) -> f64 {
        1e9 / self.ns_per_msg
    }

    pub(crate) fn mb_per_s(&self) -> f64 {
        self.bytes_per_msg * self.msgs_per_s() / 1e6
    }
}

/// Time `pass` (one pass over a set of `msgs` messages holding `bytes` payload bytes) for about
/// `budget`: a twentieth to warm up and calibrate, the rest in [`SAMPLES`] equal samples.
pub(crate) fn measure(budget: Duration, msgs: usize, bytes: usize, mut pass: impl FnMut()) -> Rate {
    let warm = budget / 20;
    let start = Instant::now();
    let mut passes: u64 = 0;
    while passes < MAX_PASSES && (passes == 0 || start.elapsed() < warm) {
        pass();
        passes += 1;
    }
    let per_pass = start.elapsed().as_secs_f64() / passes as f64;
    let sample_secs = budget.as_secs_f64() * 0.95 / SAMPLES as f64;
    let n = ((sample_secs / per_pass.max(1e-9)) as u64).clamp(1, MAX_PASSES);
    let mut ns: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                pass();
            }
            t.elapsed().as_nanos() as f64 / (n as f64 * msgs as f64)
        })
        .collect();
    ns.sort_by(f64::total_cmp);
    let median = ns[SAMPLES / 2];
    Rate {
        ns_per_msg: median,
        spread_pct: (ns[SAMPLES - 1] - ns[0]) / median * 100.0,
        bytes_per_msg: bytes as f64 / msgs as f64,
    }
}

/// Frame and parse, keeping only the success path (every benchmark input is checked first).
#[inline(always)]
pub(crate) fn frame_parse<'a>(
    framer: &mut MllpFramer,
    wire: &'a [u8],
    limits: &ParseLimits,
) -> Option<Message<'a>> {
    let info = framer.next_frame(wire).ok().flatten()?;
    Message::parse(wire.get(info.payload)?, limits).ok()
}

/// Touch every subcomponent through wardgate's lazy accessors (the work hl7-parser does eagerly).
pub(crate) fn visit_all(msg: &Message<'_>) -> usize {
    let mut total = 0usize;
    for seg in msg.segments() {
        for f in 1..=seg.field_count() {
            let Some(field) = seg.field(f) else { continue };
            for r in 1..=field.repetition_count() {
                let Some(rep) = field.repetition(r) else {
                    continue;
                };
                for c in 1..=rep.component_count() {
                    let Some(comp) = rep.component(c) else {
                        continue;
                    };
                    for s in 1..=comp.subcomponent_count() {
                        total += comp.subcomponent(s).map_or(0, |v| v.raw().len());
                    }
                }
            }
        }
    }
    total
}

/// The results phase 1 hands to the summary.
pub(crate) struct MicroResults {
    /// Per message set: (label, frame+parse, frame+parse+rules, hl7-parser).
    pub(crate) sets: Vec<(String, Rate, Rate, Rate)>,
}

pub(crate) fn phase_parse(plan: &Plan) -> MicroResults {
    let fixtures = load_fixtures();
    let skipped: Vec<&str> = fixtures
        .iter()
        .filter(|f| f.text.is_none())
        .map(|f| f.name.as_str())
        .collect();
    let usable: Vec<&Fixture> = fixtures.iter().filter(|f| f.text.is_some()).collect();
    let rules = shipped_rules();
    let sender = ehr_sender();
    let limits = ParseLimits::default();

    // Every input must take the success path on both sides, or the comparison is meaningless.
    let mut allowed = 0usize;
    let mut denied = Vec::new();
    for f in &usable {
        let mut framer = MllpFramer::default();
        let msg = frame_parse(&mut framer, &f.wire, &limits)
            .unwrap_or_else(|| panic!("{}: wardgate does not frame+parse it", f.name));
        match rules.evaluate_hl7(&msg, &sender) {
            Verdict::Permit(_) => allowed += 1,
            Verdict::Deny(d) => denied.push(format!("{} ({})", f.name, d.rule)),
        }
        let text = f.text.as_deref().unwrap_or_default();
        if let Err(e) = hl7_parser::parse_message(text) {
            panic!("{}: hl7-parser does not parse it: {e}", f.name);
        }
    }

    let typical: Vec<&Fixture> = usable
        .iter()
        .copied()
        .filter(|f| f.name == TYPICAL)
        .collect();
    assert_eq!(typical.len(), 1, "fixture {TYPICAL} missing");
    let sets = [
        (format!("{} UTF-8 fixtures", usable.len()), usable.clone()),
        ("heparin-icu-safe".to_owned(), typical),
    ];

    println!("== 1. Parse and inspect: one thread, no I/O, messages already in memory ==");
    println!(
        "   {} PCD-03 fixtures, {} UTF-8 used on both sides; skipped (not UTF-8): {}",
        fixtures.len(),
        usable.len(),
        if skipped.is_empty() {
            "none".to_owned()
        } else {
            skipped.join(", ")
        }
    );
    println!(
        "   shipped rules on the {} used: {allowed} allowed, {} denied ({})",
        usable.len(),
        denied.len(),
        denied.join(", ")
    );
    println!(
        "   MB/s counts HL7 payload bytes (envelope excluded); median of {SAMPLES} samples, {} ms budget each; spread = (max-min)/median",
        plan.micro.as_millis()
    );
    println!(
        "   hl7-parser gets pre-validated &str payloads (no MLLP framing, no UTF-8 check): that favours it.\n"
    );
    let header = format!(
        "   {:<20} {:<52} {:>10} {:>13} {:>9} {:>7}",
        "message set", "case", "ns/msg", "msgs/s", "MB/s", "spread"
    );
    println!("{header}");
    println!("   {}", "-".repeat(header.len() - 3));
    let row = |set: &str, case: &str, r: &Rate| {
        println!(
            "   {:<20} {:<52} {:>10.1} {:>13.0} {:>9.1} {:>6.1}%",
            set,
            case,
            r.ns_per_msg,
            r.msgs_per_s(),
            r.mb_per_s(),
            r.spread_pct
        );
    };

    let mut results = Vec::new();
    for (label, set) in &sets {
        let wires: Vec<&[u8]> = set.iter().map(|f| f.wire.as_slice()).collect();
        let texts: Vec<&str> = set
            .iter()
            .map(|f| f.text.as_deref().unwrap_or_default())
            .collect();
        let bytes: usize = texts.iter().map(|t| t.len()).sum();
        let n = set.len();
        let parsed: Vec<Message<'_>> = wires
            .iter()
            .filter_map(|w| frame_parse(&mut MllpFramer::default(), w, &limits))
            .collect();
        let payloads: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let mut framer = MllpFramer::default();

        let a = measure(plan.micro, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(&m);
                }
            }
        });
        row(label, "(a) wardgate frame + parse", &a);
        let b = measure(plan.micro, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(rules.evaluate_hl7(&m, black_box(&sender)));
                }
            }
        });
        row(label, "(b) wardgate frame + parse + shipped rules", &b);
        let c = measure(plan.micro, n, bytes, || {
            for t in &texts {
                if let Ok(m) = hl7_parser::parse_message(black_box(t)) {
                    black_box(&m);
                }
            }
        });
        row(label, "(c) hl7-parser 0.3 parse_message", &c);
        let d = measure(plan.micro / 2, n, bytes, || {
            for w in &wires {
                if let Some(m) = frame_parse(&mut framer, black_box(w), &limits) {
                    black_box(visit_all(&m));
                }
            }
        });
        row(
            label,
            "(d) wardgate (a) + visit every subcomponent (info)",
            &d,
        );
        // Where the time of (b) goes.
        let p = measure(plan.micro / 2, n, bytes, || {
            for p in &payloads {
                if let Ok(m) = Message::parse(black_box(p), &limits) {
                    black_box(&m);
                }
            }
        });
        row(label, "    part: Message::parse only (no framing)", &p);
        let o = measure(plan.micro / 2, n, bytes, || {
            for m in &parsed {
                let _ = black_box(read_infusion_orders(black_box(m)));
            }
        });
        row(label, "    part: read_infusion_orders (parsed message)", &o);
        let e = measure(plan.micro / 2, n, bytes, || {
            for m in &parsed {
                black_box(rules.evaluate_hl7(black_box(m), &sender));
            }
        });
        row(label, "    part: evaluate_hl7 (parsed message)", &e);
        println!(
            "   {:<20} ratio (c)/(a) = {:.1}x   (c)/(b) = {:.1}x   (c)/(d) = {:.1}x\n",
            "",
            c.ns_per_msg / a.ns_per_msg,
            c.ns_per_msg / b.ns_per_msg,
            c.ns_per_msg / d.ns_per_msg
        );
        results.push((label.clone(), a, b, c));
    }
    MicroResults { sets: results }
}

//! Conditions on values: the operators a rule can apply to a field, a certificate name or an address.

use ipnet::IpNet;
use regex::bytes::Regex;
use std::net::IpAddr;

/// Operators on a text value; all given operators must hold.
///
/// A value can be absent (field empty, no certificate) or have several instances (subject
/// alternative names). Positive operators (`equals`, `one_of`, `matches`, `min`, `max`) hold when
/// any instance satisfies them; negative ones (`not_equals`, `not_one_of`) hold when no instance
/// violates them, so an absent value is "not one of" every list.
#[derive(Debug, Clone, Default)]
pub struct TextCondition {
    /// Exactly this value.
    pub equals: Option<Vec<u8>>,
    /// Anything but this value.
    pub not_equals: Option<Vec<u8>>,
    /// One of these values.
    pub one_of: Option<Vec<Vec<u8>>>,
    /// None of these values.
    pub not_one_of: Option<Vec<Vec<u8>>>,
    /// The whole value matches this regular expression (anchored at both ends).
    pub matches: Option<Regex>,
    /// The value is present (true) or absent (false).
    pub exists: Option<bool>,
    /// The value is a number no smaller than this.
    pub min: Option<f64>,
    /// The value is a number no larger than this.
    pub max: Option<f64>,
    /// Compare ignoring ASCII case (DNS names in certificates).
    pub ignore_case: bool,
}

impl TextCondition {
    /// A condition that holds for any of the given values.
    pub fn one_of(values: Vec<Vec<u8>>, ignore_case: bool) -> Self {
        TextCondition {
            one_of: Some(values),
            ignore_case,
            ..TextCondition::default()
        }
    }

    fn eq(&self, a: &[u8], b: &[u8]) -> bool {
        if self.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }

    /// Evaluate against every instance of the value (empty = absent).
    pub fn holds<'v, I>(&self, values: I) -> bool
    where
        I: IntoIterator<Item = &'v [u8]>,
        I::IntoIter: Clone,
    {
        let values = values.into_iter();
        let present = values.clone().next().is_some();
        if let Some(want) = self.exists {
            if want != present {
                return false;
            }
        }
        let any = |f: &dyn Fn(&[u8]) -> bool| values.clone().any(f);
        let all = |f: &dyn Fn(&[u8]) -> bool| values.clone().all(f);
        if let Some(e) = &self.equals {
            if !any(&|v| self.eq(v, e)) {
                return false;
            }
        }
        if let Some(e) = &self.not_equals {
            if !all(&|v| !self.eq(v, e)) {
                return false;
            }
        }
        if let Some(list) = &self.one_of {
            if !any(&|v| list.iter().any(|e| self.eq(v, e))) {
                return false;
            }
        }
        if let Some(list) = &self.not_one_of {
            if !all(&|v| !list.iter().any(|e| self.eq(v, e))) {
                return false;
            }
        }
        if let Some(re) = &self.matches {
            if !any(&|v| re.is_match(v)) {
                return false;
            }
        }
        if self.min.is_some() || self.max.is_some() {
            let in_range = |v: &[u8]| {
                number(v).is_some_and(|n| {
                    self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
                })
            };
            if !any(&in_range) {
                return false;
            }
        }
        true
    }
}

/// Parse a decimal number the way HL7 NM is written; anything else is not a number. A bare
/// decimal (the usual case) is read without the general reader's UTF-8, trimming and
/// `str::parse` steps, to the same value.
fn number(v: &[u8]) -> Option<f64> {
    wardgate_hl7::short_decimal(v).or_else(|| general_number(v))
}

/// The general reader: trimmed UTF-8, sign, digits and at most one `.`, via `str::parse`.
fn general_number(v: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if s.len() > 64
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || digits.bytes().filter(|&b| b == b'.').count() > 1
        || digits == "."
    {
        return None;
    }
    s.parse().ok()
}

/// Condition on the peer address: inside one of, or outside all of, some networks.
#[derive(Debug, Clone, Default)]
pub struct AddressCondition {
    /// The address is in one of these networks.
    pub one_of: Option<Vec<IpNet>>,
    /// The address is in none of these networks.
    pub not_one_of: Option<Vec<IpNet>>,
}

impl AddressCondition {
    /// Evaluate against the peer address (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn holds(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if let Some(nets) = &self.one_of {
            if !nets.iter().any(|n| n.contains(&addr)) {
                return false;
            }
        }
        if let Some(nets) = &self.not_one_of {
            if nets.iter().any(|n| n.contains(&addr)) {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals<'a>(v: &'a [&'a str]) -> impl Iterator<Item = &'a [u8]> + Clone {
        v.iter().map(|s| s.as_bytes())
    }

    #[test]
    fn absent_values_fail_positive_and_pass_negative_operators() {
        let one_of = TextCondition::one_of(vec![b"EGH_NORTH".to_vec()], false);
        assert!(!one_of.holds(vals(&[])));
        let not_one_of = TextCondition {
            not_one_of: Some(vec![b"EGH_NORTH".to_vec()]),
            ..Default::default()
        };
        assert!(not_one_of.holds(vals(&[])));
        assert!(!not_one_of.holds(vals(&["EGH_NORTH"])));
    }

    #[test]
    fn any_instance_satisfies_positive_operators() {
        let c = TextCondition::one_of(vec![b"ehr.egh.example".to_vec()], true);
        assert!(c.holds(vals(&["other.example", "EHR.egh.example"])));
        assert!(!c.holds(vals(&["other.example"])));
    }

    #[test]
    fn short_decimals_read_as_the_general_reader_reads_them() {
        let alphabet = [b'+', b'-', b'.', b'0', b'7', b'9', b' ', b'e'];
        let mut inputs: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..5 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |&b| {
                        let mut t = s.clone();
                        t.push(b);
                        t
                    })
                })
                .collect();
            inputs.extend(longer);
        }
        inputs.extend(
            [
                "123456789012345",
                "1234567890123456",
                "-0.000000000000001",
                "99999999999999.9",
            ]
            .map(|s| s.as_bytes().to_vec()),
        );
        for input in &inputs {
            assert_eq!(
                number(input).map(f64::to_bits),
                general_number(input).map(f64::to_bits),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn numeric_bounds_need_a_number() {
        let c = TextCondition {
            min: Some(1.0),
            max: Some(10.0),
            ..Default::default()
        };
        assert!(c.holds(vals(&["5"])));
        assert!(c.holds(vals(&["10.0"])));
        assert!(!c.holds(vals(&["10.5"])));
        assert!(!c.holds(vals(&["5 mL"])));
        assert!(!c.holds(vals(&["1e3"])));
    }

    #[test]
    fn addresses_match_networks() {
        let c = AddressCondition {
            one_of: Some(vec!["10.20.0.0/16".parse().unwrap()]),
            not_one_of: Some(vec!["10.20.99.0/24".parse().unwrap()]),
        };
        assert!(c.holds("10.20.1.5".parse().unwrap()));
        assert!(!c.holds("10.20.99.5".parse().unwrap()));
        assert!(!c.holds("192.0.2.1".parse().unwrap()));
        assert!(c.holds("::ffff:10.20.1.5".parse().unwrap()));
    }
}

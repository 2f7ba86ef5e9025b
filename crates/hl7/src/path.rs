//! Location paths such as `OBX[2]-18.1` or `PID-3(2).1`, parsed with nom.

use core::fmt;
use core::str::FromStr;

use nom::{
    IResult, Parser,
    bytes::complete::{tag, take_while_m_n},
    character::complete::digit1,
    combinator::opt,
};

/// Largest number accepted for any part of a path.
pub const MAX_PATH_NUMBER: usize = 999;

/// `SEG[occ]-field(rep).component.subcomponent`, e.g. `MSH-9.1`, `RXG-15`, `OBX[2]-18.1`,
/// `PID-3(2).1`, `ERR-3.1.2`. Occurrence and repetition are 1-based and default to 1.
///
/// When `component` is `None`, [`crate::Message::get`] returns the whole repetition
/// (e.g. `MSH-9` gives `RGV^O15^RGV_O15`) and `subcomponent` is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    /// Segment id, e.g. `*b"OBX"`.
    pub segment: [u8; 3],
    /// 1-based occurrence of the segment.
    pub occurrence: usize,
    /// Field number (HL7 numbering; MSH-1 is the field separator).
    pub field: usize,
    /// 1-based repetition.
    pub repetition: usize,
    /// 1-based component, if any.
    pub component: Option<usize>,
    /// 1-based subcomponent, if any.
    pub subcomponent: Option<usize>,
}

/// A path string that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The text does not follow the grammar.
    #[error("bad path syntax at byte {offset}: expected {expected}")]
    Syntax {
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A number is 0 or above [`MAX_PATH_NUMBER`].
    #[error("path {what} is out of range (1..=999)")]
    OutOfRange {
        /// Which part: `occurrence`, `field`, `repetition`, `component` or `subcomponent`.
        what: &'static str,
    },
}

type In<'a> = &'a [u8];

fn segment_id(i: In<'_>) -> IResult<In<'_>, In<'_>> {
    take_while_m_n(3, 3, |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit()).parse(i)
}

/// Parsing state: the whole input, for offsets in errors.
struct Cursor<'a> {
    whole: &'a [u8],
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> usize {
        self.whole.len() - self.rest.len()
    }

    fn syntax(&self, expected: &'static str) -> PathError {
        PathError::Syntax {
            offset: self.offset(),
            expected,
        }
    }

    /// Run a nom parser; on failure report `expected` at the current offset.
    fn run<O>(
        &mut self,
        mut p: impl Parser<In<'a>, Output = O, Error = nom::error::Error<In<'a>>>,
        expected: &'static str,
    ) -> Result<O, PathError> {
        match p.parse(self.rest) {
            Ok((rest, out)) => {
                self.rest = rest;
                Ok(out)
            }
            Err(_) => Err(self.syntax(expected)),
        }
    }

    /// Run an optional nom parser; `None` when it does not match.
    fn maybe<O>(
        &mut self,
        p: impl Parser<In<'a>, Output = O, Error = nom::error::Error<In<'a>>>,
    ) -> Option<O> {
        self.run(opt(p), "").ok().flatten()
    }
}

/// Convert digits to a number in `1..=MAX_PATH_NUMBER` without overflow.
fn number(digits: &[u8], what: &'static str) -> Result<usize, PathError> {
    let out_of_range = PathError::OutOfRange { what };
    let significant = digits
        .iter()
        .position(|&b| b != b'0')
        .and_then(|p| digits.get(p..))
        .unwrap_or(&[]);
    if significant.is_empty() || significant.len() > 3 {
        return Err(out_of_range);
    }
    let n = significant
        .iter()
        .fold(0usize, |acc, &b| acc * 10 + usize::from(b - b'0'));
    if n > MAX_PATH_NUMBER {
        return Err(out_of_range);
    }
    Ok(n)
}

impl Path {
    /// Parse a path such as `OBX[2]-18.1`.
    pub fn parse(s: &str) -> Result<Path, PathError> {
        let mut c = Cursor {
            whole: s.as_bytes(),
            rest: s.as_bytes(),
        };
        let id = c.run(segment_id, "segment id (3 uppercase letters or digits)")?;
        let segment: [u8; 3] = id.try_into().map_err(|_| PathError::Syntax {
            offset: 0,
            expected: "segment id (3 uppercase letters or digits)",
        })?;
        let occurrence = match c.maybe(tag(&b"["[..])) {
            Some(_) => {
                let digits = c.run(digit1, "occurrence number")?;
                c.run(tag(&b"]"[..]), "`]`")?;
                number(digits, "occurrence")?
            }
            None => 1,
        };
        c.run(tag(&b"-"[..]), "`-` before the field number")?;
        let field = number(c.run(digit1, "field number")?, "field")?;
        let repetition = match c.maybe(tag(&b"("[..])) {
            Some(_) => {
                let digits = c.run(digit1, "repetition number")?;
                c.run(tag(&b")"[..]), "`)`")?;
                number(digits, "repetition")?
            }
            None => 1,
        };
        let mut component = None;
        let mut subcomponent = None;
        if c.maybe(tag(&b"."[..])).is_some() {
            let digits = c.run(digit1, "component number")?;
            component = Some(number(digits, "component")?);
            if c.maybe(tag(&b"."[..])).is_some() {
                let digits = c.run(digit1, "subcomponent number")?;
                subcomponent = Some(number(digits, "subcomponent")?);
            }
        }
        if !c.rest.is_empty() {
            return Err(c.syntax("end of path"));
        }
        Ok(Path {
            segment,
            occurrence,
            field,
            repetition,
            component,
            subcomponent,
        })
    }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Path::parse(s)
    }
}

impl fmt::Display for Path {
    /// Canonical form: occurrence and repetition only when not 1.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.segment {
            write!(f, "{}", char::from(b))?;
        }
        if self.occurrence != 1 {
            write!(f, "[{}]", self.occurrence)?;
        }
        write!(f, "-{}", self.field)?;
        if self.repetition != 1 {
            write!(f, "({})", self.repetition)?;
        }
        if let Some(c) = self.component {
            write!(f, ".{c}")?;
            if let Some(s) = self.subcomponent {
                write!(f, ".{s}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Path, PathError> {
        Path::parse(s)
    }

    #[test]
    fn grammar() {
        let path = p("OBX[2]-18.1").ok();
        assert_eq!(
            path,
            Some(Path {
                segment: *b"OBX",
                occurrence: 2,
                field: 18,
                repetition: 1,
                component: Some(1),
                subcomponent: None,
            })
        );
        let path = p("PID-3(2).1.4").ok();
        assert_eq!(path.as_ref().map(|p| p.repetition), Some(2));
        assert_eq!(path.as_ref().and_then(|p| p.subcomponent), Some(4));
        for s in [
            "MSH-9",
            "MSH-9.1",
            "RXG-15",
            "OBX[2]-18.1",
            "PID-3(2).1",
            "ERR-3.1.2",
        ] {
            assert_eq!(p(s).map(|p| p.to_string()).as_deref(), Ok(s));
        }
        assert_eq!(
            p("PID[1]-3(1)").map(|p| p.to_string()).as_deref(),
            Ok("PID-3")
        );
        assert_eq!(p("Z01-1").map(|p| p.segment), Ok(*b"Z01"));
    }

    #[test]
    fn errors() {
        assert!(matches!(p(""), Err(PathError::Syntax { offset: 0, .. })));
        assert!(matches!(
            p("pid-3"),
            Err(PathError::Syntax { offset: 0, .. })
        ));
        assert!(matches!(
            p("PID3"),
            Err(PathError::Syntax { offset: 3, .. })
        ));
        assert!(matches!(
            p("PID-"),
            Err(PathError::Syntax { offset: 4, .. })
        ));
        assert!(matches!(
            p("PID-3."),
            Err(PathError::Syntax { offset: 6, .. })
        ));
        assert!(matches!(
            p("PID-3.1."),
            Err(PathError::Syntax { offset: 8, .. })
        ));
        assert!(matches!(
            p("PID-3x"),
            Err(PathError::Syntax { offset: 5, .. })
        ));
        assert!(matches!(
            p("PID[2-3"),
            Err(PathError::Syntax { offset: 5, .. })
        ));
        assert!(matches!(
            p("PID-3(2"),
            Err(PathError::Syntax { offset: 7, .. })
        ));
        assert_eq!(p("PID-0"), Err(PathError::OutOfRange { what: "field" }));
        assert_eq!(p("PID-1000"), Err(PathError::OutOfRange { what: "field" }));
        assert_eq!(p("PID-0999").map(|p| p.field), Ok(999));
        assert_eq!(
            p("PID-99999999999999999999999999"),
            Err(PathError::OutOfRange { what: "field" })
        );
        assert_eq!(
            p("PID[0]-1"),
            Err(PathError::OutOfRange { what: "occurrence" })
        );
        assert_eq!(
            p("PID-1(0)"),
            Err(PathError::OutOfRange { what: "repetition" })
        );
        assert_eq!(
            p("PID-1.0"),
            Err(PathError::OutOfRange { what: "component" })
        );
        assert_eq!(
            p("PID-1.1.0"),
            Err(PathError::OutOfRange {
                what: "subcomponent"
            })
        );
        assert!(matches!(p("PID-1.1.1.1"), Err(PathError::Syntax { .. })));
        assert!(matches!(
            p("PÏD-1"),
            Err(PathError::Syntax { offset: 0, .. })
        ));
    }
}

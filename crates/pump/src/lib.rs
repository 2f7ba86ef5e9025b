//! wardgate-pump: the infusion-pump command protocol (being written).
#![forbid(unsafe_code)]

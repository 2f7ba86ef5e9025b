//! Unit parsing and conversion, as the drug library relies on it.

use super::*;

fn coded<'a>(
    id: &'a str,
    text: &'a str,
    sys: &'a str,
    aid: &'a str,
    atext: &'a str,
    asys: &'a str,
) -> Coded<'a> {
    Coded::from_components([id, text, sys, aid, atext, asys].map(Into::into))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * b.abs().max(1.0)
}

#[test]
fn ml_per_min_is_sixty_ml_per_hour() {
    let from = parse_ucum("mL/min").unwrap();
    let to = parse_ucum("mL/h").unwrap();
    assert!(close(convert(1.5, &from, &to, None).unwrap(), 90.0));
}

#[test]
fn mg_and_mcg_convert() {
    let mg = parse_ucum("mg").unwrap();
    let mcg = parse_ucum("mcg").unwrap();
    assert!(close(convert(2.0, &mg, &mcg, None).unwrap(), 2000.0));
    let ug = parse_ucum("ug").unwrap();
    assert!(close(convert(2000.0, &ug, &mg, None).unwrap(), 2.0));
}

#[test]
fn per_kg_needs_weight() {
    let per_kg = parse_ucum("U/kg/h").unwrap();
    let abs = parse_ucum("U/h").unwrap();
    assert_eq!(
        convert(18.0, &per_kg, &abs, None),
        Err(UnitError::NeedsWeight)
    );
    assert!(close(
        convert(18.0, &per_kg, &abs, Some(80.0)).unwrap(),
        1440.0
    ));
    assert!(close(
        convert(1440.0, &abs, &per_kg, Some(80.0)).unwrap(),
        18.0
    ));
    assert_eq!(
        convert(18.0, &per_kg, &abs, Some(9000.0)),
        Err(UnitError::NeedsWeight)
    );
}

#[test]
fn dose_is_not_a_rate() {
    let dose = parse_ucum("U").unwrap();
    let rate = parse_ucum("mL/h").unwrap();
    assert!(matches!(
        convert(5.0, &dose, &rate, Some(80.0)),
        Err(UnitError::Incompatible { .. })
    ));
    let mass_rate = parse_ucum("mg/h").unwrap();
    let units_rate = parse_ucum("U/h").unwrap();
    assert!(convert(5.0, &mass_rate, &units_rate, None).is_err());
}

#[test]
fn mdc_mnemonics_and_codes_agree() {
    assert_eq!(
        parse_mdc_mnemonic("MDC_DIM_MILLI_L_PER_HR").unwrap(),
        parse_ucum("mL/h").unwrap()
    );
    assert!(
        parse_mdc_code("265266")
            .unwrap()
            .same_as(&parse_ucum("mL/h").unwrap())
    );
    assert!(
        parse_mdc_code("265619")
            .unwrap()
            .same_as(&parse_ucum("ug/kg/min").unwrap())
    );
    assert!(
        parse_mdc_mnemonic("MDC_DIM_MICRO_G_PER_KG_PER_MIN")
            .unwrap()
            .same_as(&parse_ucum("mcg/kg/min").unwrap())
    );
    assert_eq!(parse_mdc_code("263875").unwrap().kind, Kind::Weight);
    assert_eq!(
        parse_mdc_mnemonic("MDC_DIM_KILO_G").unwrap().kind,
        Kind::Weight
    );
    assert!(
        parse_mdc_code("263762")
            .unwrap()
            .same_as(&parse_ucum("mL").unwrap())
    );
    assert!(
        parse_mdc_mnemonic("MDC_DIM_X_INTL_UNIT_PER_HR")
            .unwrap()
            .is_dose_rate()
    );
}

#[test]
fn either_triplet_order_resolves() {
    let mdc_first = coded(
        "265266",
        "MDC_DIM_MILLI_L_PER_HR",
        "MDC",
        "mL/h",
        "mL/h",
        "UCUM",
    );
    let ucum_first = coded(
        "mL/h",
        "mL/h",
        "UCUM",
        "265266",
        "MDC_DIM_MILLI_L_PER_HR",
        "MDC",
    );
    assert!(resolve_coded(&mdc_first).unwrap().is_volume_rate());
    assert!(resolve_coded(&ucum_first).unwrap().is_volume_rate());
}

#[test]
fn disagreeing_triplets_are_refused() {
    let hidden = coded(
        "mL/min",
        "mL/min",
        "UCUM",
        "265266",
        "MDC_DIM_MILLI_L_PER_HR",
        "MDC",
    );
    assert!(matches!(
        resolve_coded(&hidden),
        Err(UnitError::Conflict(..))
    ));
}

#[test]
fn free_text_is_ignored_when_a_code_resolves() {
    let c = coded("mL/h", "millilitres per hour", "UCUM", "", "", "");
    assert!(resolve_coded(&c).unwrap().is_volume_rate());
    let none = coded("", "", "", "", "", "");
    assert_eq!(resolve_coded(&none), Err(UnitError::Missing));
    let bad = coded("furlongs/fortnight", "", "UCUM", "", "", "");
    assert!(matches!(resolve_coded(&bad), Err(UnitError::Unknown(_))));
}

#[test]
fn megagram_spelling_is_not_a_prefix() {
    // `Mg` is read as the hospital's mg, never as 10^6 g.
    assert!(
        parse_ucum("Mg")
            .unwrap()
            .same_as(&parse_ucum("mg").unwrap())
    );
    assert!(parse_ucum("mg/kg/kg").is_err());
    assert!(parse_ucum("mL/h/min").is_err());
}

#[test]
fn split_per_is_str_split() {
    for text in [
        "",
        "_PER_",
        "A_PER_B",
        "A_PER__PER_B",
        "A_PER",
        "_PER_A_PER_",
        "X_PE_PER_R",
    ] {
        assert_eq!(
            split_per(text).collect::<Vec<_>>(),
            text.split("_PER_").collect::<Vec<_>>(),
            "{text}"
        );
    }
}

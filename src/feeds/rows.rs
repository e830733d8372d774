//! The row types of each feed file and their parsers: every field is checked in column order
//! (document numbers, phones, days, region codes against the effective region table, enum
//! spellings), then the row's intervals; the first problem is the reject reason, naming the
//! field and its value.

use crate::domain::mask;
use crate::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, Channel, CommunityRecord, CommunityStatus, Day,
    DayError, IdNumber, Period, Phone, PhoneError, PhoneState, PhoneStatus, Precision, RegionCode,
    RegionError, Registration, RiskArea, RiskLevel, Stay, StaySource, TravelMode, Verification,
};
use crate::regions::RegionTable;

use super::reader::{Fields, quote};

/// A row of `bindings.csv`: a phone bound to a person through a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BindingRow {
    /// The person.
    pub id: IdNumber,
    /// The phone.
    pub phone: Phone,
    /// The app it was bound through.
    pub channel: Channel,
    /// When.
    pub binding: Binding,
}

/// A row of `phone_stays.csv`: a telecom stay (source [`StaySource::Telecom`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PhoneStayRow {
    /// The phone.
    pub phone: Phone,
    /// Where and when.
    pub stay: Stay,
}

/// A row of `person_stays.csv`: a flow-survey or self-reported stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PersonStayRow {
    /// The person.
    pub id: IdNumber,
    /// Where, when and from which source.
    pub stay: Stay,
}

/// A row of `cdc.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CdcRow {
    /// The person.
    pub id: IdNumber,
    /// Category and period.
    pub record: CdcRecord,
}

/// A row of `community.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CommunityRow {
    /// The person.
    pub id: IdNumber,
    /// Status and period.
    pub record: CommunityRecord,
    /// The community that manages the person (free text, may be empty).
    pub community: String,
}

/// A row of `arrivals.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArrivalRow {
    /// The person.
    pub id: IdNumber,
    /// The trip.
    pub arrival: Arrival,
}

/// A row of `registrations.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistrationRow {
    /// The person.
    pub id: IdNumber,
    /// When.
    pub registration: Registration,
    /// The community registered with (free text, may be empty).
    pub community: String,
}

/// A row of `verifications.csv`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VerificationRow {
    /// The person.
    pub id: IdNumber,
    /// Day and scope.
    pub verification: Verification,
    /// Who verified (free text, may be empty).
    pub operator: String,
    /// The hotline ticket (free text, may be empty).
    pub ticket: String,
}

/// A row of `phone_status.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PhoneStatusRow {
    /// The phone.
    pub phone: Phone,
    /// State and day.
    pub status: PhoneStatus,
}

/// A row of `dataset.csv`: one fact about the whole data set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DatasetRow {
    /// `home`: the region the deployment serves (a province or a city of the table).
    Home(RegionCode),
    /// Any other key: kept for a warning, never an error (a later version may know it).
    Other(String),
}

/// A row parser: the fields of one row and the effective region table to a row or a reason.
pub(crate) type Parser<T> = fn(&Fields<'_>, &RegionTable) -> Result<T, String>;

/// Typed access to fields; each error names the column and quotes the value.
impl Fields<'_> {
    fn id(&self, i: usize) -> Result<IdNumber, String> {
        let v = self.get(i)?;
        IdNumber::parse(v)
            .map_err(|e| format!("{} {}: {e}", self.name(i), quote(&mask::id_text(v))))
    }

    fn phone(&self, i: usize) -> Result<Phone, String> {
        let v = self.get(i)?;
        Phone::parse(v).map_err(|e| {
            let why = match e {
                PhoneError::NotDigit(c) => format!("non-digit {c:?}"),
                PhoneError::Length(n) => {
                    format!("{n} digits, a mainland mobile number has 11")
                }
                PhoneError::NotMobile => "does not start with 1 (not a mobile number)".into(),
            };
            format!("{} {}: {why}", self.name(i), quote(&mask::phone_text(v)))
        })
    }

    fn day(&self, i: usize) -> Result<Day, String> {
        let v = self.get(i)?;
        Day::parse(v).map_err(|e| self.day_error(i, v, e))
    }

    fn opt_day(&self, i: usize) -> Result<Option<Day>, String> {
        let v = self.get(i)?;
        Day::parse_opt(v).map_err(|e| self.day_error(i, v, e))
    }

    fn day_error(&self, i: usize, v: &str, e: DayError) -> String {
        let why = match e {
            DayError::Format(_) => "not a day of the form YYYY-MM-DD",
            DayError::NoSuchDate(_) => "no such date",
        };
        format!("{} {}: {why}", self.name(i), quote(v))
    }

    fn region(&self, i: usize, table: &RegionTable) -> Result<RegionCode, String> {
        let v = self.get(i)?;
        self.known_region(i, v, table)
    }

    fn opt_region(&self, i: usize, table: &RegionTable) -> Result<Option<RegionCode>, String> {
        let v = self.get(i)?;
        if v.is_empty() {
            return Ok(None);
        }
        self.known_region(i, v, table).map(Some)
    }

    fn known_region(&self, i: usize, v: &str, table: &RegionTable) -> Result<RegionCode, String> {
        let code = RegionCode::parse(v).map_err(|e| {
            let why = match e {
                RegionError::NotDigits(_) => "not a region code (non-digit)".to_string(),
                RegionError::Length(_, n) => {
                    format!("{n} digits, a region code has 2, 4, 6, 9 or 12")
                }
                RegionError::NoProvince(_) => "no province (starts with 00)".to_string(),
            };
            format!("{} {}: {why}", self.name(i), quote(v))
        })?;
        if table.contains(code) {
            Ok(code)
        } else {
            Err(format!("{} {}: unknown region", self.name(i), quote(v)))
        }
    }

    fn choice<T>(
        &self,
        i: usize,
        parse: fn(&str) -> Option<T>,
        expected: &str,
    ) -> Result<T, String> {
        let v = self.get(i)?;
        parse(v).ok_or_else(|| format!("{} {}: expected one of {expected}", self.name(i), quote(v)))
    }

    fn text(&self, i: usize) -> Result<String, String> {
        self.get(i).map(str::to_string)
    }

    /// `from`/`to` columns: `to`, when given, must not be before `from`.
    fn period(&self, from: usize, to: usize) -> Result<Period, String> {
        let f = self.day(from)?;
        let t = self.opt_day(to)?;
        if let Some(t) = t {
            not_before(self, (from, f), (to, t))?;
        }
        Ok(Period { from: f, to: t })
    }
}

/// The day of column `later` must not be before the day of column `earlier`.
fn not_before(f: &Fields<'_>, earlier: (usize, Day), later: (usize, Day)) -> Result<(), String> {
    if later.1 < earlier.1 {
        return Err(format!(
            "{} {} is before {} {}",
            f.name(later.0),
            later.1,
            f.name(earlier.0),
            earlier.1
        ));
    }
    Ok(())
}

/// `key,value`
pub(crate) fn dataset(f: &Fields<'_>, t: &RegionTable) -> Result<DatasetRow, String> {
    let key = f.get(0)?;
    if key != "home" {
        return Ok(DatasetRow::Other(key.to_string()));
    }
    let home = f.region(1, t)?;
    if home.precision() > Precision::City {
        return Err(format!(
            "{} {}: a {} code; the home region is a city or a province",
            f.name(1),
            quote(&home.to_string()),
            home.precision()
        ));
    }
    Ok(DatasetRow::Home(home))
}

/// `id_number,phone,channel,bound_on,unbound_on`
pub(crate) fn binding(f: &Fields<'_>, _: &RegionTable) -> Result<BindingRow, String> {
    let id = f.id(0)?;
    let phone = f.phone(1)?;
    let channel = f.choice(2, Channel::parse, Channel::expected())?;
    let bound_on = f.day(3)?;
    let unbound_on = f.opt_day(4)?;
    if let Some(u) = unbound_on
        && u <= bound_on
    {
        return Err(format!(
            "{} {u} is not after {} {bound_on}",
            f.name(4),
            f.name(3)
        ));
    }
    Ok(BindingRow {
        id,
        phone,
        channel,
        binding: Binding {
            bound_on,
            unbound_on,
        },
    })
}

/// `phone,region,first_day,last_day`
pub(crate) fn phone_stay(f: &Fields<'_>, t: &RegionTable) -> Result<PhoneStayRow, String> {
    let phone = f.phone(0)?;
    let region = f.region(1, t)?;
    let first_day = f.day(2)?;
    let last_day = f.day(3)?;
    not_before(f, (2, first_day), (3, last_day))?;
    Ok(PhoneStayRow {
        phone,
        stay: Stay {
            region,
            first_day,
            last_day,
            source: StaySource::Telecom,
        },
    })
}

/// The sources `person_stays.csv` may name (telecom stays come from `phone_stays.csv`).
fn person_source(s: &str) -> Option<StaySource> {
    StaySource::parse(s).filter(|s| *s != StaySource::Telecom)
}

/// `id_number,region,first_day,last_day,source`
pub(crate) fn person_stay(f: &Fields<'_>, t: &RegionTable) -> Result<PersonStayRow, String> {
    let id = f.id(0)?;
    let region = f.region(1, t)?;
    let first_day = f.day(2)?;
    let last_day = f.day(3)?;
    let source = f.choice(4, person_source, "flow_survey self_report")?;
    not_before(f, (2, first_day), (3, last_day))?;
    Ok(PersonStayRow {
        id,
        stay: Stay {
            region,
            first_day,
            last_day,
            source,
        },
    })
}

/// `id_number,category,from,to`
pub(crate) fn cdc(f: &Fields<'_>, _: &RegionTable) -> Result<CdcRow, String> {
    let id = f.id(0)?;
    let category = f.choice(1, CdcCategory::parse, CdcCategory::expected())?;
    let period = f.period(2, 3)?;
    Ok(CdcRow {
        id,
        record: CdcRecord { category, period },
    })
}

/// `id_number,status,from,to,community`
pub(crate) fn community(f: &Fields<'_>, _: &RegionTable) -> Result<CommunityRow, String> {
    let id = f.id(0)?;
    let status = f.choice(1, CommunityStatus::parse, CommunityStatus::expected())?;
    let period = f.period(2, 3)?;
    let community = f.text(4)?;
    Ok(CommunityRow {
        id,
        record: CommunityRecord { status, period },
        community,
    })
}

/// `id_number,travel_day,origin,mode,booked_on`
pub(crate) fn arrival(f: &Fields<'_>, t: &RegionTable) -> Result<ArrivalRow, String> {
    let id = f.id(0)?;
    let travel_day = f.day(1)?;
    let origin = f.region(2, t)?;
    let mode = f.choice(3, TravelMode::parse, TravelMode::expected())?;
    let booked_on = f.day(4)?;
    Ok(ArrivalRow {
        id,
        arrival: Arrival {
            travel_day,
            origin,
            mode,
            booked_on,
        },
    })
}

/// `id_number,registered_on,community`
pub(crate) fn registration(f: &Fields<'_>, _: &RegionTable) -> Result<RegistrationRow, String> {
    let id = f.id(0)?;
    let registered_on = f.day(1)?;
    let community = f.text(2)?;
    Ok(RegistrationRow {
        id,
        registration: Registration { registered_on },
        community,
    })
}

/// `area,level,from,to`
pub(crate) fn risk_area(f: &Fields<'_>, t: &RegionTable) -> Result<RiskArea, String> {
    let area = f.region(0, t)?;
    let level = f.choice(1, RiskLevel::parse, RiskLevel::expected())?;
    let period = f.period(2, 3)?;
    Ok(RiskArea {
        area,
        level,
        period,
    })
}

/// `id_number,verified_on,scope,operator,ticket`
pub(crate) fn verification(f: &Fields<'_>, t: &RegionTable) -> Result<VerificationRow, String> {
    let id = f.id(0)?;
    let verified_on = f.day(1)?;
    let scope = f.opt_region(2, t)?;
    let operator = f.text(3)?;
    let ticket = f.text(4)?;
    Ok(VerificationRow {
        id,
        verification: Verification { verified_on, scope },
        operator,
        ticket,
    })
}

/// `phone,state,as_of`
pub(crate) fn phone_status(f: &Fields<'_>, _: &RegionTable) -> Result<PhoneStatusRow, String> {
    let phone = f.phone(0)?;
    let state = f.choice(1, PhoneState::parse, PhoneState::expected())?;
    let as_of = f.day(2)?;
    Ok(PhoneStatusRow {
        phone,
        status: PhoneStatus { state, as_of },
    })
}

#[cfg(test)]
mod tests {
    use super::super::reader::with_row;
    use super::super::schema::*;
    use super::*;

    const ID: &str = "11010519491231002X";

    fn table() -> &'static RegionTable {
        RegionTable::bundled()
    }

    fn parse<T>(spec: &'static FileSpec, p: Parser<T>, line: &str) -> Result<T, String> {
        with_row(spec, line, |f| p(f, table()))
    }

    #[test]
    fn good_rows_of_every_file() {
        let b = parse(
            &BINDINGS,
            binding,
            &format!("{ID},+86 138-0013-8000,wechat,2022-03-01,"),
        )
        .unwrap();
        assert_eq!(b.phone, Phone::parse("13800138000").unwrap());
        assert_eq!(b.channel, Channel::Wechat);
        assert_eq!(b.binding.unbound_on, None);

        let s = parse(
            &PHONE_STAYS,
            phone_stay,
            "13800138000,110100,2022-04-01,2022-04-01",
        )
        .unwrap();
        assert_eq!(s.stay.region.to_string(), "1101");
        assert_eq!(s.stay.source, StaySource::Telecom);

        let s = parse(
            &PERSON_STAYS,
            person_stay,
            &format!(" {ID} ,110105001,2022-04-01,2022-04-03,self_report"),
        )
        .unwrap();
        assert_eq!(s.stay.source, StaySource::SelfReport);
        assert_eq!(s.id.to_string(), ID);

        let c = parse(&CDC, cdc, &format!("{ID},close_contact,2022-04-01,")).unwrap();
        assert_eq!(c.record.category, CdcCategory::CloseContact);
        assert_eq!(c.record.period.to, None);

        let c = parse(
            &COMMUNITY,
            community,
            &format!("{ID},home_quarantine,2022-04-01,2022-04-14,建外街道 社区"),
        )
        .unwrap();
        assert_eq!(c.community, "建外街道 社区");

        let a = parse(
            &ARRIVALS,
            arrival,
            &format!("{ID},2022-04-02,310101,rail,2022-03-30"),
        )
        .unwrap();
        assert_eq!(a.arrival.mode, TravelMode::Rail);

        let r = parse(&REGISTRATIONS, registration, &format!("{ID},2022-04-03,")).unwrap();
        assert_eq!(r.community, "");
        let r = parse(
            &REGISTRATIONS,
            registration,
            &format!("{ID},2022-04-03,\u{3000}建外 社区\u{3000} "),
        )
        .unwrap();
        assert_eq!(r.community, "建外 社区", "ideographic spaces trimmed too");

        let z = parse(&RISK_AREAS, risk_area, "110105001,high,2022-04-01,").unwrap();
        assert_eq!(z.level, RiskLevel::High);

        let v = parse(
            &VERIFICATIONS,
            verification,
            &format!("{ID},2022-04-05,,op7,T-1"),
        )
        .unwrap();
        assert_eq!(v.verification.scope, None);
        assert_eq!((v.operator.as_str(), v.ticket.as_str()), ("op7", "T-1"));
        let v = parse(
            &VERIFICATIONS,
            verification,
            &format!("{ID},2022-04-05,110105,,"),
        )
        .unwrap();
        assert_eq!(v.verification.scope.unwrap().to_string(), "110105");

        let p = parse(
            &PHONE_STATUS,
            phone_status,
            "13800138000,long_off,2022-04-01",
        )
        .unwrap();
        assert_eq!(p.status.state, PhoneState::LongOff);
    }

    #[test]
    fn each_reject_names_the_field_and_value() {
        let cases: [(Result<(), String>, &str); 14] = [
            (
                parse(&CDC, cdc, "11010519491231002Y,confirmed,2022-04-01,").map(drop),
                r#"id_number "110105********002Y": check character 'Y' is not a digit or X"#,
            ),
            (
                parse(&CDC, cdc, &format!("{ID},confirm,2022-04-01,")).map(drop),
                r#"category "confirm": expected one of confirmed suspected asymptomatic close_contact secondary_contact"#,
            ),
            (
                parse(&CDC, cdc, &format!("{ID},confirmed,2022-04-03,2022-04-01")).map(drop),
                "to 2022-04-01 is before from 2022-04-03",
            ),
            (
                parse(&CDC, cdc, &format!("{ID},,2022-04-01,")).map(drop),
                "category is empty",
            ),
            (
                parse(
                    &PHONE_STAYS,
                    phone_stay,
                    "13800138000,110199,2022-04-01,2022-04-01",
                )
                .map(drop),
                r#"region "110199": unknown region"#,
            ),
            (
                parse(
                    &PHONE_STAYS,
                    phone_stay,
                    "1380013800,1101,2022-04-01,2022-04-01",
                )
                .map(drop),
                r#"phone "**********": 10 digits, a mainland mobile number has 11"#,
            ),
            (
                parse(
                    &PHONE_STAYS,
                    phone_stay,
                    "13800138000,11a,2022-04-01,2022-04-01",
                )
                .map(drop),
                r#"region "11a": not a region code (non-digit)"#,
            ),
            (
                parse(
                    &PERSON_STAYS,
                    person_stay,
                    &format!("{ID},110105,2022-04-03,2022-04-01,flow_survey"),
                )
                .map(drop),
                "last_day 2022-04-01 is before first_day 2022-04-03",
            ),
            (
                parse(
                    &PERSON_STAYS,
                    person_stay,
                    &format!("{ID},110105,2022-04-01,2022-04-01,telecom"),
                )
                .map(drop),
                r#"source "telecom": expected one of flow_survey self_report"#,
            ),
            (
                parse(
                    &PERSON_STAYS,
                    person_stay,
                    &format!("{ID},110105,2022-02-30,2022-04-01,self_report"),
                )
                .map(drop),
                r#"first_day "2022-02-30": no such date"#,
            ),
            (
                parse(
                    &ARRIVALS,
                    arrival,
                    &format!("{ID},2022/04/02,310101,rail,2022-03-30"),
                )
                .map(drop),
                r#"travel_day "2022/04/02": not a day of the form YYYY-MM-DD"#,
            ),
            (
                parse(
                    &BINDINGS,
                    binding,
                    &format!("{ID},13800138000,wechat,2022-03-01,2022-03-01"),
                )
                .map(drop),
                "unbound_on 2022-03-01 is not after bound_on 2022-03-01",
            ),
            (
                parse(
                    &VERIFICATIONS,
                    verification,
                    &format!("{ID},2022-04-05,110199,,"),
                )
                .map(drop),
                r#"scope "110199": unknown region"#,
            ),
            (
                parse(&PHONE_STATUS, phone_status, "13800138000,off,2022-04-01").map(drop),
                r#"state "off": expected one of active long_off not_in_city"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap_err(), want);
        }
    }

    #[test]
    fn the_first_problem_of_a_row_is_reported() {
        let e = parse(&PERSON_STAYS, person_stay, "1,110199,x,y,telecom").unwrap_err();
        assert_eq!(
            e,
            r#"id_number "*": document number is 1 character(s) long; a resident ID has 18"#
        );
        let e = parse(
            &PERSON_STAYS,
            person_stay,
            &format!("{ID},110105,2022-04-03,2022-04-01,x"),
        )
        .unwrap_err();
        assert!(e.starts_with(r#"source "x""#), "{e}");
    }
}

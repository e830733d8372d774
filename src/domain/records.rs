//! The record types of the feeds (DOMAIN.md §3) as the rules see them, and their enumerations
//! with the exact spellings the feeds use.

use super::{Day, PhoneTail, RegionCode};

/// Declares a feed enumeration with its spellings, `parse`, `as_str` and `ALL`.
macro_rules! feed_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value spelled `s` in a feed, if any.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The feed spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The feed spellings, space-separated, for error messages.
            pub fn expected() -> &'static str {
                concat!($($text, " "),+).trim_end()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

feed_enum!(
    /// Where a stay record comes from.
    StaySource {
        /// Telecom itinerary data (`phone_stays.csv`), mostly city precision.
        Telecom = "telecom",
        /// A flow survey by disease control, usually street precision.
        FlowSurvey = "flow_survey",
        /// The person's own report.
        SelfReport = "self_report",
    }
);

feed_enum!(
    /// A CDC category.
    CdcCategory {
        /// Confirmed case.
        Confirmed = "confirmed",
        /// Suspected case.
        Suspected = "suspected",
        /// Asymptomatic infection.
        Asymptomatic = "asymptomatic",
        /// Close contact.
        CloseContact = "close_contact",
        /// Contact of a close contact.
        SecondaryContact = "secondary_contact",
    }
);

feed_enum!(
    /// A community management status.
    CommunityStatus {
        /// Home quarantine (yellow).
        HomeQuarantine = "home_quarantine",
        /// Health monitoring (no finding; kept for the community's lists).
        HealthMonitoring = "health_monitoring",
    }
);

feed_enum!(
    /// How an arrival travelled.
    TravelMode {
        /// Train.
        Rail = "rail",
        /// Plane.
        Air = "air",
        /// Bus or car.
        Road = "road",
    }
);

feed_enum!(
    /// A risk area's level.
    RiskLevel {
        /// Medium risk.
        Medium = "medium",
        /// High risk.
        High = "high",
    }
);

feed_enum!(
    /// A binding channel.
    Channel {
        /// WeChat mini program.
        Wechat = "wechat",
        /// Alipay mini program.
        Alipay = "alipay",
        /// Baidu app.
        Baidu = "baidu",
        /// Beijing Tong app.
        Bjtong = "bjtong",
    }
);

feed_enum!(
    /// A phone's state in the telecom status feed.
    PhoneState {
        /// Active in the city.
        Active = "active",
        /// Switched off for a long time.
        LongOff = "long_off",
        /// Not in the city.
        NotInCity = "not_in_city",
    }
);

/// An inclusive day interval with an optional open end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    /// First day.
    pub from: Day,
    /// Last day (inclusive); `None` = still active.
    pub to: Option<Day>,
}

impl Period {
    /// True when `d` lies in the period.
    pub fn contains(&self, d: Day) -> bool {
        self.from <= d && self.to.is_none_or(|t| d <= t)
    }
}

/// A holder was in `region` from `first_day` to `last_day`, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stay {
    /// Where, at whatever precision the source had.
    pub region: RegionCode,
    /// First day.
    pub first_day: Day,
    /// Last day (inclusive).
    pub last_day: Day,
    /// Which feed it came from.
    pub source: StaySource,
}

/// A CDC record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CdcRecord {
    /// The category.
    pub category: CdcCategory,
    /// When it is active.
    pub period: Period,
}

/// A community record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommunityRecord {
    /// The status.
    pub status: CommunityStatus,
    /// When it is active.
    pub period: Period,
}

/// A ticket or entry record into the city.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arrival {
    /// The day of travel.
    pub travel_day: Day,
    /// Where the trip started.
    pub origin: RegionCode,
    /// How.
    pub mode: TravelMode,
    /// When the ticket was booked (the record exists from then on).
    pub booked_on: Day,
}

/// An arrival's registration with a community.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Registration {
    /// When it was registered.
    pub registered_on: Day,
}

/// A hotline verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Verification {
    /// When it was made.
    pub verified_on: Day,
    /// The region it covers; `None` = all regions.
    pub scope: Option<RegionCode>,
}

/// A phone's status as of a day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PhoneStatus {
    /// The state.
    pub state: PhoneState,
    /// The day it was observed.
    pub as_of: Day,
}

/// A binding interval of a phone to a person: from `bound_on` until `unbound_on` (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// First bound day.
    pub bound_on: Day,
    /// First day no longer bound; `None` = still bound.
    pub unbound_on: Option<Day>,
}

impl Binding {
    /// True when the phone is bound on day `d`.
    pub fn bound_on_day(&self, d: Day) -> bool {
        self.bound_on <= d && self.unbound_on.is_none_or(|u| d < u)
    }
}

/// A risk area designation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RiskArea {
    /// The designated region.
    pub area: RegionCode,
    /// Medium or high.
    pub level: RiskLevel,
    /// When it is active.
    pub period: Period,
}

/// One phone bound to a person, with everything the rules need about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PhoneRecords {
    /// The last 4 digits, shown in findings.
    pub tail: PhoneTail,
    /// Every binding of this phone to this person (any channel).
    pub bindings: Vec<Binding>,
    /// The phone's telecom stays.
    pub stays: Vec<Stay>,
    /// The phone's status records, in feed order.
    pub statuses: Vec<PhoneStatus>,
}

/// Everything known about one person: the input of the rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonRecords {
    /// The person's own stays (flow survey, self report).
    pub stays: Vec<Stay>,
    /// The phones ever bound to the person.
    pub phones: Vec<PhoneRecords>,
    /// CDC records.
    pub cdc: Vec<CdcRecord>,
    /// Community records.
    pub community: Vec<CommunityRecord>,
    /// Arrivals into the city.
    pub arrivals: Vec<Arrival>,
    /// Registrations with a community.
    pub registrations: Vec<Registration>,
    /// Hotline verifications.
    pub verifications: Vec<Verification>,
}

impl PersonRecords {
    /// Empties every list, keeping their capacity (for reuse on a hot path).
    pub fn clear(&mut self) {
        self.stays.clear();
        self.phones.clear();
        self.cdc.clear();
        self.community.clear();
        self.arrivals.clear();
        self.registrations.clear();
        self.verifications.clear();
    }
}

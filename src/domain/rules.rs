//! The rules of DOMAIN.md §4: from one person's records, the risk areas and a day to a colour,
//! findings (strongest first) and travel permission, under either policy.

use std::cmp::Reverse;
use std::fmt;

pub use super::matching::{Match, MatchKind, RiskAreaSet};
use super::{
    CdcCategory, CommunityStatus, Day, PersonRecords, PhoneState, PhoneTail, RegionCode, Stay,
};

/// How a stay coarser than a risk unit is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// A stay coarser than the risk unit is a *possible* match: a popup asking to verify, never
    /// yellow. The default.
    #[default]
    PrecisionAware,
    /// Legacy: every possible match counts as definite (kept to measure misfires).
    CityLevel,
}

impl Policy {
    /// Both policies.
    pub const ALL: [Policy; 2] = [Policy::PrecisionAware, Policy::CityLevel];

    /// The name used on the command line and in `Info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::PrecisionAware => "precision-aware",
            Policy::CityLevel => "city-level",
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "precision-aware" => Ok(Policy::PrecisionAware),
            "city-level" => Ok(Policy::CityLevel),
            _ => Err(format!(
                "unknown policy {s:?}: expected precision-aware or city-level"
            )),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A person's colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Color {
    /// No anomaly found.
    Green,
    /// Home quarantine.
    Yellow,
    /// Central quarantine.
    Red,
}

impl Color {
    /// The lower-case English name.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Green => "green",
            Color::Yellow => "yellow",
            Color::Red => "red",
        }
    }
}

/// Why a finding was made; declared strongest first (the order findings are returned in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    /// A confirmed-case CDC record active on D.
    CdcConfirmed,
    /// A suspected-case CDC record active on D.
    CdcSuspected,
    /// An asymptomatic-infection CDC record active on D.
    CdcAsymptomatic,
    /// A close-contact CDC record active on D.
    CdcCloseContact,
    /// A secondary-contact CDC record active on D.
    CdcSecondaryContact,
    /// A home-quarantine community record active on D.
    CommunityHomeQuarantine,
    /// A definite match on D or D-1.
    InRiskArea,
    /// A definite match earlier in the window, and no `InRiskArea`.
    VisitedRiskArea,
    /// A possible match in the window (precision-aware only).
    ItineraryImprecise,
    /// An arrival from a risk area with no registration since booking.
    ArrivalUnregistered,
    /// A bound phone whose latest status is long_off or not_in_city.
    PhoneUnverifiable,
}

impl Reason {
    /// Every reason, strongest first.
    pub const ALL: [Reason; 11] = [
        Reason::CdcConfirmed,
        Reason::CdcSuspected,
        Reason::CdcAsymptomatic,
        Reason::CdcCloseContact,
        Reason::CdcSecondaryContact,
        Reason::CommunityHomeQuarantine,
        Reason::InRiskArea,
        Reason::VisitedRiskArea,
        Reason::ItineraryImprecise,
        Reason::ArrivalUnregistered,
        Reason::PhoneUnverifiable,
    ];

    /// The name of DOMAIN.md §4 (`CDC_CONFIRMED`, …).
    pub fn name(self) -> &'static str {
        match self {
            Reason::CdcConfirmed => "CDC_CONFIRMED",
            Reason::CdcSuspected => "CDC_SUSPECTED",
            Reason::CdcAsymptomatic => "CDC_ASYMPTOMATIC",
            Reason::CdcCloseContact => "CDC_CLOSE_CONTACT",
            Reason::CdcSecondaryContact => "CDC_SECONDARY_CONTACT",
            Reason::CommunityHomeQuarantine => "COMMUNITY_HOME_QUARANTINE",
            Reason::InRiskArea => "IN_RISK_AREA",
            Reason::VisitedRiskArea => "VISITED_RISK_AREA",
            Reason::ItineraryImprecise => "ITINERARY_IMPRECISE",
            Reason::ArrivalUnregistered => "ARRIVAL_UNREGISTERED",
            Reason::PhoneUnverifiable => "PHONE_UNVERIFIABLE",
        }
    }

    /// The colour this finding gives; `None` for popups.
    pub fn color(self) -> Option<Color> {
        match self {
            Reason::CdcConfirmed
            | Reason::CdcSuspected
            | Reason::CdcAsymptomatic
            | Reason::CdcCloseContact => Some(Color::Red),
            Reason::CdcSecondaryContact | Reason::CommunityHomeQuarantine | Reason::InRiskArea => {
                Some(Color::Yellow)
            }
            _ => None,
        }
    }

    /// Whether the finding blocks travel.
    pub fn blocks_travel(self) -> bool {
        !matches!(
            self,
            Reason::ItineraryImprecise | Reason::ArrivalUnregistered | Reason::PhoneUnverifiable
        )
    }

    /// The finding a CDC category gives.
    pub fn of_cdc(c: CdcCategory) -> Reason {
        match c {
            CdcCategory::Confirmed => Reason::CdcConfirmed,
            CdcCategory::Suspected => Reason::CdcSuspected,
            CdcCategory::Asymptomatic => Reason::CdcAsymptomatic,
            CdcCategory::CloseContact => Reason::CdcCloseContact,
            CdcCategory::SecondaryContact => Reason::CdcSecondaryContact,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One reason for a colour or a popup.
///
/// Findings are unique on (reason, region, risk area, phone tail); `day` is the latest day of
/// that key: the latest uncleared match day for risk-area findings, the travel day for arrivals,
/// the `from` day of the record for CDC and community findings, the status's `as_of` for phones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Finding {
    /// Why.
    pub reason: Reason,
    /// The stay's region (or the arrival's origin); `None` for CDC, community and phone findings.
    pub region: Option<RegionCode>,
    /// The matching risk area's code.
    pub risk_area: Option<RegionCode>,
    /// The latest day (see the type's documentation).
    pub day: Day,
    /// The phone the finding came from, if any.
    pub phone_tail: Option<PhoneTail>,
    /// Whether it blocks travel.
    pub blocks_travel: bool,
}

impl Finding {
    fn new(
        reason: Reason,
        region: Option<RegionCode>,
        risk_area: Option<RegionCode>,
        day: Day,
        tail: Option<PhoneTail>,
    ) -> Finding {
        Finding {
            reason,
            region,
            risk_area,
            day,
            phone_tail: tail,
            blocks_travel: reason.blocks_travel(),
        }
    }
}

/// The answer for one person on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Code {
    /// Red, yellow or green.
    pub color: Color,
    /// Every finding that applies, strongest first.
    pub findings: Vec<Finding>,
    /// Green and no finding that blocks travel.
    pub travel_allowed: bool,
}

impl Code {
    /// Green with no findings.
    pub fn green() -> Code {
        Code {
            color: Color::Green,
            findings: Vec::new(),
            travel_allowed: true,
        }
    }

    /// Makes this code green with no findings, keeping the findings' allocation.
    pub fn clear(&mut self) {
        self.findings.clear();
        self.color = Color::Green;
        self.travel_allowed = true;
    }

    /// Derives colour and travel permission from findings, and orders them strongest first.
    pub fn from_findings(findings: Vec<Finding>) -> Code {
        let mut code = Code {
            color: Color::Green,
            findings,
            travel_allowed: true,
        };
        code.finish(false);
        code
    }

    /// Makes `findings` unique on their key (keeping the latest day) and orders them strongest
    /// first, unless `ready` says they already are, and derives colour and travel permission.
    fn finish(&mut self, ready: bool) {
        let findings = &mut self.findings;
        if findings.len() > 1 && !ready {
            // Unique on the key, keeping the latest day: sort by (key, latest day first), dedup.
            findings.sort_unstable_by_key(|f| (same_key(f), Reverse(f.day)));
            findings.dedup_by_key(|f| same_key(f));
            // Then strongest and latest first (by the day itself: this path also takes days the
            // packed key cannot tell apart). Keys are unique now, so the order is total.
            findings.sort_unstable_by_key(|f| (f.reason as u8, Reverse(f.day), ident(f)));
        }
        // Strongest first, and a stronger reason never gives a lighter colour
        // (`colours_never_lighten_from_stronger_to_weaker_reasons`): the first finding's.
        let color = findings
            .first()
            .and_then(|f| f.reason.color())
            .unwrap_or(Color::Green);
        self.travel_allowed = color == Color::Green && !findings.iter().any(|f| f.blocks_travel);
        self.color = color;
    }
}

/// Up to this many findings, `Findings::push` keeps them unique as they come and `order` sorts
/// them by packed keys; a person with more (rare: many stays in many risk areas) has them made
/// unique and ordered by sorts at the end.
const SCAN_LIMIT: usize = 16;

/// The findings of one evaluation as they are found, kept unique on their key (reason, region,
/// risk area, phone tail) with the latest day: most persons have a handful, and a scan of
/// packed keys per push, then one small sort on the same keys, costs far less than sorting the
/// duplicates away at the end.
struct Findings<'a> {
    list: &'a mut Vec<Finding>,
    /// `keys[i]` is `order_key(&list[i])` while `ready`.
    keys: [u128; SCAN_LIMIT],
    /// Whether `list` is unique and `keys` follow it: false once it outgrew `SCAN_LIMIT` or took
    /// a day the packed key cannot order, which leaves it to the sorts at the end.
    ready: bool,
}

impl<'a> Findings<'a> {
    fn new(list: &'a mut Vec<Finding>) -> Findings<'a> {
        list.clear();
        Findings {
            list,
            keys: [0; SCAN_LIMIT],
            ready: true,
        }
    }

    #[inline(always)]
    fn push(&mut self, f: Finding) {
        self.push_ident(f, ident(&f), true);
    }

    /// [`Findings::push`] with the finding's [`ident`] already worked out (a stay's matches
    /// share its region and phone tail). `scan: false` says that no finding with the same key
    /// has been pushed, which spares the search for it.
    #[inline(always)]
    fn push_ident(&mut self, f: Finding, ident: u128, scan: bool) {
        debug_assert_eq!(ident, self::ident(&f));
        if !self.ready {
            self.list.push(f);
            return;
        }
        if !(DAY_MIN..=DAY_MAX).contains(&f.day.0) {
            // A day the packed key cannot order (never one of real data): the sorts at the end.
            self.ready = false;
            self.list.push(f);
            return;
        }
        let key = key_of(f.reason, f.day, ident);
        let n = self.list.len();
        // The same finding with another day: it keeps the later one.
        if scan
            && let Some(i) = self.keys[..n]
                .iter()
                .position(|k| k & !DAY_BITS == key & !DAY_BITS)
        {
            if f.day > self.list[i].day {
                self.list[i] = f;
                self.keys[i] = key;
            }
            return;
        }
        if n == SCAN_LIMIT {
            self.ready = false;
        } else {
            self.keys[n] = key;
        }
        self.list.push(f);
    }

    /// Orders the findings strongest first by their keys (an insertion sort: they are few, and
    /// usually in order or nearly); whether they are now unique and in order.
    fn order(&mut self) -> bool {
        if !self.ready {
            return false;
        }
        let list = &mut self.list[..];
        let keys = &mut self.keys[..list.len()];
        for i in 1..list.len() {
            let k = keys[i];
            if keys[i - 1] < k {
                // Already after everything before it (keys are unique): most findings are.
                continue;
            }
            let f = list[i];
            let mut j = i;
            while j > 0 && keys[j - 1] > k {
                keys[j] = keys[j - 1];
                list[j] = list[j - 1];
                j -= 1;
            }
            keys[j] = k;
            list[j] = f;
        }
        true
    }

    /// Definite matches on D or D-1 become IN_RISK_AREA, and the earlier ones give nothing.
    fn promote_in_risk(&mut self, yesterday: Day) {
        let mut kept = 0;
        for i in 0..self.list.len() {
            let mut f = self.list[i];
            if f.reason == Reason::VisitedRiskArea {
                if f.day < yesterday {
                    continue;
                }
                f.reason = Reason::InRiskArea;
            }
            self.list[kept] = f;
            if self.ready {
                self.keys[kept] = order_key(&f);
            }
            kept += 1;
        }
        self.list.truncate(kept);
    }
}

/// Stays with distinct (region, phone tail) an evaluation remembers; past them every stay's
/// findings are searched for as they are pushed.
const SEEN_STAYS: usize = 8;

/// Where a finding's day sits in its [`order_key`]: 27 bits above the 97 of [`ident`].
const DAY_BITS: u128 = ((1 << 27) - 1) << 97;

/// The days [`order_key`] orders: 2^26 days (some 180,000 years) either side of 1970. A
/// YYYY-MM-DD day is always inside; a finding outside sends [`Findings`] to the sorts at the end.
const DAY_MIN: i32 = -(1 << 26);
const DAY_MAX: i32 = (1 << 26) - 1;

/// The order findings are returned in — reason (strongest first), latest day first, then
/// region, risk area and phone tail — as one integer for a day within `DAY_MIN..=DAY_MAX`: the
/// reason in the top 4 bits, the day counted back from `DAY_MAX` in the next 27, then
/// [`ident`]. Without the day's bits it is [`same_key`].
#[inline]
fn order_key(f: &Finding) -> u128 {
    key_of(f.reason, f.day, ident(f))
}

/// [`order_key`] of its parts.
#[inline(always)]
fn key_of(reason: Reason, day: Day, ident: u128) -> u128 {
    let back = (DAY_MAX - day.0.clamp(DAY_MIN, DAY_MAX)) as u128;
    u128::from(reason as u8) << 124 | back << 97 | ident
}

/// What makes findings the same finding (reason, region, risk area, phone tail), packed.
#[inline]
fn same_key(f: &Finding) -> u128 {
    u128::from(f.reason as u8) << 124 | ident(f)
}

/// A finding's (region, risk area, phone tail) packed into one integer ordered as that tuple is
/// (`None` first): the region and the area take 40 bits each (a padded code is under 10^12),
/// the tail 17.
#[inline]
fn ident(f: &Finding) -> u128 {
    region_bits(f.region) << 57 | region_bits(f.risk_area) << 17 | tail_bits(f.phone_tail)
}

/// A region's part of [`ident`], before its shift.
#[inline(always)]
fn region_bits(r: Option<RegionCode>) -> u128 {
    r.map_or(0, |r| u128::from(r.padded()) + 1)
}

/// A phone tail's part of [`ident`].
#[inline(always)]
fn tail_bits(t: Option<PhoneTail>) -> u128 {
    t.map_or(0, |t| u128::from(t.0) + 1)
}

/// Evaluates the rules of DOMAIN.md §4 for one person on day `day`.
pub fn evaluate(p: &PersonRecords, areas: &RiskAreaSet, day: Day, policy: Policy) -> Code {
    let mut code = Code::green();
    evaluate_into(p, areas, day, policy, &mut code);
    code
}

/// What a person's records are evaluated against: the query day, the policy and the risk areas
/// in force. One value for a whole call or batch.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    /// The day the code is for.
    pub day: Day,
    /// How imprecise stays count.
    pub policy: Policy,
    /// The risk areas in force.
    pub areas: &'a RiskAreaSet,
}

/// [`evaluate`] into `out`, reusing its findings' allocation: the query path calls it with one
/// `Code` per thread, so an evaluation allocates nothing once the buffer has grown.
pub fn evaluate_into(
    p: &PersonRecords,
    areas: &RiskAreaSet,
    day: Day,
    policy: Policy,
    out: &mut Code,
) {
    let mut findings = Findings::new(&mut out.findings);
    let ws = day.window_start();

    for r in &p.cdc {
        if r.period.contains(day) {
            findings.push(Finding::new(
                Reason::of_cdc(r.category),
                None,
                None,
                r.period.from,
                None,
            ));
        }
    }
    for r in &p.community {
        if r.status == CommunityStatus::HomeQuarantine && r.period.contains(day) {
            findings.push(Finding::new(
                Reason::CommunityHomeQuarantine,
                None,
                None,
                r.period.from,
                None,
            ));
        }
    }

    // Risk-area matches go straight into the findings: a definite match as VISITED_RISK_AREA
    // until every stay is seen, since one definite match on D or D-1 (IN_RISK_AREA) changes
    // what the others give.
    let yesterday = day.plus(-1);
    let mut in_risk = false;
    // The (region, phone tail) of the stays matched so far: a stay with a new pair, in a set
    // that names each area once, cannot give a finding already found, so its findings are
    // pushed without a search.
    let mut seen = [0u128; SEEN_STAYS];
    let mut n_seen = 0;
    // A stay counts on its days within `[from, to]`: the window, or the days of the window a
    // binding of its phone covers.
    let mut match_stay = |stay: &Stay, tail: Option<PhoneTail>, from: Day, to: Day| {
        let lo0 = stay.first_day.max(from);
        let hi0 = stay.last_day.min(to);
        if lo0 > hi0 {
            return;
        }
        let stay_bits = region_bits(Some(stay.region)) << 57 | tail_bits(tail);
        let scan =
            areas.repeats_areas() || n_seen == SEEN_STAYS || seen[..n_seen].contains(&stay_bits);
        if !scan {
            seen[n_seen] = stay_bits;
            n_seen += 1;
        }
        areas.with_matches(stay.region, |found| {
            for z in found {
                if !z.counts_for_stays() {
                    // A risk unit of the home region and a stay coarser than it: no match.
                    continue;
                }
                let lo = lo0.max(z.from);
                let hi = hi0.min(z.to);
                if lo > hi {
                    continue;
                }
                // Days up to the latest verification covering this unit are cleared; the
                // uncleared days are a suffix of [lo, hi], so a match remains when it ends
                // after that day.
                if !p.verifications.is_empty()
                    && let Some(v) = cleared_through(p, z.area.risk_unit(), day)
                    && v >= hi
                {
                    continue;
                }
                let reason = if z.kind == MatchKind::Definite || policy == Policy::CityLevel {
                    in_risk |= hi >= yesterday;
                    Reason::VisitedRiskArea
                } else {
                    Reason::ItineraryImprecise
                };
                findings.push_ident(
                    Finding::new(reason, Some(stay.region), Some(z.area), hi, tail),
                    stay_bits | region_bits(Some(z.area)) << 17,
                    scan,
                );
            }
        });
    };
    // Latest stays first: feeds list a person's stays in time order, and the findings are
    // returned latest first, so taken this way they arrive nearly in order and `order` has
    // little to move. (Any order gives the same findings: each key keeps its latest day.)
    for stay in p.stays.iter().rev() {
        match_stay(stay, None, ws, day);
    }
    // A phone's stays count on the days a binding of it to this person covers (`bound_on` ≤ d <
    // `unbound_on`): a recycled number marks neither its former nor its new holder for the
    // other's days. The bindings' days in the window are gathered first, so that a phone bound
    // through several channels at once has its stays matched once, over each run of bound days.
    for ph in &p.phones {
        let mut bound = ph
            .bindings
            .iter()
            .fold(0u32, |days, b| days | window_days(b, ws, day));
        while bound != 0 {
            let start = bound.trailing_zeros();
            let len = (bound >> start).trailing_ones();
            bound &= !(((1u32 << len) - 1) << start);
            let (from, to) = (ws.plus(start as i32), ws.plus((start + len - 1) as i32));
            for stay in ph.stays.iter().rev() {
                match_stay(stay, Some(ph.tail), from, to);
            }
        }
    }
    if in_risk {
        findings.promote_in_risk(yesterday);
    }

    for a in &p.arrivals {
        if a.booked_on > day || a.travel_day < ws || a.travel_day > day.plus(14) {
            continue;
        }
        let registered = p
            .registrations
            .iter()
            .any(|r| a.booked_on <= r.registered_on && r.registered_on <= day);
        if registered {
            continue;
        }
        let t = a.travel_day.min(day);
        areas.for_each_match(a.origin, |z| {
            if z.contains(t) {
                findings.push(Finding::new(
                    Reason::ArrivalUnregistered,
                    Some(a.origin),
                    Some(z.area),
                    a.travel_day,
                    None,
                ));
            }
        });
    }

    for ph in &p.phones {
        if !ph.bindings.iter().any(|b| b.bound_on_day(day)) {
            continue;
        }
        // The latest status on or before D; of several on that day, the last in feed order.
        let latest = ph.statuses.iter().filter(|s| s.as_of <= day).fold(
            None,
            |best: Option<&super::PhoneStatus>, s| match best {
                Some(b) if b.as_of > s.as_of => Some(b),
                _ => Some(s),
            },
        );
        if let Some(s) = latest
            && matches!(s.state, PhoneState::LongOff | PhoneState::NotInCity)
        {
            findings.push(Finding::new(
                Reason::PhoneUnverifiable,
                None,
                None,
                s.as_of,
                Some(ph.tail),
            ));
        }
    }

    let ready = findings.order();
    out.finish(ready);
}

/// The days of the window `ws` … `day` that binding `b` covers, as bits (bit k: day `ws + k`).
#[inline]
fn window_days(b: &super::Binding, ws: Day, day: Day) -> u32 {
    const _: () = assert!(super::day::WINDOW_DAYS <= 31, "the window's days fit a u32");
    let from = b.bound_on.max(ws);
    let to = b.unbound_on.map_or(day, |u| u.plus(-1).min(day));
    if from > to {
        return 0;
    }
    let len = (to.0 - from.0 + 1) as u32;
    ((1u32 << len) - 1) << (from.0 - ws.0) as u32
}

/// The latest day through which a verification (made on or before `day`) clears matches whose
/// risk unit is `unit`.
fn cleared_through(p: &PersonRecords, unit: RegionCode, day: Day) -> Option<Day> {
    p.verifications
        .iter()
        .filter(|v| v.verified_on <= day && v.scope.is_none_or(|s| s.contains(unit)))
        .map(|v| v.verified_on)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Precision;
    use proptest::prelude::*;

    fn finding() -> impl Strategy<Value = Finding> {
        let code = proptest::option::of(
            (0..5usize, 10_000_000_000u64..1_000_000_000_000)
                .prop_filter_map("a code with a province", |(p, v)| {
                    RegionCode::from_padded(v).map(|r| r.truncate(Precision::ALL[p]))
                }),
        );
        (
            0..Reason::ALL.len(),
            code.clone(),
            code,
            -(1i32 << 26)..(1 << 26),
            proptest::option::of(any::<u16>().prop_map(PhoneTail)),
        )
            .prop_map(|(r, region, area, day, tail)| {
                Finding::new(Reason::ALL[r], region, area, Day(day), tail)
            })
    }

    /// What lets `Code::finish` take the colour from the first finding alone.
    #[test]
    fn colours_never_lighten_from_stronger_to_weaker_reasons() {
        let colour = |r: Reason| r.color().unwrap_or(Color::Green);
        for pair in Reason::ALL.windows(2) {
            assert!(pair[0] < pair[1], "Reason::ALL is strongest first");
            assert!(colour(pair[0]) >= colour(pair[1]), "{pair:?}");
        }
    }

    proptest! {
        /// The packed key orders findings as the contract's (reason, latest day, region, risk
        /// area, phone tail) does, and without its day bits tells exactly their keys apart.
        #[test]
        fn the_order_key_orders_and_tells_apart_as_the_tuple_does(
            a in finding(),
            b in finding(),
            alike in any::<bool>(),
        ) {
            let b = if alike { Finding { day: b.day, ..a } } else { b };
            let tuple = |f: &Finding| {
                (f.reason, Reverse(f.day), f.region, f.risk_area, f.phone_tail)
            };
            prop_assert_eq!(order_key(&a).cmp(&order_key(&b)), tuple(&a).cmp(&tuple(&b)));
            let key = |f: &Finding| (f.reason, f.region, f.risk_area, f.phone_tail);
            prop_assert_eq!(order_key(&a) & !DAY_BITS, same_key(&a));
            prop_assert_eq!(same_key(&a) == same_key(&b), key(&a) == key(&b));
        }

        /// Findings pushed one by one — a few or more than `SCAN_LIMIT`, duplicates with other
        /// days, days beyond what the packed key orders, the first of a key pushed with or
        /// without the search for it, definite matches promoted or not — come out as the
        /// contract says: unique on their key with its latest day, strongest and latest first.
        #[test]
        fn pushed_findings_come_out_unique_latest_and_in_order(
            base in proptest::collection::vec(finding(), 1..12),
            picks in proptest::collection::vec(
                (0..12usize, -3i32..3, proptest::option::of(any::<i32>()), any::<bool>()),
                0..40,
            ),
            promote in proptest::option::of((0..12usize, -1i32..=1)),
        ) {
            let key = |f: &Finding| (f.reason, f.region, f.risk_area, f.phone_tail);
            // Promoted as of a day near one of the findings' own.
            let promote = promote.map(|(i, shift)| base[i % base.len()].day.plus(shift));
            let mut pushed = Vec::new();
            let mut code = Code::green();
            let mut findings = Findings::new(&mut code.findings);
            for (i, shift, far, search) in picks {
                let mut f = base[i % base.len()];
                f.day = far.filter(|d| d % 7 == 0).map_or(f.day.plus(shift), Day);
                if promote.is_some() && f.reason == Reason::InRiskArea {
                    // Only the promotion makes IN_RISK_AREA findings.
                    f = Finding::new(Reason::VisitedRiskArea, f.region, f.risk_area, f.day, f.phone_tail);
                }
                let first = !pushed.iter().any(|g| key(g) == key(&f));
                findings.push_ident(f, ident(&f), search || !first);
                pushed.push(f);
            }
            if let Some(d) = promote {
                findings.promote_in_risk(d);
            }
            let ready = findings.order();
            code.finish(ready);
            // The reference: the latest day of each key, promoted, sorted by the contract's tuple.
            let mut latest: Vec<Finding> = Vec::new();
            for f in &pushed {
                match latest.iter_mut().find(|g| key(g) == key(f)) {
                    Some(g) if f.day > g.day => *g = *f,
                    Some(_) => {}
                    None => latest.push(*f),
                }
            }
            if let Some(d) = promote {
                latest.retain(|f| f.reason != Reason::VisitedRiskArea || f.day >= d);
                for f in &mut latest {
                    if f.reason == Reason::VisitedRiskArea {
                        *f = Finding::new(Reason::InRiskArea, f.region, f.risk_area, f.day, f.phone_tail);
                    }
                }
            }
            latest.sort_by_key(|f| (f.reason, Reverse(f.day), f.region, f.risk_area, f.phone_tail));
            prop_assert_eq!(&code.findings, &latest);
            if promote.is_none() {
                prop_assert_eq!(Code::from_findings(pushed).findings, latest);
            }
        }
    }
}

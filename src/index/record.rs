//! The varint encoding of one person's records inside the `persons` section (docs/format.md,
//! "Person record"), and its bounds-checked decoding back into [`PersonRecords`].

use super::format::{Cursor, Truncated, put_varint};
use crate::domain::{
    Arrival, Binding, CdcCategory, CdcRecord, CommunityRecord, CommunityStatus, Day, Period,
    PersonRecords, PhoneRecords, PhoneState, PhoneStatus, PhoneTail, RegionCode, Registration,
    Stay, StaySource, TravelMode, Verification,
};

const OWN_STAYS: u8 = 1 << 3;
const EXTRAS: u8 = 1 << 4;
const PHONES_INLINE_MAX: u8 = 7;

/// Why a person record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The bytes ran out or a varint was malformed.
    Truncated,
    /// A region index past the dictionary.
    Region(u32),
    /// An enum byte out of range.
    Enum(u8),
    /// A day out of range.
    Day,
    /// Bytes left over after the record.
    Trailing,
}

impl From<Truncated> for RecordError {
    fn from(_: Truncated) -> Self {
        RecordError::Truncated
    }
}

/// Encodes records with days relative to `base` and regions as dictionary indices.
pub struct Encoder<'a, F: Fn(RegionCode) -> u32> {
    /// The first day any record of the index has.
    pub base: Day,
    /// The dictionary index of a region.
    pub region_index: &'a F,
}

impl<F: Fn(RegionCode) -> u32> Encoder<'_, F> {
    fn day(&self, out: &mut Vec<u8>, d: Day) {
        debug_assert!(d >= self.base);
        put_varint(out, (d.0 - self.base.0) as u64);
    }

    fn opt_day(&self, out: &mut Vec<u8>, d: Option<Day>) {
        put_varint(out, d.map_or(0, |d| (d.0 - self.base.0) as u64 + 1));
    }

    fn stay(&self, out: &mut Vec<u8>, s: &Stay, tag_source: bool) {
        let idx = u64::from((self.region_index)(s.region));
        put_varint(
            out,
            if tag_source {
                idx * 2 + u64::from(s.source == StaySource::SelfReport)
            } else {
                idx
            },
        );
        self.day(out, s.first_day);
        put_varint(out, (s.last_day.0 - s.first_day.0) as u64);
    }

    /// Appends the encoding of `p` to `out`.
    pub fn encode(&self, p: &PersonRecords, out: &mut Vec<u8>) {
        let extras = !(p.cdc.is_empty()
            && p.community.is_empty()
            && p.arrivals.is_empty()
            && p.registrations.is_empty()
            && p.verifications.is_empty());
        let n_phones = p.phones.len();
        let mut flags = (n_phones as u8).min(PHONES_INLINE_MAX);
        if !p.stays.is_empty() {
            flags |= OWN_STAYS;
        }
        if extras {
            flags |= EXTRAS;
        }
        out.push(flags);
        if n_phones >= usize::from(PHONES_INLINE_MAX) {
            put_varint(out, n_phones as u64);
        }
        if !p.stays.is_empty() {
            put_varint(out, p.stays.len() as u64);
            for s in &p.stays {
                self.stay(out, s, true);
            }
        }
        for ph in &p.phones {
            out.extend_from_slice(&ph.tail.0.to_le_bytes());
            put_varint(out, ph.bindings.len() as u64);
            for b in &ph.bindings {
                self.day(out, b.bound_on);
                self.opt_day(out, b.unbound_on);
            }
            put_varint(out, ph.stays.len() as u64);
            for s in &ph.stays {
                self.stay(out, s, false);
            }
            put_varint(out, ph.statuses.len() as u64);
            for s in &ph.statuses {
                out.push(s.state as u8);
                self.day(out, s.as_of);
            }
        }
        if extras {
            put_varint(out, p.cdc.len() as u64);
            for r in &p.cdc {
                out.push(r.category as u8);
                self.day(out, r.period.from);
                self.opt_day(out, r.period.to);
            }
            put_varint(out, p.community.len() as u64);
            for r in &p.community {
                out.push(r.status as u8);
                self.day(out, r.period.from);
                self.opt_day(out, r.period.to);
            }
            put_varint(out, p.arrivals.len() as u64);
            for a in &p.arrivals {
                self.day(out, a.travel_day);
                put_varint(out, u64::from((self.region_index)(a.origin)));
                out.push(a.mode as u8);
                self.day(out, a.booked_on);
            }
            put_varint(out, p.registrations.len() as u64);
            for r in &p.registrations {
                self.day(out, r.registered_on);
            }
            put_varint(out, p.verifications.len() as u64);
            for v in &p.verifications {
                self.day(out, v.verified_on);
                put_varint(
                    out,
                    v.scope.map_or(0, |s| u64::from((self.region_index)(s)) + 1),
                );
            }
        }
    }
}

/// Decodes person records against a region dictionary of padded codes.
pub struct Decoder<'a> {
    /// The first day any record of the index has.
    pub base: Day,
    /// The dictionary's codes (little-endian u64 padded codes).
    pub regions: &'a [u8],
}

impl Decoder<'_> {
    #[inline(always)]
    fn region(&self, idx: u32) -> Result<RegionCode, RecordError> {
        let at = idx as usize * 8;
        let b = self
            .regions
            .get(at..at + 8)
            .ok_or(RecordError::Region(idx))?;
        RegionCode::from_padded(u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or(RecordError::Region(idx))
    }

    #[inline(always)]
    fn day(&self, c: &mut Cursor<'_>) -> Result<Day, RecordError> {
        let off = c.varint()?;
        i32::try_from(off)
            .ok()
            .and_then(|o| self.base.0.checked_add(o))
            .map(Day)
            .ok_or(RecordError::Day)
    }

    #[inline(always)]
    fn opt_day(&self, c: &mut Cursor<'_>) -> Result<Option<Day>, RecordError> {
        match c.varint()? {
            0 => Ok(None),
            v => i32::try_from(v - 1)
                .ok()
                .and_then(|o| self.base.0.checked_add(o))
                .map(|d| Some(Day(d)))
                .ok_or(RecordError::Day),
        }
    }

    #[inline(always)]
    fn stay(&self, c: &mut Cursor<'_>, tagged: bool) -> Result<Stay, RecordError> {
        let v = c.varint32()?;
        let (idx, source) = if tagged {
            (
                v / 2,
                if v & 1 == 1 {
                    StaySource::SelfReport
                } else {
                    StaySource::FlowSurvey
                },
            )
        } else {
            (v, StaySource::Telecom)
        };
        let region = self.region(idx)?;
        let first_day = self.day(c)?;
        let len = i32::try_from(c.varint()?).map_err(|_| RecordError::Day)?;
        let last_day = Day(first_day.0.checked_add(len).ok_or(RecordError::Day)?);
        Ok(Stay {
            region,
            first_day,
            last_day,
            source,
        })
    }

    #[inline(always)]
    fn list<T>(
        c: &mut Cursor<'_>,
        out: &mut Vec<T>,
        mut f: impl FnMut(&mut Cursor<'_>) -> Result<T, RecordError>,
    ) -> Result<(), RecordError> {
        let n = c.varint32()?;
        for _ in 0..n {
            out.push(f(c)?);
        }
        Ok(())
    }

    /// Decodes one record into `out`, reusing its allocations.
    pub fn decode(&self, bytes: &[u8], out: &mut PersonRecords) -> Result<(), RecordError> {
        self.decode_reusing(bytes, out, &mut Vec::new())
    }

    /// [`Decoder::decode`], parking the phones `out` no longer needs in `spare` and taking the
    /// phones it needs from there, so their lists keep their allocations from one record to the
    /// next whatever the phone counts.
    pub fn decode_reusing(
        &self,
        bytes: &[u8],
        out: &mut PersonRecords,
        spare: &mut Vec<PhoneRecords>,
    ) -> Result<(), RecordError> {
        let mut c = Cursor::new(bytes);
        let flags = c.u8()?;
        if flags & !(OWN_STAYS | EXTRAS | PHONES_INLINE_MAX) != 0 {
            return Err(RecordError::Enum(flags));
        }
        let mut n_phones = usize::from(flags & PHONES_INLINE_MAX);
        if n_phones == usize::from(PHONES_INLINE_MAX) {
            n_phones = c.varint32()? as usize;
            if n_phones > bytes.len() {
                return Err(RecordError::Truncated);
            }
        }
        out.stays.clear();
        if flags & OWN_STAYS != 0 {
            Self::list(&mut c, &mut out.stays, |c| self.stay(c, true))?;
        }
        while out.phones.len() > n_phones {
            spare.extend(out.phones.pop());
        }
        while out.phones.len() < n_phones {
            out.phones.push(spare.pop().unwrap_or_default());
        }
        for ph in out.phones.iter_mut() {
            ph.tail = PhoneTail(c.u16()?);
            if ph.tail.0 > 9999 {
                return Err(RecordError::Enum(0));
            }
            ph.bindings.clear();
            ph.stays.clear();
            ph.statuses.clear();
            Self::list(&mut c, &mut ph.bindings, |c| {
                Ok(Binding {
                    bound_on: self.day(c)?,
                    unbound_on: self.opt_day(c)?,
                })
            })?;
            Self::list(&mut c, &mut ph.stays, |c| self.stay(c, false))?;
            Self::list(&mut c, &mut ph.statuses, |c| {
                let s = c.u8()?;
                let state = *PhoneState::ALL
                    .get(usize::from(s))
                    .ok_or(RecordError::Enum(s))?;
                Ok(PhoneStatus {
                    state,
                    as_of: self.day(c)?,
                })
            })?;
        }
        out.cdc.clear();
        out.community.clear();
        out.arrivals.clear();
        out.registrations.clear();
        out.verifications.clear();
        if flags & EXTRAS != 0 {
            Self::list(&mut c, &mut out.cdc, |c| {
                let b = c.u8()?;
                let category: CdcCategory = *CdcCategory::ALL
                    .get(usize::from(b))
                    .ok_or(RecordError::Enum(b))?;
                Ok(CdcRecord {
                    category,
                    period: Period {
                        from: self.day(c)?,
                        to: self.opt_day(c)?,
                    },
                })
            })?;
            Self::list(&mut c, &mut out.community, |c| {
                let b = c.u8()?;
                let status = *CommunityStatus::ALL
                    .get(usize::from(b))
                    .ok_or(RecordError::Enum(b))?;
                Ok(CommunityRecord {
                    status,
                    period: Period {
                        from: self.day(c)?,
                        to: self.opt_day(c)?,
                    },
                })
            })?;
            Self::list(&mut c, &mut out.arrivals, |c| {
                let travel_day = self.day(c)?;
                let origin = self.region(c.varint32()?)?;
                let b = c.u8()?;
                let mode = *TravelMode::ALL
                    .get(usize::from(b))
                    .ok_or(RecordError::Enum(b))?;
                Ok(Arrival {
                    travel_day,
                    origin,
                    mode,
                    booked_on: self.day(c)?,
                })
            })?;
            Self::list(&mut c, &mut out.registrations, |c| {
                Ok(Registration {
                    registered_on: self.day(c)?,
                })
            })?;
            Self::list(&mut c, &mut out.verifications, |c| {
                let verified_on = self.day(c)?;
                let scope = match c.varint32()? {
                    0 => None,
                    i => Some(self.region(i - 1)?),
                };
                Ok(Verification { verified_on, scope })
            })?;
        }
        if !c.is_empty() {
            return Err(RecordError::Trailing);
        }
        Ok(())
    }
}

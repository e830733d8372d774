//! The feed files of DOMAIN.md §3 and their columns, written down once: the readers resolve
//! headers against this table, `healthcode check` lists it, and [`schema_table`] renders it.

/// One column of a feed file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The header name.
    pub name: &'static str,
    /// True when an empty value is allowed (an open end, "all regions", free text).
    pub may_be_empty: bool,
}

/// One feed file: its name (read as `name` or `name.gz`), its columns and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpec {
    /// The plain file name, e.g. `cdc.csv`.
    pub name: &'static str,
    /// Every column the header must name, in the order of DOMAIN.md §3.
    pub columns: &'static [ColumnSpec],
    /// What the file holds.
    pub notes: &'static str,
}

impl FileSpec {
    /// The column names, comma-separated, as a header row would spell them.
    pub fn header(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        names.join(",")
    }
}

const fn req(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        may_be_empty: false,
    }
}

const fn opt(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        may_be_empty: true,
    }
}

/// `regions.csv`: overrides and extensions of the bundled region table.
pub const REGIONS: FileSpec = FileSpec {
    name: "regions.csv",
    columns: &[req("code"), req("name"), opt("parent"), req("level")],
    notes: "overrides/extends the bundled region table; read before every other file",
};

/// `dataset.csv`: facts about the whole data set (its home region).
pub const DATASET: FileSpec = FileSpec {
    name: "dataset.csv",
    columns: &[req("key"), req("value")],
    notes: "home = the home region (a city or a province); other keys are a warning",
};

/// `bindings.csv`: phones bound to persons.
pub const BINDINGS: FileSpec = FileSpec {
    name: "bindings.csv",
    columns: &[
        req("id_number"),
        req("phone"),
        req("channel"),
        req("bound_on"),
        opt("unbound_on"),
    ],
    notes: "unbound_on is exclusive, empty = still bound",
};

/// `phone_stays.csv`: telecom itinerary data.
pub const PHONE_STAYS: FileSpec = FileSpec {
    name: "phone_stays.csv",
    columns: &[
        req("phone"),
        req("region"),
        req("first_day"),
        req("last_day"),
    ],
    notes: "telecom itinerary, mostly city precision",
};

/// `person_stays.csv`: flow surveys and self reports.
pub const PERSON_STAYS: FileSpec = FileSpec {
    name: "person_stays.csv",
    columns: &[
        req("id_number"),
        req("region"),
        req("first_day"),
        req("last_day"),
        req("source"),
    ],
    notes: "source is flow_survey or self_report",
};

/// `cdc.csv`: disease-control records.
pub const CDC: FileSpec = FileSpec {
    name: "cdc.csv",
    columns: &[req("id_number"), req("category"), req("from"), opt("to")],
    notes: "category is confirmed, suspected, asymptomatic, close_contact or secondary_contact",
};

/// `community.csv`: community management records.
pub const COMMUNITY: FileSpec = FileSpec {
    name: "community.csv",
    columns: &[
        req("id_number"),
        req("status"),
        req("from"),
        opt("to"),
        opt("community"),
    ],
    notes: "status is home_quarantine or health_monitoring",
};

/// `arrivals.csv`: ticket and entry records into the city.
pub const ARRIVALS: FileSpec = FileSpec {
    name: "arrivals.csv",
    columns: &[
        req("id_number"),
        req("travel_day"),
        req("origin"),
        req("mode"),
        req("booked_on"),
    ],
    notes: "mode is rail, air or road",
};

/// `registrations.csv`: arrivals' registrations with a community.
pub const REGISTRATIONS: FileSpec = FileSpec {
    name: "registrations.csv",
    columns: &[req("id_number"), req("registered_on"), opt("community")],
    notes: "online self-report or by community staff",
};

/// `risk_areas.csv`: risk area designations.
pub const RISK_AREAS: FileSpec = FileSpec {
    name: "risk_areas.csv",
    columns: &[req("area"), req("level"), req("from"), opt("to")],
    notes: "level is medium or high; empty to = still active",
};

/// `verifications.csv`: hotline verifications.
pub const VERIFICATIONS: FileSpec = FileSpec {
    name: "verifications.csv",
    columns: &[
        req("id_number"),
        req("verified_on"),
        opt("scope"),
        opt("operator"),
        opt("ticket"),
    ],
    notes: "scope is a region code, empty = all regions",
};

/// `phone_status.csv`: telecom phone states.
pub const PHONE_STATUS: FileSpec = FileSpec {
    name: "phone_status.csv",
    columns: &[req("phone"), req("state"), req("as_of")],
    notes: "state is active, long_off or not_in_city",
};

/// Every feed file, in the order they are read (`regions.csv` first: the others are validated
/// against the region table it extends).
pub const FILES: &[FileSpec] = &[
    REGIONS,
    DATASET,
    BINDINGS,
    PHONE_STAYS,
    PERSON_STAYS,
    CDC,
    COMMUNITY,
    ARRIVALS,
    REGISTRATIONS,
    RISK_AREAS,
    VERIFICATIONS,
    PHONE_STATUS,
];

/// The file table as Markdown (`| file | columns | notes |`), columns that may be empty marked
/// with `?`.
pub fn schema_table() -> String {
    let mut out = String::from("| file | columns | notes |\n|---|---|---|\n");
    for f in FILES {
        let cols: Vec<String> = f
            .columns
            .iter()
            .map(|c| format!("{}{}", c.name, if c.may_be_empty { "?" } else { "" }))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            f.name,
            cols.join(","),
            f.notes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_end_in_csv() {
        for (i, f) in FILES.iter().enumerate() {
            assert!(f.name.ends_with(".csv"), "{}", f.name);
            assert!(FILES[..i].iter().all(|g| g.name != f.name));
            for (j, c) in f.columns.iter().enumerate() {
                assert!(f.columns[..j].iter().all(|d| d.name != c.name));
            }
        }
        assert_eq!(FILES[0].name, "regions.csv");
    }

    #[test]
    fn table_lists_every_file_with_its_header() {
        let t = schema_table();
        assert_eq!(t.lines().count(), FILES.len() + 2);
        assert!(t.contains("| `cdc.csv` | id_number,category,from,to? |"));
        assert_eq!(
            BINDINGS.header(),
            "id_number,phone,channel,bound_on,unbound_on"
        );
    }
}

//! The server's log: `tracing` events written to stderr, as text for a person at a terminal or as
//! one JSON object per line for a log collector (`serve --log-format text|json`); the level comes
//! from `RUST_LOG` (default `info`).
//!
//! Convention for healthcode's own events: the message is a whole sentence with the values in it
//! (what the text form prints), and the same values are also the event's fields (what the JSON
//! form adds, so nothing has to be parsed back out of the sentence). No event carries a full
//! document or phone number: they go through `domain::mask`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How log events are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `healthcode: MESSAGE`, one line per event (warnings and errors say so first).
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields.
    Json,
}

impl LogFormat {
    /// The name used on the command line and in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The variable that sets the level (`RUST_LOG=debug`, `RUST_LOG=healthcode=debug,h2=warn`…).
pub const LEVEL_VAR: &str = "RUST_LOG";

/// The level filter `RUST_LOG` asks for (default `info`), or why its value is unusable.
pub fn filter() -> Result<(EnvFilter, String), String> {
    match std::env::var(LEVEL_VAR) {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(&v)
            .map(|f| (f, v.clone()))
            .map_err(|e| format!("{LEVEL_VAR}={v:?}: {e}")),
        _ => Ok((EnvFilter::new("info"), "info".to_string())),
    }
}

/// Installs the process's log subscriber writing to stderr in `format`, filtered by `filter`.
/// Returns false when one was installed already (as when tests run several servers in one
/// process).
pub fn init(format: LogFormat, filter: EnvFilter) -> bool {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Text => builder.event_format(Text).try_init().is_ok(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init()
            .is_ok(),
    }
}

/// The text form: `healthcode: ` and the message; `WARNING: ` or `ERROR: ` before it when the
/// event is one. Events of other crates (seen with `RUST_LOG=debug`) name their crate and show
/// their fields, since their messages do not carry them.
struct Text;

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        w.write_str("healthcode: ")?;
        w.write_str(match *meta.level() {
            Level::ERROR => "ERROR: ",
            Level::WARN => "WARNING: ",
            Level::INFO => "",
            Level::DEBUG => "debug: ",
            Level::TRACE => "trace: ",
        })?;
        let ours = meta.target().starts_with("healthcode");
        if !ours {
            write!(w, "[{}] ", meta.target())?;
        }
        let mut v = TextVisitor {
            w: &mut w,
            fields: !ours,
            result: Ok(()),
        };
        event.record(&mut v);
        v.result?;
        writeln!(w)
    }
}

/// Writes the message, and the other fields as ` key=value` when `fields`.
struct TextVisitor<'a, 'w> {
    w: &'a mut Writer<'w>,
    fields: bool,
    result: fmt::Result,
}

impl Visit for TextVisitor<'_, '_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            write!(self.w, "{value:?}")
        } else if self.fields {
            write!(self.w, " {}={value:?}", field.name())
        } else {
            Ok(())
        };
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.w.write_str(value)
        } else if self.fields {
            write!(self.w, " {}={value}", field.name())
        } else {
            Ok(())
        };
    }
}

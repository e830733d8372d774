//! PNG charts for people: latency by percentile (one line per target) and, for a sweep, latency
//! percentiles against the offered rate.

use std::path::Path;

use anyhow::anyhow;
use plotters::prelude::*;

use crate::report::Report;

const SERIES: [RGBColor; 4] = [
    RGBColor(200, 30, 30),
    RGBColor(30, 90, 200),
    RGBColor(20, 140, 60),
    RGBColor(150, 60, 170),
];

fn font() -> anyhow::Result<()> {
    // An embedded font, so that a machine without font packages draws the same chart.
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| anyhow!("the embedded font did not load"))
}

/// `x` of a percentile on the chart: `-log10(1 - p)`, so that 90, 99, 99.9 are equally spaced.
fn nines(p: f64) -> f64 {
    -(1.0 - p / 100.0).max(1e-6).log10()
}

/// Latency by percentile of each report.
pub fn percentiles(path: &Path, title: &str, reports: &[&Report]) -> anyhow::Result<()> {
    font()?;
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let max_ms = reports
        .iter()
        .flat_map(|r| r.curve.iter().map(|c| c.1 / 1000.0))
        .fold(0.0f64, f64::max)
        .max(0.01);
    let max_x = reports
        .iter()
        .flat_map(|r| r.curve.iter().map(|c| nines(c.0)))
        .fold(1.0f64, f64::max)
        .ceil();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x, 0.0..max_ms * 1.05)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(max_x as usize + 1)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("{}%", trim(p))
        })
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for (i, r) in reports.iter().enumerate() {
        let color = SERIES[i % SERIES.len()];
        chart
            .draw_series(LineSeries::new(
                r.curve.iter().map(|(p, us)| (nines(*p), us / 1000.0)),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow!("{e}"))?
            .label(format!(
                "{} ({} requests/s)",
                r.target,
                crate::report::thousands(r.requests_per_s)
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    finish(chart, &root)
}

/// Latency percentiles against the offered rate of a sweep.
pub fn sweep(path: &Path, title: &str, reports: &[Report]) -> anyhow::Result<()> {
    font()?;
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
    let max_rate = reports
        .iter()
        .filter_map(|r| r.offered_rate)
        .fold(1.0f64, f64::max);
    let max_ms = reports
        .iter()
        .map(|r| r.latency_us.p999 / 1000.0)
        .fold(0.01f64, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_rate * 1.05, 0.0..max_ms * 1.05)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("offered rate (requests/s)")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    type Pick = fn(&Report) -> f64;
    let lines: [(&str, Pick); 3] = [
        ("p50", |r| r.latency_us.p50),
        ("p99", |r| r.latency_us.p99),
        ("p99.9", |r| r.latency_us.p999),
    ];
    for (i, (name, pick)) in lines.into_iter().enumerate() {
        let color = SERIES[i % SERIES.len()];
        let pts: Vec<(f64, f64)> = reports
            .iter()
            .filter_map(|r| Some((r.offered_rate?, pick(r) / 1000.0)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow!("{e}"))?;
    }
    finish(chart, &root)
}

/// `99.900` → `99.9`, `50.000` → `50`.
fn trim(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Draws the legend and writes the file.
fn finish<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    mut chart: ChartContext<'a, DB, CT>,
    root: &DrawingArea<DB, plotters::coord::Shift>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

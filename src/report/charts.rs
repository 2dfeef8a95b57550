//! SVG charts for the HTML report, drawn with `plotters` (SVG backend only: text is emitted as
//! SVG `<text>`, no font files are read). Each function takes numbers the report already holds
//! and returns one `<svg>` element as a string; nothing here computes a statistic.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

const FONT: &str = "sans-serif";
const FAIL: RGBColor = RGBColor(196, 40, 40);
const PASS: RGBColor = RGBColor(38, 96, 176);
const COMPARISON: RGBColor = RGBColor(110, 110, 110);
const THRESHOLD: RGBColor = RGBColor(230, 140, 20);
const CLEAN: RGBColor = RGBColor(38, 96, 176);
const PROBED: RGBColor = RGBColor(214, 90, 30);

/// Heatmaps show at most this many classes (the ones with the most flips beyond it).
pub const MAX_HEATMAP_CLASSES: usize = 20;

/// One row of a rate chart: a probe's rate, its interval, what it is compared with, and the
/// threshold it must stay below.
pub struct RateRow {
    pub label: String,
    pub value: f64,
    pub interval: Option<(f64, f64)>,
    pub comparison: Option<f64>,
    pub threshold: Option<f64>,
    pub failing: bool,
}

/// Names for a rate chart's markers.
pub struct RateLegend<'a> {
    pub value: &'a str,
    pub comparison: &'a str,
    pub threshold: &'a str,
}

/// Renders a chart, or a short note when drawing failed (it does not for in-memory SVG).
fn svg(width: u32, height: u32, draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> DrawResult<()>) -> String {
    let mut out = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(Into::into)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(Into::into))
    };
    match result {
        Ok(()) => out,
        Err(e) => format!("<p class=\"note\">chart unavailable: {}</p>", super::text::escape(&e.to_string())),
    }
}

/// Horizontal dot plot: one row per probe, its rate as a dot with its interval as a whisker,
/// the comparison rate as a grey cross and the threshold as an orange tick. Rows are drawn
/// top to bottom in the order given.
pub fn rates(x_desc: &str, legend: &RateLegend<'_>, rows: &[RateRow]) -> String {
    let n = rows.len().max(1) as i32;
    let longest = rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(10) as u32;
    let label_area = (longest * 7 + 16).clamp(80, 320);
    let height = 90 + 22 * n as u32;
    svg(960, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(label_area)
            // A segmented axis over `0..last` has one segment per value in `0..=last`.
            .build_cartesian_2d(0f64..1f64, (0..n - 1).into_segmented())?;
        let label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => rows.get((n - 1 - *i) as usize).map_or_else(String::new, |r| r.label.clone()),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&label)
            .x_labels(11)
            .x_label_formatter(&|x| format!("{:.0}%", 100.0 * x))
            .x_desc(x_desc)
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let y = |i: usize| SegmentValue::CenterOf(n - 1 - i as i32);
        let color = |r: &RateRow| if r.failing { FAIL } else { PASS };
        chart.draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
            r.interval.map(|(lo, hi)| PathElement::new(vec![(lo, y(i)), (hi, y(i))], color(r).stroke_width(2)))
        }))?;
        let cap = |x: f64, i: usize, r: &RateRow| {
            EmptyElement::at((x, y(i))) + PathElement::new(vec![(0, -4), (0, 4)], color(r).stroke_width(2))
        };
        chart.draw_series(
            rows.iter()
                .enumerate()
                .filter_map(|(i, r)| r.interval.map(|(lo, hi)| [cap(lo, i, r), cap(hi, i, r)]))
                .flatten(),
        )?;
        chart
            .draw_series(rows.iter().enumerate().filter_map(|(i, r)| {
                r.threshold.map(|t| {
                    EmptyElement::at((t, y(i))) + PathElement::new(vec![(0, -8), (0, 8)], THRESHOLD.stroke_width(3))
                })
            }))?
            .label(legend.threshold)
            .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], THRESHOLD.stroke_width(3)));
        chart
            .draw_series(
                rows.iter()
                    .enumerate()
                    .filter_map(|(i, r)| r.comparison.map(|c| Cross::new((c, y(i)), 5, COMPARISON.stroke_width(2)))),
            )?
            .label(legend.comparison)
            .legend(|(x, y)| Cross::new((x, y), 5, COMPARISON.stroke_width(2)));
        chart
            .draw_series(rows.iter().enumerate().map(|(i, r)| Circle::new((r.value, y(i)), 5, color(r).filled())))?
            .label(legend.value)
            .legend(|(x, y)| Circle::new((x, y), 5, PASS.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()?;
        Ok(())
    })
}

/// The classes a heatmap shows: all of them up to [`MAX_HEATMAP_CLASSES`], else those with the
/// most changed predictions (as clean or probed class), in class order.
pub fn heatmap_classes(matrix: &[Vec<u64>]) -> Vec<usize> {
    let classes = matrix.len();
    if classes <= MAX_HEATMAP_CLASSES {
        return (0..classes).collect();
    }
    let mut flips = vec![0u64; classes];
    for (clean, row) in matrix.iter().enumerate() {
        for (probed, &count) in row.iter().enumerate().filter(|&(probed, _)| probed != clean && probed < classes) {
            flips[clean] += count;
            flips[probed] += count;
        }
    }
    let mut order: Vec<usize> = (0..classes).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(flips[c]), c));
    let mut shown: Vec<usize> = order.into_iter().take(MAX_HEATMAP_CLASSES).collect();
    shown.sort_unstable();
    shown
}

/// Clean class (rows, top to bottom) against probed class (columns): each cell is the share of
/// the row's inputs that went there. Off-diagonal cells (changed predictions) are red, the
/// diagonal (unchanged) grey; cells hold their counts.
pub fn flip_heatmap(matrix: &[Vec<u64>], shown: &[usize]) -> String {
    let k = shown.len().max(1) as i32;
    let cell = if k <= 10 { 34 } else { 24 };
    let side = cell * k as u32;
    svg(side + 110, side + 100, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(10)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d((0..k - 1).into_segmented(), (0..k - 1).into_segmented())?;
        let class_at = |v: &SegmentValue<i32>, flip: bool| match v {
            SegmentValue::CenterOf(i) => {
                let i = if flip { k - 1 - *i } else { *i };
                shown.get(i as usize).map_or_else(String::new, ToString::to_string)
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(shown.len())
            .y_labels(shown.len())
            .x_label_formatter(&|v| class_at(v, false))
            .y_label_formatter(&|v| class_at(v, true))
            .x_desc("predicted class on the probed input")
            .y_desc("class on the clean input")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .draw()?;
        let mut cells = Vec::new();
        let mut labels = Vec::new();
        for (row, &clean) in shown.iter().enumerate() {
            let counts = matrix.get(clean).map(Vec::as_slice).unwrap_or_default();
            let total: u64 = counts.iter().sum();
            for (col, &probed) in shown.iter().enumerate() {
                let count = counts.get(probed).copied().unwrap_or(0);
                let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
                let color = shade(if clean == probed { RGBColor(90, 90, 90) } else { FAIL }, share);
                let (x, y) = (col as i32, k - 1 - row as i32);
                cells.push(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                    ],
                    color.filled(),
                ));
                if count > 0 {
                    let ink: &'static RGBColor = if share > 0.55 { &WHITE } else { &BLACK };
                    let style =
                        TextStyle::from((FONT, 10).into_font()).color(ink).pos(Pos::new(HPos::Center, VPos::Center));
                    labels.push(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        style,
                    ));
                }
            }
        }
        chart.draw_series(cells)?;
        chart.draw_series(labels)?;
        Ok(())
    })
}

/// White mixed with `color` by `share` (0 → white, 1 → the colour).
fn shade(color: RGBColor, share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |c: u8| (255.0 - s * (255.0 - f64::from(c))).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Top-class confidence on clean and probed inputs: two bars per bin over [0, 1].
pub fn confidence_histograms(clean: &[u64], probed: &[u64]) -> String {
    let bins = clean.len().max(probed.len()).max(1);
    let top = clean.iter().chain(probed).copied().max().unwrap_or(1).max(1) as f64;
    svg(520, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1f64, 0f64..top * 1.08)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.1}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("confidence of the predicted class")
            .y_desc("inputs")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        let width = 1.0 / bins as f64;
        let bars = |counts: &[u64], offset: f64, color: RGBColor| {
            counts
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c > 0)
                .map(move |(i, &c)| {
                    let x0 = i as f64 * width + offset * width;
                    Rectangle::new([(x0 + 0.04 * width, 0.0), (x0 + 0.5 * width, c as f64)], color.filled())
                })
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(bars(clean, 0.0, CLEAN))?
            .label("clean")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], CLEAN.filled()));
        chart
            .draw_series(bars(probed, 0.46, PROBED))?
            .label("probed")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], PROBED.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 12))
            .draw()?;
        Ok(())
    })
}

/// Line colours for trend charts: distinct, none of them the red that marks a failing night.
const SERIES: [RGBColor; 8] = [
    RGBColor(38, 96, 176),
    RGBColor(60, 160, 80),
    RGBColor(230, 140, 20),
    RGBColor(130, 80, 170),
    RGBColor(20, 150, 160),
    RGBColor(140, 100, 60),
    RGBColor(110, 110, 110),
    RGBColor(200, 90, 160),
];

/// One model's line on a trend chart: its value per night (`None`: not scanned that night), and
/// which nights it failed.
pub struct TrendLine {
    pub label: String,
    pub values: Vec<Option<f64>>,
    pub failing: Vec<bool>,
}

/// A rate over nights: one line per model (consecutive nights joined), a dot per night, red
/// where the model failed that night. `nights` label the x axis, oldest first.
pub fn trend(y_desc: &str, nights: &[String], lines: &[TrendLine]) -> String {
    let last = nights.len().saturating_sub(1).max(1) as i32;
    let legend_rows = lines.len() as u32;
    svg(960, 320 + 18 * legend_rows.min(20), |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.25f64..f64::from(last) + 0.25, 0f64..1.02f64)?;
        let night_at = |x: &f64| {
            let i = x.round();
            if (x - i).abs() > 1e-6 || i < 0.0 {
                String::new()
            } else {
                nights.get(i as usize).cloned().unwrap_or_default()
            }
        };
        chart
            .configure_mesh()
            .x_labels(nights.len().max(2))
            .x_label_formatter(&night_at)
            .y_labels(6)
            .y_label_formatter(&|y| format!("{:.0}%", 100.0 * y))
            .y_desc(y_desc)
            .x_desc("night")
            .label_style((FONT, 11))
            .axis_desc_style((FONT, 12))
            .max_light_lines(1)
            .light_line_style(RGBColor(240, 240, 240))
            .draw()?;
        for (i, line) in lines.iter().enumerate() {
            let color = SERIES[i % SERIES.len()];
            // Runs of consecutive nights with a value, each drawn as one path.
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut runs = Vec::new();
            for (night, value) in line.values.iter().enumerate() {
                match value {
                    Some(v) => run.push((night as f64, *v)),
                    None if !run.is_empty() => runs.push(std::mem::take(&mut run)),
                    None => {}
                }
            }
            if !run.is_empty() {
                runs.push(run);
            }
            for points in runs {
                chart.draw_series(std::iter::once(PathElement::new(points, color.stroke_width(2))))?;
            }
            let dots = line.values.iter().enumerate().filter_map(|(night, value)| {
                let failing = line.failing.get(night).copied().unwrap_or(false);
                value.map(|v| {
                    let style = if failing { FAIL.filled() } else { color.filled() };
                    Circle::new((night as f64, v), if failing { 6 } else { 4 }, style)
                })
            });
            chart
                .draw_series(dots)?
                .label(line.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FONT, 11))
            .draw()?;
        Ok(())
    })
}

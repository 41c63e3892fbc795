//! PNG plots for the CLI: colour maps of 2-D fields and line charts of histories.
//!
//! Text is rendered with DejaVu Sans embedded in the binary (`assets/DejaVuSans.ttf`, licence
//! in `assets/LICENSE-DejaVu.txt`) through plotters' pure-Rust `ab_glyph` backend, so plotting
//! needs no system font, fontconfig or freetype at run time.
//!
//! Every plot is written atomically: to a temporary `.png` name in the destination directory,
//! renamed onto the destination only once it is complete.

use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use plotters_bitmap::BitMapBackendError;

/// Errors raised while plotting. Each message is one line naming the file and the problem.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The data cannot be plotted (wrong length, nothing finite, ...).
    #[error("{}: cannot plot: {reason}", path.display())]
    InvalidInput {
        /// The plot file that was to be written.
        path: PathBuf,
        /// What is wrong with the data.
        reason: String,
    },
    /// Rendering or writing the image failed; no file was left at `path`.
    #[error("{}: cannot write plot: {reason}", path.display())]
    Write {
        /// The plot file that was to be written.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The embedded font (DejaVu Sans 2.37, Bitstream Vera / Arev licence).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font under the family names plotters uses, once per process.
fn ensure_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        ["sans-serif", "serif", "monospace"]
            .iter()
            .all(|family| register_font(family, FontStyle::Normal, FONT).is_ok())
    });
    if ok {
        Ok(())
    } else {
        Err("the embedded font could not be loaded".into())
    }
}

/// Largest side, in pixels, of the field area of a heat map.
const HEATMAP_SIDE: u32 = 640;
/// Smallest side, in pixels, of the field area of a heat map (for very elongated fields).
const HEATMAP_MIN_SIDE: u32 = 160;

/// Renders a 2-D field as a colour map (viridis) with a labelled colour bar, axis labels and a
/// title, as a PNG at `path`.
///
/// `values[i + nx*j]` is the value at cell `(i, j)`: x fastest, `j = 0` drawn at the bottom.
/// Small fields are drawn with square blocks of pixels per cell; fields larger than the image
/// (e.g. 1024²) are downsampled by averaging the cells each pixel covers. Non-finite values
/// are drawn grey and left out of the colour range.
pub fn heatmap(
    path: &Path,
    values: &[f64],
    nx: usize,
    ny: usize,
    title: &str,
) -> Result<(), PlotError> {
    let invalid = |reason: String| PlotError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    if nx == 0 || ny == 0 {
        return Err(invalid(format!("empty field ({nx}x{ny})")));
    }
    if nx.checked_mul(ny) != Some(values.len()) {
        return Err(invalid(format!(
            "field has {} values but {nx}x{ny} = {} cells",
            values.len(),
            nx.saturating_mul(ny)
        )));
    }
    let (lo, hi) = match finite_range(values.iter().copied()) {
        Some(r) => r,
        None => return Err(invalid("the field has no finite value".into())),
    };
    // A constant field still gets a colour bar with a non-empty range.
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        (lo - pad, hi + pad)
    };

    // Field area: square cells when the field fits, otherwise scaled down to HEATMAP_SIDE.
    let max_dim = nx.max(ny) as f64;
    let scale = if max_dim <= HEATMAP_SIDE as f64 {
        (HEATMAP_SIDE as f64 / max_dim).floor()
    } else {
        HEATMAP_SIDE as f64 / max_dim
    };
    let side = |n: usize| ((n as f64 * scale).round() as u32).clamp(HEATMAP_MIN_SIDE, HEATMAP_SIDE);
    let (area_w, area_h) = (side(nx), side(ny));

    const MARGIN: u32 = 15;
    const CAPTION: u32 = 40;
    const X_LABELS: u32 = 50;
    const Y_LABELS: u32 = 65;
    const BAR: u32 = 150;
    let width = MARGIN + Y_LABELS + area_w + MARGIN + BAR;
    let height = MARGIN + CAPTION + area_h + X_LABELS + MARGIN;

    write_png_atomic(path, (width, height), |root| {
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(width - BAR);

        let mut chart = ChartBuilder::on(&left)
            .caption(title, ("sans-serif", 22))
            .margin(MARGIN)
            .x_label_area_size(X_LABELS)
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(0f64..nx as f64, 0f64..ny as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("i (x)")
            .y_desc("j (y)")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 16))
            .draw()
            .map_err(err)?;

        let area = chart.plotting_area().strip_coord_spec();
        let (w, h) = area.dim_in_pixel();
        let (w, h) = (w as usize, h as usize);
        let cols = bins(nx, w);
        let rows = bins(ny, h);
        for py in 0..h {
            // Pixel row 0 is the top of the image, field row 0 the bottom.
            let field_rows = rows[h - 1 - py].clone();
            for (px, col) in cols.iter().enumerate() {
                let (mut sum, mut count) = (0.0, 0usize);
                for j in field_rows.clone() {
                    for &v in &values[j * nx + col.start..j * nx + col.end] {
                        if v.is_finite() {
                            sum += v;
                            count += 1;
                        }
                    }
                }
                let colour = if count == 0 {
                    RGBColor(160, 160, 160)
                } else {
                    viridis((sum / count as f64 - lo) / (hi - lo))
                };
                area.draw_pixel((px as i32, py as i32), &colour)
                    .map_err(err)?;
            }
        }

        draw_colour_bar(&right, lo, hi, CAPTION + MARGIN, X_LABELS + MARGIN)?;
        Ok(())
    })
}

/// One panel of [`panels`]: a titled 2-D field (`nx × ny`, x fastest) or a set of 1-D curves.
pub enum Panel {
    /// A heat map with its own colour range (shown in the title).
    Field {
        /// Panel title.
        title: String,
        /// Values, x fastest.
        values: Vec<f64>,
        /// Cells along x.
        nx: usize,
        /// Cells along y.
        ny: usize,
    },
    /// Curves on shared axes, each `(name, points)`.
    Curves {
        /// Panel title.
        title: String,
        /// The curves.
        series: Vec<(String, Vec<(f64, f64)>)>,
    },
}

/// A grid of small panels, `columns` per row — e.g. input, truth, prediction and error for a
/// few test samples of an operator.
pub fn panels(path: &Path, columns: usize, items: &[Panel]) -> Result<(), PlotError> {
    const SIDE: u32 = 260;
    const TITLE: u32 = 30;
    let invalid = |reason: String| PlotError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    if items.is_empty() || columns == 0 {
        return Err(invalid("no panels".into()));
    }
    for item in items {
        if let Panel::Field { values, nx, ny, .. } = item {
            if nx * ny != values.len() || values.is_empty() {
                return Err(invalid(format!(
                    "field of {} values for {nx}x{ny}",
                    values.len()
                )));
            }
        }
    }
    let rows = items.len().div_ceil(columns);
    let (pw, ph) = (SIDE + 20, SIDE + TITLE + 20);
    write_png_atomic(path, (pw * columns as u32, ph * rows as u32), |root| {
        root.fill(&WHITE).map_err(err)?;
        let cells = root.split_evenly((rows, columns));
        for (cell, item) in cells.iter().zip(items) {
            match item {
                Panel::Field {
                    title,
                    values,
                    nx,
                    ny,
                } => {
                    let (lo, hi) = finite_range(values.iter().copied()).unwrap_or((0.0, 1.0));
                    let hi = if hi > lo { hi } else { lo + 1.0 };
                    cell.draw(&Text::new(
                        format!("{title} [{}, {}]", format_value(lo), format_value(hi)),
                        (10, 8),
                        ("sans-serif", 15),
                    ))
                    .map_err(err)?;
                    let area = cell.margin(TITLE, 10, 10, 10);
                    let (w, h) = area.dim_in_pixel();
                    let (w, h) = (w as usize, h as usize);
                    let side = w.min(h);
                    let cols = bins(*nx, side);
                    let rws = bins(*ny, side);
                    for py in 0..side {
                        let field_rows = rws[side - 1 - py].clone();
                        for (px, col) in cols.iter().enumerate() {
                            let (mut sum, mut count) = (0.0, 0usize);
                            for j in field_rows.clone() {
                                for &v in &values[j * nx + col.start..j * nx + col.end] {
                                    if v.is_finite() {
                                        sum += v;
                                        count += 1;
                                    }
                                }
                            }
                            let colour = if count == 0 {
                                RGBColor(160, 160, 160)
                            } else {
                                viridis((sum / count as f64 - lo) / (hi - lo))
                            };
                            area.draw_pixel((px as i32, py as i32), &colour)
                                .map_err(err)?;
                        }
                    }
                }
                Panel::Curves { title, series } => {
                    let all = || series.iter().flat_map(|(_, p)| p.iter());
                    let (x_lo, x_hi) = finite_range(all().map(|q| q.0)).unwrap_or((0.0, 1.0));
                    let (y_lo, y_hi) = finite_range(all().map(|q| q.1)).unwrap_or((0.0, 1.0));
                    let (x_lo, x_hi) = pad_range(x_lo, x_hi, false);
                    let (y_lo, y_hi) = pad_range(y_lo, y_hi, false);
                    let mut chart = ChartBuilder::on(cell)
                        .caption(title, ("sans-serif", 15))
                        .margin(8)
                        .x_label_area_size(25)
                        .y_label_area_size(45)
                        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
                        .map_err(err)?;
                    chart
                        .configure_mesh()
                        .x_labels(4)
                        .y_labels(5)
                        .label_style(("sans-serif", 11))
                        .draw()
                        .map_err(err)?;
                    let n = series.len();
                    for (k, (name, pts)) in series.iter().enumerate() {
                        let c = series_colour(k, n);
                        chart
                            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                            .map_err(err)?
                            .label(name.clone())
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2))
                            });
                    }
                    chart
                        .configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .label_font(("sans-serif", 11))
                        .draw()
                        .map_err(err)?;
                }
            }
        }
        Ok(())
    })
}

/// For `n` cells shown on `pixels` pixels: the range of cells each pixel covers (at least one;
/// one cell repeated over several pixels when upsampling).
fn bins(n: usize, pixels: usize) -> Vec<Range<usize>> {
    (0..pixels)
        .map(|p| {
            let a = p * n / pixels;
            let b = ((p + 1) * n / pixels).max(a + 1).min(n);
            a..b
        })
        .collect()
}

/// The vertical colour bar with its value axis, in `area` (a strip on the right).
fn draw_colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    lo: f64,
    hi: f64,
    top: u32,
    bottom: u32,
) -> Result<(), String> {
    let area = area.margin(top, bottom, 5, 10);
    let mut bar = ChartBuilder::on(&area)
        .y_label_area_size(0)
        .right_y_label_area_size(85)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .map_err(err)?;
    bar.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(8)
        .y_label_formatter(&|v| format_value(*v))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    let plot = bar.plotting_area().strip_coord_spec();
    let (w, h) = plot.dim_in_pixel();
    for py in 0..h {
        let t = 1.0 - py as f64 / (h.max(2) - 1) as f64;
        let c = viridis(t);
        for px in 0..w {
            plot.draw_pixel((px as i32, py as i32), &c).map_err(err)?;
        }
    }
    plot.draw(&Rectangle::new(
        [(0, 0), (w as i32 - 1, h as i32 - 1)],
        BLACK.stroke_width(1),
    ))
    .map_err(err)?;
    Ok(())
}

/// Draws several named series as lines, with a legend on the right, as a PNG at `path`.
///
/// `series` holds `(name, points)` pairs, each point `(x, y)`. With `log_y` the y axis is
/// logarithmic and points with `y <= 0` are left out (a residual history that reaches exactly
/// zero, for instance). Non-finite points are always left out. Up to 10 series get distinct
/// qualitative colours; more (e.g. ~25 solves of a sequence) get a viridis ramp in series
/// order. The legend sits right of the chart and grows into columns when there are many
/// series.
pub fn line_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
    log_y: bool,
) -> Result<(), PlotError> {
    let invalid = |reason: String| PlotError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let keep = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0);
    let cleaned: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, pts)| (name.as_str(), pts.iter().copied().filter(keep).collect()))
        .collect();
    let (x_lo, x_hi) = finite_range(cleaned.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)))
        .ok_or_else(|| {
            invalid(if log_y {
                "no finite positive points to draw on a log scale".into()
            } else {
                "no finite points to draw".into()
            })
        })?;
    let (y_lo, y_hi) = finite_range(cleaned.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)))
        .ok_or_else(|| invalid("no finite points to draw".into()))?;
    let (x_lo, x_hi) = pad_range(x_lo, x_hi, false);
    let (y_lo, y_hi) = pad_range(y_lo, y_hi, log_y);

    // Legend: as many rows as fit next to the chart, then more columns.
    const ROW: u32 = 18;
    const CHART_H: u32 = 600;
    let legend_rows_max = ((CHART_H - 60) / ROW).max(1) as usize;
    let n = cleaned.len().max(1);
    let columns = n.div_ceil(legend_rows_max);
    let rows = n.div_ceil(columns);
    let longest = cleaned
        .iter()
        .map(|(s, _)| s.chars().count())
        .max()
        .unwrap_or(0)
        .min(40) as u32;
    let col_w = 40 + longest * 8 + 12;
    let legend_w = if cleaned.is_empty() {
        0
    } else {
        columns as u32 * col_w + 20
    };
    let width = 900 + legend_w;
    let height = CHART_H.max(rows as u32 * ROW + 80);

    write_png_atomic(path, (width, height), |root| {
        root.fill(&WHITE).map_err(err)?;
        let (left, right) = root.split_horizontally(width - legend_w);
        let mut builder = ChartBuilder::on(&left);
        builder
            .caption(title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(80);
        let n_series = cleaned.len();
        let colour = |k: usize| series_colour(k, n_series);
        if log_y {
            let mut chart = builder
                .build_cartesian_2d(x_lo..x_hi, (y_lo..y_hi).log_scale())
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|v| format_value(*v))
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(err)?;
            for (k, (_, pts)) in cleaned.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().copied(),
                        colour(k).stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        } else {
            let mut chart = builder
                .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .x_label_formatter(&|v| format_value(*v))
                .y_label_formatter(&|v| format_value(*v))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16))
                .light_line_style(RGBColor(235, 235, 235))
                .draw()
                .map_err(err)?;
            for (k, (_, pts)) in cleaned.iter().enumerate() {
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().copied(),
                        colour(k).stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        }

        // Legend, in columns of `rows` entries.
        let style = TextStyle::from(("sans-serif", 13)).color(&BLACK);
        for (k, (name, _)) in cleaned.iter().enumerate() {
            let (c, r) = (k / rows, k % rows);
            let x = 10 + c as i32 * col_w as i32;
            let y = 55 + r as i32 * ROW as i32;
            right
                .draw(&PathElement::new(
                    vec![(x, y), (x + 30, y)],
                    colour(k).stroke_width(3),
                ))
                .map_err(err)?;
            let label: String = if name.chars().count() > 40 {
                name.chars().take(39).chain(['…']).collect()
            } else {
                name.to_string()
            };
            right
                .draw(&Text::new(label, (x + 38, y - 7), style.clone()))
                .map_err(err)?;
        }
        Ok(())
    })
}

/// Colour of series `k` out of `n`: the 10 qualitative "tab10" colours when there are at most
/// 10 series, otherwise a viridis ramp in series order (dark to light green, stopping short of
/// the pale yellow end so every line shows on white).
fn series_colour(k: usize, n: usize) -> RGBColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    if n <= TAB10.len() {
        let (r, g, b) = TAB10[k % TAB10.len()];
        RGBColor(r, g, b)
    } else {
        viridis(0.88 * k as f64 / (n - 1) as f64)
    }
}

/// Viridis colour map at `t` in [0, 1] (clamped), interpolated between 9 reference colours.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let s = t * (STOPS.len() - 1) as f64;
    let k = (s.floor() as usize).min(STOPS.len() - 2);
    let f = s - k as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[k], STOPS[k + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Min and max of the finite values, or `None` when there are none.
fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// A non-empty axis range around `[lo, hi]` (a factor on log axes, a margin on linear ones).
fn pad_range(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        if hi > lo {
            (lo / 1.5, hi * 1.5)
        } else {
            (lo / 10.0, hi * 10.0)
        }
    } else if hi > lo {
        let pad = (hi - lo) * 0.03;
        (lo - pad, hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - pad, hi + pad)
    }
}

/// A compact tick label: fixed notation for moderate magnitudes, scientific otherwise.
fn format_value(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&a) {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.to_string()
        }
    } else {
        format!("{v:.2e}")
    }
}

/// One line naming the cause of a drawing error. plotters' bitmap backend displays its errors
/// with `Debug` (`IOError(Os { code: 28, kind: StorageFull, ... })`), so the operating-system
/// and encoder errors inside are unwrapped and shown by their own messages.
fn err(e: DrawingAreaErrorKind<BitMapBackendError>) -> String {
    use plotters_backend::DrawingErrorKind as Backend;
    use DrawingAreaErrorKind as Area;
    let text = match &e {
        Area::BackendError(Backend::DrawingError(b)) => match b {
            BitMapBackendError::IOError(io) => io.to_string(),
            BitMapBackendError::InvalidBuffer => "invalid pixel buffer".to_string(),
            #[allow(unreachable_patterns)]
            other => match std::error::Error::source(other) {
                Some(inner) => inner.to_string(),
                None => encoder_message(other),
            },
        },
        Area::BackendError(Backend::FontError(f)) => format!("font error: {f}"),
        other => other.to_string(),
    };
    text.lines().next().unwrap_or("drawing error").to_string()
}

/// The image encoder's own message for a bitmap error that is not an I/O error.
fn encoder_message(e: &BitMapBackendError) -> String {
    match e {
        BitMapBackendError::ImageError(i) => format!("image encoding failed: {i}"),
        _ => "drawing error".to_string(),
    }
}

/// Renders into a bitmap of `size` through `draw`, saves it as PNG under a temporary `.png`
/// name next to `path` and renames it onto `path`; on failure the temporary file is removed
/// and nothing is left at `path`.
fn write_png_atomic(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<(), PlotError> {
    let werr = |reason: String| PlotError::Write {
        path: path.to_path_buf(),
        reason,
    };
    nabla::core::atomic::check_destination(path).map_err(|e| werr(e.to_string()))?;
    ensure_font().map_err(werr)?;
    // The bitmap backend picks the image format from the extension, so the temporary name
    // ends in `.png` too.
    let tmp = nabla::core::atomic::temp_path(path)
        .map_err(|e| werr(e.to_string()))?
        .with_extension("tmp.png");
    let result = (|| -> Result<(), String> {
        {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            draw(&root)?;
            root.present().map_err(err)?;
        }
        fs::rename(&tmp, path).map_err(|e| e.to_string())
    })();
    result.map_err(|reason| {
        let _ = fs::remove_file(&tmp);
        werr(reason)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_errors_name_the_os_cause_not_debug_text() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = DrawingAreaErrorKind::BackendError(
            plotters_backend::DrawingErrorKind::DrawingError(BitMapBackendError::IOError(full)),
        );
        let text = err(e);
        assert!(text.contains("No space left on device"), "{text}");
        assert!(
            !text.contains("Os {") && !text.contains("IOError"),
            "{text}"
        );
    }

    fn is_png(path: &Path) -> u64 {
        let bytes = fs::read(path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
        bytes.len() as u64
    }

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn renders_heatmaps_and_line_charts() {
        let dir = tempfile::tempdir().unwrap();

        // A small field (upsampled) and a large one (downsampled by averaging).
        for (nx, ny) in [(48usize, 32usize), (1024, 1024)] {
            let values: Vec<f64> = (0..nx * ny)
                .map(|p| {
                    let (i, j) = ((p % nx) as f64 / nx as f64, (p / nx) as f64 / ny as f64);
                    (std::f64::consts::PI * i).sin() * (std::f64::consts::PI * j).sin() + j
                })
                .collect();
            let path = dir.path().join(format!("u_{nx}x{ny}.png"));
            heatmap(&path, &values, nx, ny, &format!("u on {nx}x{ny}")).unwrap();
            assert!(is_png(&path) > 10_000, "{}", path.display());
        }

        // 25 residual histories on a log axis.
        let series: Vec<(String, Vec<(f64, f64)>)> = (0..25)
            .map(|s| {
                let rate = 0.5 + 0.018 * s as f64;
                let pts = (0..60).map(|k| (k as f64, rate.powi(k))).collect();
                (
                    format!("solve {s} (omega={:.2})", 1.0 + 0.03 * s as f64),
                    pts,
                )
            })
            .collect();
        let path = dir.path().join("history.png");
        line_chart(
            &path,
            "Residual history",
            "iteration",
            "relative residual",
            &series,
            true,
        )
        .unwrap();
        assert!(is_png(&path) > 10_000);

        let lin = vec![
            ("cg".to_string(), vec![(0.0, 0.0), (1.0, 10.0), (2.0, 25.0)]),
            (
                "sor".to_string(),
                vec![(0.0, 0.0), (1.0, 30.0), (2.0, 70.0)],
            ),
        ];
        let path = dir.path().join("cumulative.png");
        line_chart(
            &path,
            "Cumulative iterations",
            "solve",
            "iterations",
            &lin,
            false,
        )
        .unwrap();
        assert!(is_png(&path) > 5_000);

        // Only the finished files: no temporary names remain.
        assert_eq!(
            dir_entries(dir.path()),
            vec![
                "cumulative.png",
                "history.png",
                "u_1024x1024.png",
                "u_48x32.png"
            ]
        );
    }

    #[test]
    fn bad_input_and_unwritable_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.png");
        let e = heatmap(&path, &[1.0; 5], 2, 3, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("5 values but 2x3 = 6 cells"), "{e}");
        let e = heatmap(&path, &[f64::NAN; 4], 2, 2, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no finite value"), "{e}");
        let e = line_chart(
            &path,
            "t",
            "x",
            "y",
            &[("a".into(), vec![(0.0, 0.0)])],
            true,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("log scale"), "{e}");
        assert!(dir_entries(dir.path()).is_empty());

        let missing = dir.path().join("no_such_dir").join("u.png");
        let e = heatmap(&missing, &[1.0; 4], 2, 2, "t").unwrap_err();
        assert!(matches!(e, PlotError::Write { .. }));
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(dir_entries(dir.path()).is_empty());

        // A constant field still renders.
        heatmap(&path, &[2.0; 16], 4, 4, "constant").unwrap();
        assert!(is_png(&path) > 1_000);
    }
}

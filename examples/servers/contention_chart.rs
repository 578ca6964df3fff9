//! Draws docs/contention.svg from the CSV that `deposit --sweep` writes: goodput of optimistic
//! locking (with the retry helper) against pessimistic locking on PostgreSQL, by number of
//! concurrent workers, one panel per number of hot rows.
//!
//! ```text
//! cargo run --release --example contention_chart -- docs/contention.csv docs/contention.svg
//! ```

use std::collections::BTreeMap;
use std::error::Error;

use plotters::prelude::*;

/// (hot rows, strategy) -> [(workers, goodput per second)]
type Series = BTreeMap<(u32, String), Vec<(u32, f64)>>;

fn read(path: &str) -> Result<Series, Box<dyn Error>> {
    let mut series = Series::new();
    for line in std::fs::read_to_string(path)?.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let [workers, hot, strategy, _wall, goodput, ..] = cells.as_slice() else {
            return Err(format!("malformed line: {line}").into());
        };
        series
            .entry((hot.parse()?, strategy.to_string()))
            .or_default()
            .push((workers.parse()?, goodput.parse()?));
    }
    Ok(series)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "docs/contention.csv".into());
    let output = args.next().unwrap_or_else(|| "docs/contention.svg".into());
    let series = read(&input)?;
    let hot_rows: Vec<u32> = {
        let mut hot: Vec<u32> = series.keys().map(|(hot, _)| *hot).collect();
        hot.dedup();
        hot
    };
    let top = series
        .values()
        .flatten()
        .map(|(_, g)| *g)
        .fold(0.0, f64::max)
        * 1.1;

    let root = SVGBackend::new(&output, (1200, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(40);
    title.titled(
        "PostgreSQL, 1,000 deposits: goodput (deposits/s) by concurrent workers",
        ("sans-serif", 22),
    )?;
    for (panel, hot) in body.split_evenly((1, hot_rows.len())).iter().zip(&hot_rows) {
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{hot} hot row{}", if *hot == 1 { "" } else { "s" }),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d((1u32..100u32).log_scale(), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("workers")
            .y_desc("deposits/s")
            .x_labels(8)
            .draw()?;
        for (strategy, color) in [("optimistic", BLUE), ("pessimistic", RED)] {
            if let Some(points) = series.get(&(*hot, strategy.to_owned())) {
                chart
                    .draw_series(LineSeries::new(
                        points.iter().copied(),
                        color.stroke_width(2),
                    ))?
                    .label(strategy)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
                chart.draw_series(
                    points
                        .iter()
                        .map(|&point| Circle::new(point, 3, color.filled())),
                )?;
            }
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    println!("wrote {output}");
    Ok(())
}

//! `metrics()` and `report(file)`: Kafka's operator metrics as a map, and the session's
//! timeline report, from the same [`crate::view::View`] the page draws.

use std::path::Path;
use std::rc::Rc;

use rhai::{Engine, Map};

use super::{RhaiResult, Session};

pub(crate) fn register(engine: &mut Engine, session: &Rc<Session>) {
    let s = session.clone();
    engine.register_fn("metrics", move || -> RhaiResult<Map> {
        let view = s.view.clone();
        let figures = s.block_on(async move { view.figures_fresh().await })?;
        Ok(figures.to_rhai())
    });
    let s = session.clone();
    engine.register_fn("report", move |path: &str| -> RhaiResult<()> {
        let path = Path::new(path);
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("html" | "htm")
        ) {
            return super::fail(format!(
                "report writes one HTML file; give a name ending in .html (not {})",
                path.display()
            ));
        }
        let title = match s.view.lesson() {
            Some(lesson) => format!("lesson {lesson}"),
            None => "kafka-sandbox session".to_string(),
        };
        let view = s.view.clone();
        let report = s.block_on(async move { view.report(&title, None).await })?;
        crate::view::report::write(path, &report).or_else(|e| super::fail(e.to_string()))?;
        s.out
            .print(&format!("report written to {}", path.display()));
        s.printed.set(true);
        Ok(())
    });
}

use super::*;

const H1: &str = "0123456789abcdef";
const H2: &str = "fedcba9876543210";

fn file(path: &str, size: u64) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::File,
        size,
        link_id: None,
    }
}

fn dir(path: &str) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::Dir,
        size: 0,
        link_id: None,
    }
}

fn linked(path: &str, id: u64) -> Entry {
    Entry {
        link_id: Some(id),
        ..file(path, 100)
    }
}

fn listing() -> Vec<Entry> {
    vec![
        file(".rustc_info.json", 10),
        file("CACHEDIR.TAG", 10),
        dir("debug"),
        dir("debug/.fingerprint"),
        dir(&format!("debug/.fingerprint/app-{H1}")),
        file(&format!("debug/.fingerprint/app-{H1}/bin-app"), 16),
        dir(&format!("debug/.fingerprint/itoa-{H2}")),
        file(&format!("debug/.fingerprint/itoa-{H2}/lib-itoa"), 16),
        dir("debug/deps"),
        linked(&format!("debug/deps/app-{H1}"), 7),
        file(&format!("debug/deps/app-{H1}.d"), 5),
        file(&format!("debug/deps/libitoa-{H2}.rlib"), 1000),
        linked("debug/app", 7),
        file("debug/app.d", 5),
        dir("debug/build"),
        dir(&format!("debug/build/sys-{H2}")),
        dir(&format!("debug/build/sys-{H2}/out")),
        dir("debug/incremental"),
        dir("debug/incremental/app-x"),
        file("debug/incremental/app-x/dep-graph.bin", 500),
        file("debug/.cargo-lock", 0),
        file(".cargo-stash/state.json", 3),
    ]
}

#[test]
fn default_plan_keeps_units_and_drops_incremental_and_dep_files() {
    let p = plan(&listing(), &PlanOptions::default());
    let names: Vec<&str> = p.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [&format!("debug/{H1}"), &format!("debug/{H2}"), "batch-0"]
    );
    assert_eq!(
        p.dropped,
        [
            "debug/app.d".to_string(),
            format!("debug/deps/app-{H1}.d"),
            "debug/incremental".into()
        ]
    );
    let inc = &p.categories[&Category::Incremental];
    assert_eq!((inc.bytes, inc.kept_bytes), (500, 0));
    // The build-script out dir survives even when empty.
    assert!(
        p.groups[1]
            .paths
            .contains(&format!("debug/build/sys-{H2}/out"))
    );
    // Our own state is never saved.
    assert!(
        p.groups
            .iter()
            .all(|g| g.paths.iter().all(|x| !x.starts_with(".cargo-stash")))
    );
}

#[test]
fn uplifted_hard_links_point_at_the_unit_file() {
    let p = plan(&listing(), &PlanOptions::default());
    assert_eq!(
        p.links,
        [("debug/app".to_string(), format!("debug/deps/app-{H1}"))]
    );
    let batch = p.groups.last().unwrap();
    assert!(!batch.paths.contains(&"debug/app".to_string()));
    assert!(p.groups[0].paths.contains(&format!("debug/deps/app-{H1}")));
}

#[test]
fn unused_units_are_dropped_and_used_ones_kept() {
    let opts = PlanOptions {
        used_units: Some([format!("debug/{H1}")].into()),
        ..Default::default()
    };
    let p = plan(&listing(), &opts);
    assert_eq!(p.unused_units, [format!("debug/{H2}")]);
    assert!(p.groups.iter().any(|g| g.name == format!("debug/{H1}")));
    assert!(p.groups.iter().all(|g| g.name != format!("debug/{H2}")));
    assert!(p.dropped.contains(&format!("debug/.fingerprint/itoa-{H2}")));
}

#[test]
fn keep_options_keep_incremental_and_dep_files() {
    let opts = PlanOptions {
        keep_incremental: true,
        keep_dep_files: true,
        ..Default::default()
    };
    let p = plan(&listing(), &opts);
    assert!(p.dropped.is_empty());
    let batch = p.groups.last().unwrap();
    assert!(
        batch
            .paths
            .contains(&"debug/incremental/app-x/dep-graph.bin".to_string())
    );
}

#[test]
fn batches_are_bounded() {
    let files: Vec<Entry> = (0..10).map(|i| file(&format!("doc/f{i}"), 40)).collect();
    let opts = PlanOptions {
        batch_bytes: 100,
        ..Default::default()
    };
    let p = plan(&files, &opts);
    assert_eq!(p.groups.len(), 5);
    assert!(p.groups.iter().all(|g| g.bytes <= 100));
}

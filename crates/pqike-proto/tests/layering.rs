//! The layering rules of pqike-proto, checked on its source (issue 11, docs/architecture.md):
//! - the only import cycle is the task manager and its tasks (`tasks`, `tasks::*`), a dispatcher
//!   and its cases;
//! - the message layer (`exchange`, `exchange::*`) imports no task, and neither do SA data
//!   (`sa_data`), the transport path (`path`), the timers or the indexes;
//! - transports are chosen by the `Path` type alone: no `nat_port` comparison outside `path.rs`.
//!
//! The module graph is read from `crate::`/`super::` paths in the non-test code of every file
//! (the crate root's re-exports are resolved to the module that defines the item). Tarjan's
//! algorithm then gives the strongly connected components.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("tasks::manager") → non-test source text.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.insert(
                    module_name(&src, &p),
                    strip_tests(&std::fs::read_to_string(&p).unwrap()),
                );
            }
        }
    }
    out
}

fn module_name(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod") | Some("lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// Unit-test modules may import anything; only the shipped code's graph counts.
fn strip_tests(text: &str) -> String {
    match text.find("#[cfg(test)]\nmod ") {
        Some(i) => text[..i].to_string(),
        None => text.to_string(),
    }
}

/// Every path written after `crate::` or `super::` (with `{a, b::c}` groups expanded), as
/// segment lists relative to the crate root.
fn paths_used(module: &str, text: &str) -> Vec<Vec<String>> {
    let code: String = text
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Bytes, not `str` slices: comments and strings may hold non-ASCII text.
        let rest = &bytes[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let (prefix, skip) = if boundary && rest.starts_with(b"crate::") {
            (Vec::new(), 7)
        } else if boundary && rest.starts_with(b"super::") {
            // `super` of module `a::b` is `a`, whether `a::b` is a file or a directory (mod.rs).
            let mut segs: Vec<String> = module.split("::").map(str::to_string).collect();
            segs.pop();
            (segs.into_iter().filter(|s| !s.is_empty()).collect(), 7)
        } else {
            i += 1;
            continue;
        };
        let (paths, used) = parse_tree(&code[i + skip..]);
        for p in paths {
            let mut full = prefix.clone();
            full.extend(p);
            out.push(full);
        }
        i += skip + used.max(1);
    }
    out
}

/// Parse `a::b::{c, d::e}` (or a plain path) at the start of `s`; returns the paths and the
/// number of bytes read.
fn parse_tree(s: &str) -> (Vec<Vec<String>>, usize) {
    let mut segs = Vec::new();
    let mut i = 0;
    let b = s.as_bytes();
    loop {
        if i < b.len() && b[i] == b'{' {
            let mut all = Vec::new();
            i += 1;
            loop {
                while i < b.len() && (b[i] == b' ' || b[i] == b'\n' || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    i += 1;
                    break;
                }
                let (sub, used) = parse_tree(&s[i..]);
                for p in sub {
                    let mut full: Vec<String> = segs.clone();
                    full.extend(p);
                    all.push(full);
                }
                i += used.max(1);
            }
            return (all, i);
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'*') {
            i += 1;
        }
        if i == start {
            return (vec![segs], i);
        }
        segs.push(s[start..i].to_string());
        if s[i..].starts_with("::") {
            i += 2;
        } else {
            return (vec![segs], i);
        }
    }
}

/// The module a path refers to: its longest prefix that names a module; paths into the crate
/// root resolve through the root's `pub use` re-exports.
fn target(
    path: &[String],
    mods: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    for n in (1..=path.len()).rev() {
        let m = path[..n].join("::");
        if mods.contains(&m) {
            return Some(m);
        }
    }
    path.first().and_then(|item| reexports.get(item).cloned())
}

/// Item name → defining module, for the crate root's `pub use m::Item` and `pub use m::*`.
fn root_reexports(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = &all[""];
    for line in root.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';');
        if let Some(m) = rest.strip_suffix("::*") {
            for l in all.get(m).map(String::as_str).unwrap_or("").lines() {
                let words: Vec<&str> = l.split_whitespace().collect();
                if words.len() >= 3
                    && words[0] == "pub"
                    && ["struct", "enum", "fn", "type", "const", "trait"].contains(&words[1])
                {
                    let name: String = words[2]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    out.insert(name, m.to_string());
                }
            }
        } else if let Some((m, item)) = rest.rsplit_once("::") {
            out.insert(item.to_string(), m.to_string());
        }
    }
    out
}

/// Module → modules it uses (the crate root left out: it is the public facade).
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let all = modules();
    let names: BTreeSet<String> = all.keys().filter(|k| !k.is_empty()).cloned().collect();
    let reexports = root_reexports(&all);
    let mut g = BTreeMap::new();
    for (m, text) in all.iter().filter(|(k, _)| !k.is_empty()) {
        let deps: BTreeSet<String> = paths_used(m, text)
            .iter()
            .filter_map(|p| target(p, &names, &reexports))
            .filter(|t| t != m && !t.is_empty())
            .collect();
        g.insert(m.clone(), deps);
    }
    g
}

/// Tarjan's strongly connected components (recursive; the graph has a few dozen nodes).
fn sccs(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.g.contains_key(w) {
                continue;
            }
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            t.out.push(comp);
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on: BTreeSet::new(),
        out: vec![],
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn is_task_module(m: &str) -> bool {
    m == "tasks" || m.starts_with("tasks::")
}

#[test]
fn the_only_cycle_is_the_task_manager_and_its_tasks() {
    let g = graph();
    assert!(
        g.contains_key("tasks::manager") && g.contains_key("exchange"),
        "module scan found {:?}",
        g.keys()
    );
    let cycles: Vec<_> = sccs(&g).into_iter().filter(|c| c.len() > 1).collect();
    for c in &cycles {
        let outside: Vec<_> = c.iter().filter(|m| !is_task_module(m)).collect();
        assert!(
            outside.is_empty(),
            "import cycle reaches outside the task manager and tasks: {outside:?} in {c:?}"
        );
    }
}

#[test]
fn the_message_layer_and_sa_data_import_no_task() {
    let g = graph();
    let lower = [
        "exchange",
        "exchange::protect",
        "exchange::fragment",
        "sa_data",
        "path",
        "timer",
    ];
    for m in lower {
        let deps = g.get(m).unwrap_or_else(|| panic!("module {m} not found"));
        let up: Vec<_> = deps
            .iter()
            .filter(|d| is_task_module(d) || d.as_str() == "endpoint")
            .collect();
        assert!(up.is_empty(), "{m} imports upward: {up:?}");
    }
}

#[test]
fn the_graph_reader_sees_known_edges() {
    // The checks above can only fail if the reader finds edges: pin a few that exist.
    let g = graph();
    assert!(
        g["tasks::manager"].contains("exchange"),
        "{:?}",
        g["tasks::manager"]
    );
    assert!(
        g["endpoint"].contains("tasks::manager") || g["endpoint"].contains("tasks"),
        "{:?}",
        g["endpoint"]
    );
    assert!(g["exchange"].contains("path"), "{:?}", g["exchange"]);
    // And a synthetic cycle outside the tasks is reported.
    let mut bad = g.clone();
    bad.get_mut("path").unwrap().insert("exchange".into());
    assert!(sccs(&bad)
        .iter()
        .any(|c| c.contains("path") && c.contains("exchange")));
}

#[test]
fn no_nat_port_comparison_outside_the_transport_path() {
    for (m, text) in modules() {
        if m == "path" {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if line.contains("nat_port") && (line.contains("==") || line.contains("!=")) {
                panic!("{m}:{}: port comparison outside path.rs: {line}", n + 1);
            }
        }
    }
}

//! The TOML reader (`stash_toml`) against the `toml` crate it replaced: on
//! every document, both must accept or both reject, and accepted ones must give the
//! same canonical text, byte for byte, so that no key changes.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::canon::{self, Table, Value};

/// The canonical text as computed before `toml_reader`: `toml`'s parser, its values
/// converted as they were, the same writer.
fn reference(text: &str) -> Result<String, String> {
    let doc = DeTable::parse(text).map_err(|e| e.message().to_string())?;
    Ok(canon::to_string(&ref_table(doc.get_ref())?))
}

fn ref_table(t: &DeTable<'_>) -> Result<Table<'static>, String> {
    let pairs = t
        .iter()
        .map(|(k, v)| Ok((k.get_ref().to_string(), ref_value(v.get_ref())?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Table::from_pairs(pairs))
}

fn ref_value(v: &DeValue<'_>) -> Result<Value<'static>, String> {
    Ok(match v {
        DeValue::String(s) => Value::String(s.to_string().into()),
        DeValue::Integer(i) => Value::Integer(
            i64::from_str_radix(i.as_str(), i.radix()).map_err(|_| "integer overflow")?,
        ),
        DeValue::Float(f) => {
            let x: f64 = f.as_str().parse().map_err(|_| "invalid float")?;
            if x.is_infinite() && !f.as_str().contains("inf") {
                return Err("float overflow".into());
            }
            Value::Float(ref_float(x))
        }
        DeValue::Boolean(b) => Value::Boolean(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(a) => Value::Array {
            items: a
                .iter()
                .map(|v| ref_value(v.get_ref()))
                .collect::<Result<_, _>>()?,
            appendable: false,
        },
        DeValue::Table(t) => Value::Table(ref_table(t)?),
    })
}

/// The writer's float form before floats became text.
fn ref_float(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f == 0.0 {
        if f.is_sign_negative() { "-0.0" } else { "0.0" }.into()
    } else if f % 1.0 == 0.0 {
        format!("{f}.0")
    } else {
        format!("{f}")
    }
}

fn ours(text: &str) -> Result<String, String> {
    Ok(canon::to_string(&canon::parse(text)?))
}

/// Both accept with the same text, or both reject; the differences, described.
fn compare(text: &str) -> Option<String> {
    match (ours(text), reference(text)) {
        (Ok(a), Ok(b)) if a == b => None,
        (Err(_), Err(_)) => None,
        (a, b) => Some(format!("{text:?}\n  ours: {a:?}\n  toml: {b:?}")),
    }
}

fn assert_all_agree<'a>(texts: impl IntoIterator<Item = &'a str>) -> usize {
    let mut n = 0;
    let failures: Vec<String> = texts
        .into_iter()
        .inspect(|_| n += 1)
        .filter_map(compare)
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {n} documents differ:\n{}",
        failures.len(),
        failures[..failures.len().min(15)].join("\n")
    );
    n
}

/// Valid documents touching every part of the grammar, including TOML 1.1's additions.
const VALID: &[&str] = &[
    "",
    "\u{feff}a = 1\n",
    "a = 1",
    "a = 1\r\nb = 2\r\n",
    "# only a comment",
    "a = 1 # comment é\n#\tx\n",
    " \t a\t=\t1 \t\n",
    "[a]\n[b]\n[c.d]\n",
    "[ a . b ]\n[ \"a\" . 'c' ]\n",
    "[a.b.c]\n[a]\nx = 1\n[a.b]\ny = 2\n",
    "[[a]]\n[[a]]\nx = 1\n[a.b]\nc = 1\n[[a.c]]\n[[a.c]]\n",
    "[[a.b]]\nx = 1\n[[a.b]]\n[a.b.c]\n",
    "a.b = 1\na.c.d = 2\n[a.e]\nf = 1\n",
    "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true\n",
    "a = { b = 1, c.d = 2, c.e = [1] }\n",
    "a = { }\nb = {x=1}\nc = {x=[],y={}}\n",
    "a = {\n  b = 1, # c\n  c = 2,\n}\n",
    "a = { b = 1, }\n",
    "a = [\n1,\n2, # x\n]\nb = [ ]\nc = [[], [1, [2]], {}, 'x']\n",
    "s = \"a\\tb\\n\\\"\\\\\\b\\f\\r\\e\\x41\\u00e9\\U0001F600\"\n",
    "s = 'C:\\path \"x\"'\n",
    "s = \"\"\"\nfirst\nsecond\"\"\"\n",
    "s = \"\"\"one \\\n   two \\\n\n  three\"\"\"\n",
    "s = \"\"\"a \\   \n  b\"\"\"\n",
    "s = \"\"\"q\"\"q\"\"\"\"\"\nt = '''x''''\n",
    "s = '''\r\nline\r\nnext'''\n",
    "s = '''\n'''\nt = \"\"\"\n\"\"\"\n",
    "s = \"\"\"tab\there\"\"\"\n",
    "i = [0, -0, +0, 1_000, -17, 0xdead_BEEF, 0o755, 0b1_0, 9223372036854775807, -9223372036854775808]\n",
    "f = [0.0, -0.0, +1.5, 1e10, 1E-10, 6.02e+23, 1_0.0_1, 3e0_1, -inf, +inf, nan, -nan, +nan]\n",
    "f = [0.1, 0.2, 0.30000000000000004, 1e-7, 1e21, 123456789012345678.0, 5e-324, 1e-400]\n",
    "d = [1979-05-27T07:32:00Z, 1979-05-27t07:32:00z, 1979-05-27 07:32:00-07:00]\n",
    "d = [1979-05-27T00:32:00.999999, 1979-05-27T00:32:00.1234567891, 07:32, 07:32:00.000]\n",
    "d = [2000-02-29, 1979-05-27T07:32, 1979-05-27T07:32Z, 23:59:60, 1979-05-27T07:32:00-00:00]\n",
    "d = 1979-05-27 # a date, then a comment\n",
    "b = [true, false]\n",
    "\"\" = 1\n\"a.b\" = 3\n",
    "'' = 2\n",
    "1 = 1\n2.3 = 3\n-a_ = 4\n",
    "a = 1\n[[b]]\nc = 2\n[b.d]\ne = 3\n[[b]]\n",
    "[a.b.c]\n[a]\nb.d = 1\nb.e = 2\n[a.b.f]\n",
    "[a.b.c.d]\n[a]\nb.c.y = 1\n",
    "[[a]]\nb.c = 1\n[a.b.d]\n",
    "a = 1979-05-27 07:32:00 \n",
    "a = [1979-05-27 07:32]\n",
    "a = \"\"\"x\\\r\n  y\"\"\"\n",
    "a = {b = 1 # c\n}\n",
    "a = { b\n=\n1 }\n",
    "a = { b = # x\n 1 }\n",
    "[[c.a]]\nb.x=1\n[c]\na.b.y = 1\n",
    "[[c.a]]\n[c.a.b.d]\n[c]\na.b.y = 1\n",
];

/// Invalid documents; each must be rejected by both.
const INVALID: &[&str] = &[
    "a = 1\na = 2\n",
    "[a]\n[a]\n",
    "[a]\nb = 1\n[a.b]\n",
    "a.b = 1\n[a]\n",
    "a.b = 1\n[a.b]\n",
    "[a.b]\n[a]\nb.c = 1\n",
    "a = {}\n[a]\n",
    "a = {}\n[a.b]\n",
    "a = { b = 1 }\na.c = 2\n",
    "a = []\n[[a]]\n",
    "a = [{}]\n[a.b]\n",
    "[[a]]\n[a]\n",
    "[a]\n[[a]]\n",
    "a = 1\na.b = 2\n",
    "a = { b = 1, b = 2 }\n",
    "a = { b = {}, b.c = 1 }\n",
    "a = 1 b = 2\n",
    "a = \n",
    "= 1\n",
    "a\n",
    "[a\n",
    "[[a]\n",
    "[a]]\n",
    "[]\n",
    "a = { , }\n",
    "a = { b = 1,, }\n",
    "a = [,]\n",
    "a = [1,,2]\n",
    "a = [1 2]\n",
    "a = \"x\n",
    "a = \"\\q\"\n",
    "a = \"\\ud800\"\n",
    "a = \"\\x4\"\n",
    "a = \"a\u{1}b\"\n",
    "a = 'a\u{7f}b'\n",
    "# \u{0} \n",
    "a = 1\r",
    "a = '''x\n",
    "a = \"\"\"x\"\"\"\"\"\"\n",
    "\"\"\"a\"\"\" = 1\n",
    "a = 01\n",
    "a = 0_1\n",
    "a = 1__0\n",
    "a = _1\n",
    "a = 1_\n",
    "a = +0x1\n",
    "a = 0X1\n",
    "a = 0xg\n",
    "a = 0x\n",
    "a = 0o8\n",
    "a = 9223372036854775808\n",
    "a = 0x8000000000000000\n",
    "a = 1.\n",
    "a = .1\n",
    "a = 1e\n",
    "a = 1.e1\n",
    "a = 01.5\n",
    "a = 1e400\n",
    "a = inf1\n",
    "a = Inf\n",
    "a = NaN\n",
    "a = True\n",
    "a = truee\n",
    "a = 1979-13-01\n",
    "a = 1979-02-29\n",
    "a = 1979-05-32\n",
    "a = 1979-5-27\n",
    "a = 1979-05-27T25:00:00\n",
    "a = 1979-05-27T07:60:00\n",
    "a = 1979-05-27T07:32:61\n",
    "a = 1979-05-27T07:32:00.\n",
    "a = 1979-05-27T07:32:00+24:00\n",
    "a = 1979-05-27T07:32:00+07\n",
    "a = 07:32:00Z\n",
    "a = 7:32:00\n",
    "a = 1979-05-27X07:32:00\n",
    "a = 1979-05-27 07\n",
    "a = x\n",
    "a = -\n",
    "a = ++1\n",
    "[a.b.c]\n[a]\nb.d = 1\n[a.b]\n",
    "[a.b.c]\n[a]\nb.c.y = 1\n",
    "[[a.b]]\n[a]\nb.y = 1\n",
    "a = [{b = 1}]\n[[a]]\n",
    "a = 1979-05-27  07:32:00\n",
    "a = 1979-05-27T07:32:00+00:60\n",
    "a = \"\\u00E9\\U0000e9\"\n",
    "a =\n1\n",
    "a = { b.\nc = 1 }\n",
    "[a.\nb]\n",
    "[[c.a]]\nx=1\n[c]\na.k = 1\n",
    "[[c.a]]\n[c.a.b]\n[c]\na.b.y = 1\n",
    "[[c.a]]\n[c]\na.k.j = 1\n[c.a.k]\n",
    "c.a = [{}]\nc.a.k = 1\n",
];

#[test]
fn hand_written_documents_agree() {
    let rejected: Vec<_> = VALID.iter().filter(|t| reference(t).is_err()).collect();
    assert!(rejected.is_empty(), "toml rejects {rejected:?}");
    let accepted: Vec<_> = INVALID.iter().filter(|t| reference(t).is_ok()).collect();
    assert!(accepted.is_empty(), "toml accepts {accepted:?}");
    assert_all_agree(VALID.iter().chain(INVALID).copied());
}

/// Every manifest of the golden vectors and the test fixtures.
#[test]
fn repository_manifests_agree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let keys = std::fs::read_to_string(root.join("core/tests/golden/keys.json")).unwrap();
    let keys: serde_json::Value = serde_json::from_str(&keys).unwrap();
    let mut texts = Vec::new();
    for case in keys["cases"].as_array().unwrap() {
        for field in ["manifests", "config_files"] {
            if let Some(files) = case["inputs"][field].as_object() {
                texts.extend(files.values().filter_map(|v| v.as_str()).map(String::from));
            }
        }
    }
    let mut files = Vec::new();
    collect_toml_files(&root.join("tests/fixtures"), &mut files, usize::MAX);
    for name in [
        "Cargo.toml",
        "core/Cargo.toml",
        "native/Cargo.toml",
        "wasm/Cargo.toml",
    ] {
        files.push(root.join(name));
    }
    texts.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    assert!(texts.len() > 10, "{}", texts.len());
    assert_all_agree(texts.iter().map(String::as_str));
}

/// Manifests of real crates, when this machine has a Cargo registry cache.
#[test]
fn registry_manifests_agree() {
    let Some(home) = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
    else {
        return;
    };
    let Ok(indexes) = std::fs::read_dir(home.join("registry/src")) else {
        return;
    };
    let mut files = Vec::new();
    for index in indexes.flatten() {
        collect_toml_files(&index.path(), &mut files, 3000);
    }
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    let n = assert_all_agree(texts.iter().map(String::as_str));
    eprintln!("{n} registry manifests agree");
}

/// `Cargo.toml`, `Cargo.toml.orig` and `.cargo/config.toml` files under `dir`, two
/// levels of crates deep, up to `max`.
fn collect_toml_files(dir: &Path, out: &mut Vec<std::path::PathBuf>, max: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if out.len() >= max {
            return;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() && !matches!(name, "target" | "src" | "tests" | "benches") {
            collect_toml_files(&path, out, max);
        } else if matches!(name, "Cargo.toml" | "Cargo.toml.orig" | "config.toml") {
            out.push(path);
        }
    }
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }

    fn key(&mut self) -> String {
        let mut k = self
            .pick(&["a", "b", "c", "\"a\"", "'b'", "\"x.y\"", "d-e"])
            .to_string();
        while self.below(2) == 0 {
            k.push_str(self.pick(&[".", " . "]));
            k.push_str(self.pick(&["a", "b", "c", "'c'"]));
        }
        k
    }

    fn value(&mut self, depth: usize) -> String {
        match self.below(if depth > 2 { 6 } else { 8 }) {
            0 => self
                .pick(&[
                    "1",
                    "-0",
                    "0x1F",
                    "0o7",
                    "0b1",
                    "1_000",
                    "+5",
                    "9223372036854775807",
                ])
                .into(),
            1 => self
                .pick(&[
                    "1.5", "-0.0", "1e3", "2.5E-3", "inf", "-nan", "1e-320", "3.0e+2", "0.1",
                    "1_0.5", "7e22",
                ])
                .into(),
            2 => self.pick(&["true", "false"]).into(),
            3 => self
                .pick(&[
                    "1979-05-27",
                    "1979-05-27T07:32:00Z",
                    "07:32",
                    "1979-05-27 07:32:00.5+01:00",
                    "00:00:00.1000",
                ])
                .into(),
            4 => self.string(),
            5 => self.pick(&["[]", "{}", "[ ]"]).into(),
            6 => {
                let n = self.below(4);
                let items: Vec<String> = (0..n).map(|_| self.value(depth + 1)).collect();
                let sep = self.pick(&[", ", ",\n", " , # c\n"]);
                let trail = if n > 0 {
                    self.pick(&["", ",", ",\n"])
                } else {
                    ""
                };
                format!("[{}{trail}]", items.join(sep))
            }
            _ => {
                let n = self.below(4);
                let pairs: Vec<String> = (0..n)
                    .map(|_| format!("{} = {}", self.key(), self.value(depth + 1)))
                    .collect();
                let sep = self.pick(&[", ", ",\n  "]);
                let trail = if n > 0 {
                    self.pick(&["", ",", "\n"])
                } else {
                    ""
                };
                format!("{{ {}{trail} }}", pairs.join(sep))
            }
        }
    }

    fn string(&mut self) -> String {
        let body: String = (0..self.below(6))
            .map(|_| {
                self.pick(&[
                    "x", " ", "'", "\"", "\\\\", "\\n", "\\t", "é", "\\u0001", "\\x7f", "\t", "''",
                    "\"\"", "\\e", "/",
                ])
            })
            .collect();
        match self.below(4) {
            0 => format!("\"{body}\""),
            1 => format!("'{}'", body.replace(['\'', '\\'], "")),
            2 => format!("\"\"\"\n{}\"\"\"", body.replace("\\n", "\n")),
            _ => format!("'''{}'''", body.replace('\\', "").replace("''", "'")),
        }
    }

    fn document(&mut self) -> String {
        let mut doc = String::new();
        for _ in 0..self.below(8) {
            match self.below(5) {
                0 => doc.push_str(&format!("[{}]\n", self.key())),
                1 => doc.push_str(&format!("[[{}]]\n", self.key())),
                2 => doc.push_str("# comment\n\n"),
                _ => doc.push_str(&format!("{} = {}\n", self.key(), self.value(0))),
            }
        }
        doc
    }

    /// `doc` with one byte deleted, doubled or replaced by a TOML-significant one.
    fn mutate(&mut self, doc: &str) -> String {
        let mut b = doc.as_bytes().to_vec();
        if b.is_empty() {
            return String::new();
        }
        let at = self.below(b.len());
        let with = b"[]{}=,.'\"#\n\r\t 0e_+-:zT\\"[self.below(23)];
        match self.below(3) {
            0 => {
                b.remove(at);
            }
            1 => b.insert(at, b[at]),
            _ => b[at] = with,
        }
        String::from_utf8_lossy(&b).into_owned()
    }
}

#[test]
fn generated_documents_agree() {
    // STASH_TOML_DOCS=200000 STASH_TOML_SEED=n (with --release) for a longer search.
    let env = |name, default| std::env::var(name).map_or(default, |n| n.parse().unwrap());
    let n = env("STASH_TOML_DOCS", 6000);
    let mut g = Gen(0x2545_f491_4f6c_dd1d ^ env("STASH_TOML_SEED", 0) as u64);
    let mut docs = Vec::new();
    for _ in 0..n {
        let doc = g.document();
        for _ in 0..3 {
            docs.push(g.mutate(&doc));
        }
        docs.push(doc);
    }
    let valid = docs.iter().filter(|d| reference(d).is_ok()).count();
    // Both outcomes must be well represented for the comparison to mean something.
    assert!(
        valid > docs.len() / 5 && valid < docs.len() * 4 / 5,
        "{valid}"
    );
    assert_all_agree(docs.iter().map(String::as_str));
}

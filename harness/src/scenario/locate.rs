//! Maps between byte offsets, line/column positions and key paths in a scenario's TOML text.
//!
//! Deserialization (the `toml` crate) reports a byte span; validation reports a key path.
//! Either way a user wants `file:line:col`, the key path and a hint, so both directions are
//! resolved against a span-preserving parse of the same text (`toml_edit`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml_edit::{Item, Value};

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A key path such as `case[3].client.sslmode`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_owned()));
        KeyPath(v)
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A scenario file's text, parsed once more with spans kept.
pub struct SourceMap {
    path: PathBuf,
    text: String,
    doc: Option<toml_edit::Document<String>>,
}

impl SourceMap {
    pub fn new(path: &Path, text: &str) -> Self {
        SourceMap {
            path: path.to_owned(),
            text: text.to_owned(),
            doc: toml_edit::Document::parse(text.to_owned()).ok(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }

    /// The span of the key (or, for an index, the element) a path names; falls back to the
    /// nearest ancestor that exists, so a diagnostic always points somewhere useful.
    pub fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        let doc = self.doc.as_ref()?;
        let mut best = None;
        let mut node = Node::Item(doc.as_item());
        for seg in &path.0 {
            let Some((span, next)) = node.child(seg) else { break };
            if span.is_some() {
                best = span;
            }
            node = next;
        }
        best
    }

    /// The deepest key path whose value contains `offset`. Tables named by a dotted header
    /// (`[matrix.axes.hba]`) have no span of their own for `matrix` and `axes`, so a child
    /// that does not contain the offset is still searched below.
    pub fn path_at(&self, offset: usize) -> KeyPath {
        let mut path = KeyPath::root();
        if let Some(doc) = self.doc.as_ref() {
            descend(Node::Item(doc.as_item()), offset, &mut path);
        }
        path
    }
}

/// Extends `path` into the child of `node` that holds `offset`; false when none does.
fn descend(node: Node<'_>, offset: usize, path: &mut KeyPath) -> bool {
    for (seg, child) in node.children() {
        let spanned = child.span();
        let holds = spanned.as_ref().is_some_and(|s| s.contains(&offset) || s.end == offset)
            || child.key_span.as_ref().is_some_and(|s| s.contains(&offset));
        if holds {
            path.0.push(seg);
            descend(child.node, offset, path);
            return true;
        }
        if spanned.is_none() || matches!(child.node, Node::Item(Item::Table(_))) {
            path.0.push(seg);
            if descend(child.node, offset, path) {
                return true;
            }
            path.0.pop();
        }
    }
    false
}

#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Table(&'a toml_edit::Table),
    Value(&'a Value),
}

struct Child<'a> {
    node: Node<'a>,
    key_span: Option<Range<usize>>,
}

impl Child<'_> {
    fn span(&self) -> Option<Range<usize>> {
        self.node.span()
    }
}

impl<'a> Node<'a> {
    fn span(&self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Table(t) => t.span(),
            Node::Value(v) => v.span(),
        }
    }

    /// The child a segment names, with the span to report for it.
    fn child(&self, seg: &Seg) -> Option<(Option<Range<usize>>, Node<'a>)> {
        self.children().into_iter().find(|(s, _)| s == seg).map(|(_, c)| {
            let span = c.key_span.clone().or_else(|| c.span());
            (span, c.node)
        })
    }

    fn children(&self) -> Vec<(Seg, Child<'a>)> {
        let mut out = Vec::new();
        match *self {
            Node::Item(Item::Table(t)) | Node::Table(t) => {
                for (k, item) in t.iter() {
                    let key_span = t.key(k).and_then(|k| k.span());
                    out.push((Seg::Key(k.to_owned()), Child { node: Node::Item(item), key_span }));
                }
            }
            Node::Item(Item::ArrayOfTables(a)) => {
                for (i, t) in a.iter().enumerate() {
                    let node = Node::Table(t);
                    out.push((Seg::Index(i), Child { node, key_span: t.span() }));
                }
            }
            Node::Item(Item::Value(v)) | Node::Value(v) => match v {
                Value::InlineTable(t) => {
                    for (k, v) in t.iter() {
                        let key_span = t.key(k).and_then(|k| k.span());
                        out.push((Seg::Key(k.to_owned()), Child { node: Node::Value(v), key_span }));
                    }
                }
                Value::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        out.push((Seg::Index(i), Child { node: Node::Value(v), key_span: None }));
                    }
                }
                _ => {}
            },
            _ => {}
        }
        out
    }
}

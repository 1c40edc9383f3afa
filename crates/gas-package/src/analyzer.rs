//! Static analysis of `model.py` with Astral's Python parser (`ruff_python_parser`).
//!
//! Order: source checks (size, NUL bytes, lone CR, the PEP 263 encoding cookie: only UTF-8,
//! because Python decodes the file with the declared codec and `utf-7`, `unicode_escape`, …
//! would run code this parser never sees), a token-level nesting bound (so nothing below can
//! overflow a stack), the parse, then a walk of the whole AST (imports inside functions, `try`,
//! `if`, classes are all seen). Names and attribute chains are resolved through every import
//! that binds them (`import torch as t; t.load(...)` is `torch.load`) and checked against the
//! vetted API of the allowed modules ([`crate::policy`]). String annotations are analyzed as
//! code (`typing.get_type_hints` and friends evaluate them). Every finding carries a 1-based
//! line:column, a rule id (RULES.md) and a fix.
//!
//! The work runs on a thread of its own with a fixed stack, whatever thread calls
//! [`analyze`] (the CLI's main thread, a registry worker thread); an internal failure is a
//! refusal (`analysis-failed`), never a crash. This is a first line of defence; the sandbox
//! contains a hostile model, not this check.

use crate::Finding;
use crate::policy::{
    self, API, ASSIGNABLE, DANGEROUS_ATTRS, FRAME_ATTRS, Policy, REFUSED_BUILTINS,
    REFUSED_KEYWORDS, SAFE_DUNDER_NAMES, SAFE_DUNDERS,
};
pub use crate::policy::{
    ALLOWED_MODULES, BLOCKED_MODULES, NETWORK_ALLOWED_IMPORTS, NETWORK_BLOCKED_CALLS,
    NETWORK_BLOCKED_IMPORTS,
};
use ruff_python_ast::token::TokenKind;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, ExprContext, Stmt};
use ruff_python_parser::Mode;
use ruff_source_file::LineIndex;
use ruff_text_size::{Ranged, TextSize};
use std::collections::HashMap;

/// Largest `model.py` analyzed (bytes); larger sources are refused (`source-too-large`).
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Deepest bracket nesting (`(`, `[`, `{`, f-string fields); CPython's own limit is 200.
pub const MAX_BRACKET_DEPTH: u32 = 200;
/// Deepest block indentation; CPython's own limit is 100.
pub const MAX_INDENT_DEPTH: u32 = 100;
/// Bound on expression nesting, counted in tokens that can open a level (operators,
/// keywords, brackets) between separators; far above what real models write.
pub const MAX_EXPRESSION_DEPTH: u32 = 600;
/// Guard on the AST walk (never reached after the token-level bound; belt and braces).
const MAX_AST_DEPTH: u32 = 8 * MAX_EXPRESSION_DEPTH;
/// Stack of the analysis thread: the parse and the walk of a maximally nested accepted
/// source use a few MiB in debug builds.
const ANALYSIS_STACK_BYTES: usize = 64 << 20;
/// String annotations inside string annotations, at most.
const MAX_ANNOTATION_NESTING: u32 = 3;

/// Rules reported as warnings rather than errors.
pub fn is_warning_rule(rule: &str) -> bool {
    matches!(rule, "dynamic-attribute-warning")
}

/// Analyze `source` (the text of `file`), returning every finding.
pub fn analyze(source: &str, file: &str) -> Vec<Finding> {
    let joined = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("model.py analysis".into())
            .stack_size(ANALYSIS_STACK_BYTES)
            .spawn_scoped(s, || analyze_here(source, file))
            .map(|h| h.join())
    });
    match joined {
        Ok(Ok(findings)) => findings,
        Ok(Err(_)) => vec![Finding::new(
            "analysis-failed",
            file,
            Some(1),
            Some(1),
            "the analyzer failed on this file (internal error), so it is refused; simplify the file or report it",
        )],
        Err(e) => vec![Finding::new(
            "analysis-failed",
            file,
            Some(1),
            Some(1),
            format!("could not start the analysis ({e}), so the file is refused; retry"),
        )],
    }
}

/// [`analyze`] on the calling thread, without the dedicated analysis thread: for the fuzz
/// target (fuzz/), whose thread has a known 8 MiB stack. Not an API; call [`analyze`].
#[doc(hidden)]
pub fn analyze_on_current_thread(source: &str, file: &str) -> Vec<Finding> {
    analyze_here(source, file)
}

fn analyze_here(source: &str, file: &str) -> Vec<Finding> {
    if source.len() > MAX_SOURCE_BYTES {
        return vec![Finding::new(
            "source-too-large",
            file,
            Some(1),
            Some(1),
            format!(
                "model.py is {} bytes; the limit is {MAX_SOURCE_BYTES}: keep model.py to the model code (weights belong in the safetensors file)",
                source.len()
            ),
        )];
    }
    let index = LineIndex::from_source_text(source);
    let pos = |offset: TextSize| {
        let lc = index.line_column(offset, source);
        (
            u32::try_from(lc.line.get()).ok(),
            u32::try_from(lc.column.get()).ok(),
        )
    };
    let one = |offset: usize, rule: &str, msg: String| {
        let (l, c) = pos(TextSize::try_from(offset).unwrap_or_default());
        vec![Finding::new(rule, file, l, c, msg)]
    };
    if let Some(i) = source.find('\0') {
        return one(
            i,
            "source-invalid",
            "model.py contains a NUL byte (Python refuses such a source): remove it".into(),
        );
    }
    if let Some(i) = lone_cr(source) {
        return one(
            i,
            "source-invalid",
            "model.py has a carriage return that does not end a line (old Mac line ending): save the file with \\n or \\r\\n line endings".into(),
        );
    }
    if let Some((i, enc)) = non_utf8_cookie(source) {
        return one(
            i,
            "encoding-cookie",
            format!(
                "model.py declares the source encoding `{enc}`: Python would decode the file with it, so the code that runs is not the code checked here; remove the coding line or declare utf-8"
            ),
        );
    }
    if let Some(trip) = nesting_trip(source) {
        let at = trip_offset(source);
        return one(at, "nesting-too-deep", trip.message());
    }
    let parsed = match ruff_python_parser::parse_module(source) {
        Ok(p) => p,
        Err(e) => {
            let (l, c) = pos(e.location.start());
            return vec![Finding::new(
                "python-syntax",
                file,
                l,
                c,
                format!(
                    "syntax error: {}; fix the Python syntax (model.py must run on Python 3.11)",
                    e.error
                ),
            )];
        }
    };
    let module = parsed.syntax();
    let mut a = Analyzer::default();
    // First pass: every import binding anywhere (uses before a nested import still resolve;
    // a name bound by several imports is checked against each); the second pass reports.
    a.collect_aliases(&module.body);
    a.visit_body(&module.body);
    // load_model signature
    let mut found = false;
    for stmt in &module.body {
        if let Stmt::FunctionDef(f) = stmt
            && f.name.id.as_str() == "load_model"
        {
            found = true;
            check_load_model(f, &mut a.raw);
        }
    }
    if !found {
        a.raw.push((TextSize::from(0), "load-model-missing", "model.py defines no module-level `def load_model(weights_path, num_classes=2)`: add it; it must return a torch.nn.Module in eval mode".into()));
    }
    a.raw.sort_by_key(|(o, _, _)| *o);
    a.raw.dedup();
    a.raw
        .into_iter()
        .map(|(o, rule, msg)| {
            let (l, c) = pos(o);
            Finding::new(rule, file, l, c, msg)
        })
        .collect()
}

/// Byte offset of a `\r` not followed by `\n`.
fn lone_cr(source: &str) -> Option<usize> {
    let b = source.as_bytes();
    (0..b.len()).find(|&i| b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
}

/// A PEP 263 coding declaration on line 1 or 2 naming anything but UTF-8: (offset, name).
/// Matches more than Python does (any comment line among the first two, every occurrence),
/// never less.
fn non_utf8_cookie(source: &str) -> Option<(usize, String)> {
    let text = source.strip_prefix('\u{feff}').unwrap_or(source);
    let skip = source.len() - text.len();
    let mut offset = skip;
    for line in text.split_inclusive('\n').take(2) {
        let body = line.trim_start_matches([' ', '\t', '\x0c']);
        if body.starts_with('#') {
            let mut from = 0;
            while let Some(k) = body[from..].find("coding") {
                let after = from + k + "coding".len();
                from = after;
                let rest = &body[after..];
                let Some(rest) = rest.strip_prefix([':', '=']) else {
                    continue;
                };
                let rest = rest.trim_start_matches([' ', '\t']);
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                if name.is_empty() {
                    continue;
                }
                let norm = name.to_ascii_lowercase().replace('_', "-");
                let utf8 = norm == "utf-8"
                    || norm == "utf8"
                    || norm.starts_with("utf-8-")
                    || norm.starts_with("utf8-");
                if !utf8 {
                    return Some((offset + (line.len() - body.len()), name));
                }
            }
        }
        offset += line.len();
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Brackets,
    Indent,
    Expression,
}

impl Trip {
    fn message(self) -> String {
        match self {
            Trip::Brackets => format!(
                "brackets nest deeper than {MAX_BRACKET_DEPTH} levels (Python itself refuses more): split the expression into named steps"
            ),
            Trip::Indent => format!(
                "blocks nest deeper than {MAX_INDENT_DEPTH} levels (Python itself refuses more): move inner blocks into functions"
            ),
            Trip::Expression => format!(
                "an expression nests deeper than {MAX_EXPRESSION_DEPTH} operators: split it into named steps"
            ),
        }
    }
}

#[derive(Default, Clone, Copy)]
struct Frame {
    /// Units of nesting of the enclosing frames, plus the bracket itself.
    base: u32,
    /// Operators/keywords/closed brackets since the last separator at this level.
    run: u32,
    /// `lambda`s whose `:` has not come yet (their parameter commas are not separators).
    lambdas: u32,
}

/// Token-level upper bound on how deeply the parser and the AST walk recurse, computed with
/// the parser's own lexer (which keeps its f-string state on the heap): every token that can
/// open a nesting level counts one unit until a separator (`,` `;` newline) at the same
/// bracket level; a bracket carries the units around it. Sound for expressions because every
/// AST level needs a token of its own; statements nest only through indentation.
fn nesting_trip(src: &str) -> Option<Trip> {
    let mut lx = ruff_python_parser::lexer::lex(src, Mode::Module);
    let mut stack: Vec<Frame> = Vec::new();
    let mut cur = Frame::default();
    let mut indent: u32 = 0;
    // The lexer always advances; the guard only makes that assumption harmless.
    let mut guard = src.len().saturating_mul(2) + 64;
    loop {
        guard = guard.checked_sub(1)?;
        let t = lx.next_token();
        match t {
            TokenKind::EndOfFile => return None,
            TokenKind::Lpar
            | TokenKind::Lsqb
            | TokenKind::Lbrace
            | TokenKind::FStringStart
            | TokenKind::TStringStart => {
                let base = cur.base + cur.run + 1;
                stack.push(cur);
                if stack.len() > MAX_BRACKET_DEPTH as usize {
                    return Some(Trip::Brackets);
                }
                cur = Frame {
                    base,
                    run: 0,
                    lambdas: 0,
                };
            }
            TokenKind::Rpar
            | TokenKind::Rsqb
            | TokenKind::Rbrace
            | TokenKind::FStringEnd
            | TokenKind::TStringEnd => {
                if let Some(outer) = stack.pop() {
                    cur = outer;
                    cur.run += 1;
                }
            }
            TokenKind::Comma | TokenKind::Semi => {
                if cur.lambdas == 0 {
                    cur.run = 0;
                }
            }
            TokenKind::Newline => {
                stack.clear();
                cur = Frame::default();
            }
            TokenKind::Indent => {
                indent += 1;
                if indent > MAX_INDENT_DEPTH {
                    return Some(Trip::Indent);
                }
            }
            TokenKind::Dedent => indent = indent.saturating_sub(1),
            TokenKind::Lambda => {
                cur.lambdas += 1;
                cur.run += 1;
            }
            TokenKind::Colon => {
                cur.lambdas = cur.lambdas.saturating_sub(1);
            }
            TokenKind::Name
            | TokenKind::Int
            | TokenKind::Float
            | TokenKind::Complex
            | TokenKind::String
            | TokenKind::FStringMiddle
            | TokenKind::TStringMiddle
            | TokenKind::Comment
            | TokenKind::NonLogicalNewline
            | TokenKind::Ellipsis
            | TokenKind::True
            | TokenKind::False
            | TokenKind::None => {}
            _ => cur.run += 1,
        }
        if cur.base + cur.run > MAX_EXPRESSION_DEPTH {
            return Some(Trip::Expression);
        }
    }
}

/// Offset (of the last character) of the shortest prefix of `src` that trips the bound, for
/// the finding's line:column (binary search; only on refusal).
fn trip_offset(src: &str) -> usize {
    let (mut lo, mut hi) = (0usize, src.len());
    while hi - lo > 1 {
        let mut mid = lo + (hi - lo) / 2;
        while mid < hi && !src.is_char_boundary(mid) {
            mid += 1;
        }
        if mid >= hi {
            break;
        }
        if nesting_trip(&src[..mid]).is_some() {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let mut at = hi.saturating_sub(1);
    while at > 0 && !src.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn check_load_model(f: &ast::StmtFunctionDef, raw: &mut Vec<(TextSize, &'static str, String)>) {
    let p = &f.parameters;
    let names: Vec<&str> = p
        .posonlyargs
        .iter()
        .chain(p.args.iter())
        .chain(p.kwonlyargs.iter())
        .map(|a| a.parameter.name.id.as_str())
        .collect();
    let positional: Vec<&str> = p
        .posonlyargs
        .iter()
        .chain(p.args.iter())
        .map(|a| a.parameter.name.id.as_str())
        .collect();
    if f.is_async {
        raw.push((
            f.name.range.start(),
            "load-model-signature",
            "load_model must be a plain `def`, not `async def`".into(),
        ));
    }
    let has_kwargs = p.kwarg.is_some();
    let mut missing = Vec::new();
    if !names.contains(&"weights_path") && positional.is_empty() && p.vararg.is_none() {
        missing.push("weights_path");
    }
    if !names.contains(&"num_classes") && !has_kwargs {
        missing.push("num_classes");
    }
    if !missing.is_empty() {
        raw.push((
            f.name.range.start(),
            "load-model-signature",
            format!(
                "load_model does not accept {}; declare it as `def load_model(weights_path, num_classes=2, **kwargs)`",
                missing.join(" and ")
            ),
        ));
    }
}

fn blocked_reason(module: &str) -> Option<(&'static str, &'static str)> {
    BLOCKED_MODULES
        .iter()
        .copied()
        .find(|(b, _)| module == *b || module.strip_prefix(b).is_some_and(|r| r.starts_with('.')))
}

fn is_allowed_root(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or("");
    ALLOWED_MODULES.contains(&top)
}

fn api(path: &str) -> Option<Policy> {
    API.iter().find(|(p, _)| *p == path).map(|(_, pol)| *pol)
}

fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

type Refusal = (&'static str, String);

/// Checks on an attribute name whatever the object (`x.__globals__`, `e.tb_frame`,
/// `x.torch`, `p.read_text`).
fn any_object_attr(name: &str, store: bool) -> Option<Refusal> {
    if is_dunder(name) && (store || !SAFE_DUNDERS.contains(&name)) {
        let what = if store { "assigning " } else { "" };
        return Some((
            "dunder-access",
            format!(
                "{what}`.{name}` is a known sandbox-escape route (interpreter internals); remove it"
            ),
        ));
    }
    if FRAME_ATTRS.contains(&name) {
        return Some((
            "dunder-access",
            format!("`.{name}` reaches frames, code or globals of other code; remove it"),
        ));
    }
    if policy::is_module_like_name(name, false) {
        return Some((
            "module-attribute",
            format!(
                "`.{name}` reaches a module through another object; import what you need from an allowed module directly"
            ),
        ));
    }
    if let Some((_, rule, why)) = DANGEROUS_ATTRS.iter().find(|(n, _, _)| *n == name) {
        return Some((rule, format!("`.{name}` {why}")));
    }
    None
}

/// Walk `segs` (a dotted path whose first segment is an allowed module) through the API
/// table. Segments before `start` were checked where they were imported. Returns whether
/// the whole path is a known module, or the refusal for the first bad segment.
fn walk_path(segs: &[&str], start: usize) -> Result<bool, Refusal> {
    let Some(root) = segs.first() else {
        return Ok(false);
    };
    if !ALLOWED_MODULES.contains(root) {
        return Ok(false); // reported at the import
    }
    let mut policy = api(root).unwrap_or(Policy::Open);
    let mut is_module = true;
    let mut path = (*root).to_string();
    for (i, seg) in segs.iter().enumerate().skip(1) {
        let parent = policy;
        let parent_is_module = is_module;
        path.push('.');
        path.push_str(seg);
        let explicit = api(&path);
        if let Some(Policy::Deny(rule, why)) = explicit {
            if i < start {
                return Ok(false); // reported at the import
            }
            return Err((rule, format!("`{path}`: {why}")));
        }
        if i >= start && explicit.is_none() {
            if is_dunder(seg) {
                if !SAFE_DUNDERS.contains(seg) || matches!(*seg, "__getattr__" | "__setattr__") {
                    return Err((
                        "dunder-access",
                        format!(
                            "`{path}` reaches interpreter internals of a module (sandbox-escape route); remove it"
                        ),
                    ));
                }
            } else if seg.starts_with('_') {
                return Err((
                    "private-attribute",
                    format!(
                        "`{path}` is private to the library (and a route around this check); use the public API"
                    ),
                ));
            } else if policy::is_module_like_name(seg, true) {
                return Err((
                    "module-attribute",
                    format!(
                        "`{path}` reaches the module `{seg}` through another module; only the vetted API of allowed modules may be used"
                    ),
                ));
            } else if let Some((_, rule, why)) = DANGEROUS_ATTRS.iter().find(|(n, _, _)| n == seg) {
                return Err((rule, format!("`{path}` {why}")));
            } else if let Policy::Only(names) = parent
                && parent_is_module
                && !names.contains(seg)
            {
                let parent_path = &path[..path.len() - seg.len() - 1];
                return Err((
                    "attribute-not-allowed",
                    format!(
                        "`{path}` is not on the vetted API of `{parent_path}` (allowed: {}); use one of those or plain torch",
                        names.join(", ")
                    ),
                ));
            }
        }
        match explicit {
            Some(p @ (Policy::Open | Policy::Only(_))) => {
                policy = p;
                is_module = true;
            }
            _ => {
                policy = Policy::Open;
                is_module = false;
            }
        }
    }
    Ok(is_module)
}

/// The field names of `str.format` replacement fields in `s` reach a private/dunder
/// attribute or frame internals (`"{0.__init__.__globals__}".format(x)`).
fn format_field_escape(s: &str) -> bool {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            continue;
        }
        let end = rest.find(['}', '{']).unwrap_or(rest.len());
        let field = &rest[..end];
        let name = &field[..field.find(['!', ':']).unwrap_or(field.len())];
        for step in name.split('.').skip(1) {
            let step = step.trim_start();
            if step.starts_with('_') || FRAME_ATTRS.iter().any(|f| step.starts_with(f)) {
                return true;
            }
        }
        rest = &rest[end..];
    }
    false
}

#[derive(Default)]
struct Analyzer {
    /// local name → fully qualified dotted names it is bound to by imports.
    aliases: HashMap<String, Vec<String>>,
    raw: Vec<(TextSize, &'static str, String)>,
    depth: u32,
    too_deep: bool,
    in_annotation: bool,
    annotation_nesting: u32,
    /// While analyzing the text of a string annotation: where that string starts.
    pos_override: Option<TextSize>,
    /// The next module-valued expression is an allowed use (`hasattr(torch, "compile")`).
    module_value_ok: bool,
}

impl Analyzer {
    fn collect_aliases(&mut self, body: &[Stmt]) {
        struct C<'a>(&'a mut HashMap<String, Vec<String>>);
        impl C<'_> {
            fn bind(&mut self, local: String, full: String) {
                let v = self.0.entry(local).or_default();
                if !v.contains(&full) {
                    v.push(full);
                }
            }
        }
        impl<'b> Visitor<'b> for C<'_> {
            fn visit_stmt(&mut self, stmt: &'b Stmt) {
                match stmt {
                    Stmt::Import(i) => {
                        for a in &i.names {
                            let full = a.name.id.to_string();
                            match &a.asname {
                                Some(as_) => self.bind(as_.id.to_string(), full),
                                None => {
                                    let top = full.split('.').next().unwrap_or("").to_string();
                                    self.bind(top.clone(), top);
                                }
                            }
                        }
                    }
                    Stmt::ImportFrom(i) if i.level == 0 => {
                        if let Some(m) = &i.module {
                            for a in &i.names {
                                if a.name.id.as_str() == "*" {
                                    continue;
                                }
                                let local = a.asname.as_ref().unwrap_or(&a.name).id.to_string();
                                self.bind(local, format!("{}.{}", m.id, a.name.id));
                            }
                        }
                    }
                    _ => {}
                }
                visitor::walk_stmt(self, stmt);
            }
        }
        let mut c = C(&mut self.aliases);
        for s in body {
            c.visit_stmt(s);
        }
    }

    fn push(&mut self, at: TextSize, rule: &'static str, msg: String) {
        self.raw.push((self.pos_override.unwrap_or(at), rule, msg));
    }

    /// An import of `path` (a module, or `module.name` for `from module import name`);
    /// `new_from`: index of the first segment not yet checked by this import.
    fn check_import_path(&mut self, at: TextSize, path: &str, module_part: bool) {
        if let Some((b, reason)) = blocked_reason(path) {
            self.push(
                at,
                "import-blocked",
                format!("import of `{path}` is blocked ({b}: {reason}); remove it"),
            );
            return;
        }
        if !is_allowed_root(path) {
            if module_part {
                self.push(at, "import-not-allowed", format!(
                    "`{path}` is not on the allow list ({}); remove the import or inline the code",
                    ALLOWED_MODULES.iter().filter(|m| **m != "__future__").copied().collect::<Vec<_>>().join(", ")));
            }
            return;
        }
        let segs: Vec<&str> = path.split('.').collect();
        if let Err((rule, msg)) = walk_path(&segs, 1) {
            self.push(at, rule, format!("import of {msg}"));
        }
    }

    fn check_binding_name(&mut self, at: TextSize, local: &str) {
        if REFUSED_BUILTINS.iter().any(|(b, _, _)| *b == local) {
            self.push(
                at,
                "shadowed-builtin",
                format!("an import binds the name `{local}`, which hides (or pretends to hide) the builtin `{local}`; import it under another name (`… as my_{local}`)"),
            );
        }
    }

    /// Module paths bound to `name` by imports, and whether any of them is a module.
    fn alias_is_module(&self, name: &str) -> Option<String> {
        self.aliases.get(name)?.iter().find_map(|full| {
            let segs: Vec<&str> = full.split('.').collect();
            match walk_path(&segs, usize::MAX) {
                Ok(true) => Some(full.clone()),
                _ => None,
            }
        })
    }

    fn check_name(&mut self, n: &ast::ExprName) {
        let id = n.id.as_str();
        let at = n.range.start();
        if let Some((_, rule, why)) = REFUSED_BUILTINS.iter().find(|(b, _, _)| *b == id) {
            self.push(
                at,
                rule,
                format!("`{id}` {why}; this is refused in model.py, remove it"),
            );
            return;
        }
        if is_dunder(id) && !SAFE_DUNDER_NAMES.contains(&id) {
            self.push(
                at,
                "dunder-access",
                format!("the name `{id}` reaches interpreter internals; remove it"),
            );
            return;
        }
        if matches!(n.ctx, ExprContext::Load)
            && !std::mem::take(&mut self.module_value_ok)
            && let Some(full) = self.alias_is_module(id)
        {
            self.push(at, "module-rebinding", format!(
                "`{id}` (the module `{full}`) is used as a value; use a module only as `{id}.name` (binding or passing it around hides what is reached through it)"));
        }
    }

    /// An attribute chain `base.a.b.c`, checked as a whole at its outermost node.
    fn check_chain(&mut self, expr: &Expr) {
        let mut segs_rev: Vec<&str> = Vec::new();
        let mut cur = expr;
        while let Expr::Attribute(a) = cur {
            segs_rev.push(a.attr.id.as_str());
            cur = &a.value;
        }
        let segs: Vec<&str> = segs_rev.into_iter().rev().collect();
        let store = matches!(expr, Expr::Attribute(a) if !matches!(a.ctx, ExprContext::Load));
        let at = expr.range().start();
        let module_value_ok = std::mem::take(&mut self.module_value_ok);
        let rooted: Vec<String> = match cur {
            Expr::Name(n) => self.aliases.get(n.id.as_str()).cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut reported = false;
        for full in &rooted {
            let mut all: Vec<&str> = full.split('.').collect();
            let start = all.len();
            all.extend(segs.iter().copied());
            let path = all.join(".");
            match walk_path(&all, start) {
                Err((rule, msg)) => {
                    self.push(at, rule, msg);
                    reported = true;
                    break;
                }
                Ok(is_module) => {
                    if store {
                        if !ASSIGNABLE.contains(&path.as_str()) {
                            self.push(at, "module-assignment", format!(
                                "`{path}` is an attribute of a library module; changing it (monkey-patching) is refused: keep your changes in your own classes"));
                            reported = true;
                            break;
                        }
                    } else if is_module && !module_value_ok {
                        self.push(at, "module-rebinding", format!(
                            "`{path}` is a module used as a value; use a module only as `{path}.name` (binding or passing it around hides what is reached through it)"));
                        reported = true;
                        break;
                    }
                }
            }
        }
        if !reported && rooted.is_empty() {
            let last = segs.len().saturating_sub(1);
            for (i, seg) in segs.iter().enumerate() {
                if let Some((rule, msg)) = any_object_attr(seg, store && i == last) {
                    self.push(at, rule, msg);
                    break;
                }
            }
        }
        let base_is_alias =
            matches!(cur, Expr::Name(n) if self.aliases.contains_key(n.id.as_str()));
        if base_is_alias {
            // The base name is resolved above; still refuse builtins used as bases.
            if let Expr::Name(n) = cur
                && REFUSED_BUILTINS.iter().any(|(b, _, _)| *b == n.id.as_str())
            {
                self.check_name(n);
            }
        } else {
            self.visit_expr(cur);
        }
    }

    fn check_call<'a>(&mut self, expr: &'a Expr, c: &'a ast::ExprCall) {
        for kw in &c.arguments.keywords {
            let Some(arg) = &kw.arg else { continue };
            let arg = arg.id.as_str();
            if let Some((_, rule, why)) = REFUSED_KEYWORDS.iter().find(|(k, _, _)| *k == arg) {
                let harmless = matches!(&kw.value, Expr::BooleanLiteral(b) if !b.value)
                    || matches!(&kw.value, Expr::NoneLiteral(_));
                if !harmless {
                    self.push(kw.range.start(), rule, format!("`{arg}=` {why}"));
                }
            }
        }
        if let Expr::Name(f) = &*c.func
            && f.id.as_str() == "hasattr"
        {
            let obj = c.arguments.args.first();
            match c.arguments.args.get(1) {
                Some(Expr::StringLiteral(s)) => {
                    let lit = s.value.to_str();
                    if (is_dunder(lit) && !SAFE_DUNDERS.contains(&lit))
                        || FRAME_ATTRS.contains(&lit)
                    {
                        self.push(
                            s.range.start(),
                            "dunder-access",
                            format!("hasattr(…, {lit:?}) probes a sandbox-escape route; remove it"),
                        );
                    }
                    // `hasattr(torch, "compile")` / `hasattr(F, "scaled_dot_product_attention")`
                    // are feature checks: the module is not bound or passed on.
                    if obj.is_some_and(|o| matches!(o, Expr::Name(_) | Expr::Attribute(_))) {
                        self.module_value_ok = true;
                        if let Some(o) = obj {
                            self.visit_expr(o);
                        }
                        self.module_value_ok = false;
                        for a in c.arguments.args.iter().skip(1) {
                            self.visit_expr(a);
                        }
                        self.visit_expr(&c.func);
                        return;
                    }
                }
                Some(name_arg) => {
                    if obj.is_some_and(|o| self.is_module_or_builtins(o)) {
                        self.push(name_arg.range().start(), "dynamic-attribute", "hasattr() with a computed name on a module or the builtins probes anything; use a literal name".into());
                    } else {
                        self.push(name_arg.range().start(), "dynamic-attribute-warning", "hasattr() with a computed attribute name; fine on your own objects, but make sure it never reaches modules or builtins".into());
                    }
                }
                None => {}
            }
        }
        visitor::walk_expr(self, expr);
    }

    fn is_module_or_builtins(&self, e: &Expr) -> bool {
        match e {
            Expr::Name(n) => {
                self.aliases.contains_key(n.id.as_str())
                    || matches!(n.id.as_str(), "__builtins__" | "builtins" | "__builtin__")
            }
            Expr::Attribute(_) => {
                let mut cur = e;
                while let Expr::Attribute(a) = cur {
                    cur = &a.value;
                }
                matches!(cur, Expr::Name(n) if self.aliases.contains_key(n.id.as_str()))
            }
            Expr::Call(c) => {
                matches!(&*c.func, Expr::Name(n) if matches!(n.id.as_str(), "globals" | "locals" | "vars"))
            }
            _ => false,
        }
    }

    /// A string in an annotation: `typing.get_type_hints`, `singledispatch.register`,
    /// dataclass tooling … evaluate it, so its text is analyzed as code.
    fn check_annotation_string(&mut self, s: &ast::ExprStringLiteral) {
        let at = s.range.start();
        if self.annotation_nesting >= MAX_ANNOTATION_NESTING {
            self.push(
                at,
                "string-annotation",
                "string annotations nest inside string annotations too deeply; write the annotation as a type"
                    .into(),
            );
            return;
        }
        let text = s.value.to_str();
        if let Some(trip) = nesting_trip(text) {
            self.push(
                at,
                "nesting-too-deep",
                format!("in a string annotation: {}", trip.message()),
            );
            return;
        }
        match ruff_python_parser::parse_expression(text.trim_start_matches([' ', '\t'])) {
            Err(e) => self.push(
                at,
                "string-annotation",
                format!(
                    "this string annotation is not a Python expression ({}); annotations are evaluated as code by typing tools: write the annotation as a type, or use a comment",
                    e.error
                ),
            ),
            Ok(parsed) => {
                let saved = self.pos_override;
                self.pos_override = Some(saved.unwrap_or(at));
                self.annotation_nesting += 1;
                let was = std::mem::replace(&mut self.in_annotation, true);
                self.visit_expr(parsed.expr());
                self.in_annotation = was;
                self.annotation_nesting -= 1;
                self.pos_override = saved;
            }
        }
    }

    /// `Literal["a b"]` and the metadata of `Annotated[T, "…"]` are not evaluated.
    fn check_annotation_subscript(&mut self, sub: &ast::ExprSubscript) -> bool {
        let name = match &*sub.value {
            Expr::Name(n) => n.id.as_str(),
            Expr::Attribute(a) => a.attr.id.as_str(),
            _ => return false,
        };
        match name {
            "Literal" => {
                self.visit_expr(&sub.value);
                let was = std::mem::replace(&mut self.in_annotation, false);
                self.visit_expr(&sub.slice);
                self.in_annotation = was;
                true
            }
            "Annotated" => {
                self.visit_expr(&sub.value);
                if let Expr::Tuple(t) = &*sub.slice {
                    for (i, e) in t.elts.iter().enumerate() {
                        let was = self.in_annotation;
                        self.in_annotation = was && i == 0;
                        self.visit_expr(e);
                        self.in_annotation = was;
                    }
                } else {
                    self.visit_expr(&sub.slice);
                }
                true
            }
            _ => false,
        }
    }
}

impl<'a> Visitor<'a> for Analyzer {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        self.depth += 1;
        if self.depth > MAX_AST_DEPTH {
            if !std::mem::replace(&mut self.too_deep, true) {
                self.push(
                    stmt.range().start(),
                    "nesting-too-deep",
                    Trip::Expression.message(),
                );
            }
            self.depth -= 1;
            return;
        }
        match stmt {
            Stmt::Import(i) => {
                for a in &i.names {
                    self.check_import_path(a.range.start(), a.name.id.as_str(), true);
                    if let Some(as_) = &a.asname {
                        self.check_binding_name(as_.range.start(), as_.id.as_str());
                    }
                }
            }
            Stmt::ImportFrom(i) => {
                if i.level > 0 {
                    self.push(i.range.start(), "import-relative", "relative imports cannot work: only model.py is shipped; put the code in model.py".into());
                } else if let Some(m) = &i.module {
                    let before = self.raw.len();
                    self.check_import_path(m.range.start(), m.id.as_str(), true);
                    let module_ok = self.raw.len() == before;
                    for a in &i.names {
                        let name = a.name.id.as_str();
                        if name == "*" {
                            self.push(a.range.start(), "star-import", format!(
                                "`from {} import *` makes every name of the module look local (e.g. `load`), hiding what is used; import the names you need", m.id));
                            continue;
                        }
                        if module_ok {
                            self.check_import_path(
                                a.range.start(),
                                &format!("{}.{name}", m.id),
                                false,
                            );
                        }
                        let local = a.asname.as_ref().unwrap_or(&a.name);
                        self.check_binding_name(local.range.start(), local.id.as_str());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
        self.depth -= 1;
    }

    fn visit_annotation(&mut self, expr: &'a Expr) {
        let was = std::mem::replace(&mut self.in_annotation, true);
        self.visit_expr(expr);
        self.in_annotation = was;
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        self.depth += 1;
        if self.depth > MAX_AST_DEPTH {
            if !std::mem::replace(&mut self.too_deep, true) {
                self.push(
                    expr.range().start(),
                    "nesting-too-deep",
                    Trip::Expression.message(),
                );
            }
            self.depth -= 1;
            return;
        }
        match expr {
            Expr::Name(n) => self.check_name(n),
            Expr::Attribute(_) => {
                self.check_chain(expr);
                self.depth -= 1;
                return;
            }
            Expr::Call(c) => {
                self.check_call(expr, c);
                self.depth -= 1;
                return;
            }
            Expr::StringLiteral(s) => {
                if format_field_escape(s.value.to_str()) {
                    self.push(s.range.start(), "format-string-attribute", "this string's format fields reach private or interpreter attributes (`{0.__init__.__globals__}`-style) when formatted; remove them".into());
                }
                if self.in_annotation {
                    self.check_annotation_string(s);
                }
            }
            Expr::Subscript(sub) if self.in_annotation && self.check_annotation_subscript(sub) => {
                self.depth -= 1;
                return;
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
        self.depth -= 1;
    }
}

#[cfg(test)]
#[path = "analyzer_tests.rs"]
mod tests;

//! Static analysis of `model.py` with Astral's Python parser (`ruff_python_parser`).
//!
//! The whole AST is walked (imports inside functions, `try`, `if`, classes are all seen).
//! Import aliases are resolved (`import torch as t; t.load(...)` is `torch.load`). Every finding
//! carries a 1-based line:column. This is a first line of defence; the sandbox contains a
//! hostile model, not this check.

use crate::Finding;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_source_file::LineIndex;
use ruff_text_size::{Ranged, TextSize};
use std::collections::HashMap;

/// Top-level modules (and their submodules) a model may import.
pub const ALLOWED_MODULES: &[&str] = &[
    "torch",
    "torchvision",
    "torchaudio",
    "transformers",
    "safetensors",
    "einops",
    "timm",
    "flash_attn",
    "PIL",
    "cv2",
    "skimage",
    "decord",
    "fvcore",
    "numpy",
    "scipy",
    "math",
    "functools",
    "typing",
    "collections",
    "dataclasses",
    "enum",
    "abc",
    "pathlib",
    "__future__",
];

/// Blocked modules with the reason given in the error. Dotted entries match that prefix.
pub const BLOCKED_MODULES: &[(&str, &str)] = &[
    ("apex", "training-only library"),
    ("deepspeed", "training-only library"),
    ("tensorboard", "logging is not available in the sandbox"),
    ("tensorboardX", "logging is not available in the sandbox"),
    ("wandb", "logging/network is not available in the sandbox"),
    ("mlflow", "logging/network is not available in the sandbox"),
    ("os", "system access (files, processes, environment)"),
    ("sys", "interpreter internals"),
    ("subprocess", "runs processes"),
    ("shutil", "file system access"),
    ("requests", "network access"),
    ("urllib", "network access"),
    ("urllib3", "network access"),
    ("http", "network access"),
    ("socket", "network access"),
    ("pickle", "unpickling runs arbitrary code"),
    ("cPickle", "unpickling runs arbitrary code"),
    ("dill", "unpickling runs arbitrary code"),
    ("joblib", "unpickling runs arbitrary code"),
    ("marshal", "loads code objects"),
    ("numba", "JIT compilation of arbitrary code"),
    ("cython", "compiles native code"),
    ("Cython", "compiles native code"),
    ("ctypes", "calls native code"),
    ("boto3", "cloud/network access"),
    ("google.cloud", "cloud/network access"),
    ("azure", "cloud/network access"),
    ("sqlite3", "database access"),
    ("psycopg2", "database access"),
    ("redis", "database/network access"),
    ("importlib", "dynamic imports bypass this check"),
    (
        "builtins",
        "reaches the builtins (eval, exec, open, __import__)",
    ),
    (
        "__builtin__",
        "reaches the builtins (eval, exec, open, __import__)",
    ),
];

/// Builtins refused wherever they are named (called or passed around).
const DYNAMIC_BUILTINS: &[(&str, &str, &str)] = &[
    ("eval", "dynamic-code", "evaluates code from a string"),
    ("exec", "dynamic-code", "executes code from a string"),
    ("compile", "dynamic-code", "compiles code from a string"),
    (
        "__import__",
        "dynamic-code",
        "imports modules by name at run time",
    ),
    ("breakpoint", "dynamic-code", "starts a debugger"),
    (
        "open",
        "file-access",
        "opens files; the weights path is given to load_model()",
    ),
    (
        "globals",
        "dynamic-code",
        "reaches module globals and builtins",
    ),
    (
        "locals",
        "dynamic-code",
        "reaches local variables and builtins",
    ),
    (
        "vars",
        "dynamic-code",
        "reaches object/module dictionaries and builtins",
    ),
    (
        "__builtins__",
        "dunder-access",
        "reaches the builtins module",
    ),
];

/// Attribute names used for sandbox escapes.
const DUNDER_ATTRS: &[&str] = &[
    "__builtins__",
    "__subclasses__",
    "__globals__",
    "__code__",
    "__closure__",
    "__bases__",
    "__base__",
    "__mro__",
    "__loader__",
    "__spec__",
    "__import__",
    "__reduce__",
    "__reduce_ex__",
    "__getattribute__",
    "__func__",
    "__self__",
    "__dict__",
    "__init_subclass__",
    "__builtin__",
    "f_globals",
    "f_locals",
    "f_builtins",
    "gi_frame",
    "tb_frame",
    "f_back",
];

/// Rules reported as warnings rather than errors.
pub fn is_warning_rule(rule: &str) -> bool {
    matches!(rule, "dynamic-attribute-warning")
}

/// Analyze `source` (the text of `file`), returning every finding.
pub fn analyze(source: &str, file: &str) -> Vec<Finding> {
    let index = LineIndex::from_source_text(source);
    let pos = |offset: TextSize| {
        let lc = index.line_column(offset, source);
        (
            u32::try_from(lc.line.get()).ok(),
            u32::try_from(lc.column.get()).ok(),
        )
    };
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
    let mut a = Analyzer {
        aliases: HashMap::new(),
        raw: Vec::new(),
    };
    // First pass: collect aliases from every import anywhere, so uses before a nested import
    // still resolve; the second pass (the visitor) reports.
    a.collect_aliases(&module.body);
    for stmt in &module.body {
        a.visit_stmt(stmt);
    }
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
    a.raw
        .into_iter()
        .map(|(o, rule, msg)| {
            let (l, c) = pos(o);
            Finding::new(rule, file, l, c, msg)
        })
        .collect()
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

struct Analyzer {
    /// local name → fully qualified dotted name it is bound to by an import.
    aliases: HashMap<String, String>,
    raw: Vec<(TextSize, &'static str, String)>,
}

fn blocked_reason(module: &str) -> Option<(&'static str, &'static str)> {
    BLOCKED_MODULES
        .iter()
        .copied()
        .find(|(b, _)| module == *b || module.starts_with(&format!("{b}.")))
}

fn is_allowed(module: &str) -> bool {
    let top = module.split('.').next().unwrap_or("");
    ALLOWED_MODULES.contains(&top)
}

/// `torch.load` / `torch.hub…` style dangerous dotted names.
fn dangerous_name(q: &str) -> Option<(&'static str, &'static str)> {
    if q == "torch.load" || q == "torch.serialization.load" {
        Some((
            "torch-load",
            "torch.load unpickles and can run arbitrary code: load weights with safetensors.torch.load_file(weights_path)",
        ))
    } else if q == "torch.hub" || q.starts_with("torch.hub.") {
        Some((
            "torch-hub",
            "torch.hub downloads code and weights from the network, which the sandbox has not: ship the weights in the package",
        ))
    } else if q == "numpy.load" || q == "numpy.lib.format.read_array" {
        Some((
            "numpy-load",
            "numpy.load can unpickle objects: ship weights as safetensors",
        ))
    } else if q.starts_with("importlib") {
        Some((
            "dynamic-code",
            "importlib imports modules at run time, bypassing the import check",
        ))
    } else {
        None
    }
}

impl Analyzer {
    fn collect_aliases(&mut self, body: &[Stmt]) {
        struct C<'a>(&'a mut HashMap<String, String>);
        impl<'b> Visitor<'b> for C<'_> {
            fn visit_stmt(&mut self, stmt: &'b Stmt) {
                match stmt {
                    Stmt::Import(i) => {
                        for a in &i.names {
                            let full = a.name.id.to_string();
                            match &a.asname {
                                Some(as_) => {
                                    self.0.insert(as_.id.to_string(), full);
                                }
                                None => {
                                    let top = full.split('.').next().unwrap_or("").to_string();
                                    self.0.insert(top.clone(), top);
                                }
                            }
                        }
                    }
                    Stmt::ImportFrom(i) if i.level == 0 => {
                        if let Some(m) = &i.module {
                            for a in &i.names {
                                let local = a.asname.as_ref().unwrap_or(&a.name).id.to_string();
                                self.0.insert(local, format!("{}.{}", m.id, a.name.id));
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
        self.raw.push((at, rule, msg));
    }

    fn check_module(&mut self, at: TextSize, module: &str) {
        if let Some((b, reason)) = blocked_reason(module) {
            self.push(
                at,
                "import-blocked",
                format!("import of `{module}` is blocked ({b}: {reason}); remove it"),
            );
        } else if !is_allowed(module) {
            self.push(at, "import-not-allowed", format!(
                "`{module}` is not on the allow list (torch, torchvision, torchaudio, transformers, safetensors, einops, timm, flash_attn, PIL, cv2, skimage, decord, fvcore, numpy, scipy, math, functools, typing, collections, dataclasses, enum, abc, pathlib); remove the import or inline the code"));
        } else if let Some((rule, msg)) = dangerous_name(module) {
            self.push(at, rule, format!("import of `{module}`: {msg}"));
        }
    }

    /// Dotted name of an expression through import aliases (`t.nn.X` → `torch.nn.X`).
    fn qualified(&self, e: &Expr) -> Option<String> {
        match e {
            Expr::Name(n) => self.aliases.get(n.id.as_str()).cloned(),
            Expr::Attribute(a) => self
                .qualified(&a.value)
                .map(|v| format!("{v}.{}", a.attr.id)),
            _ => None,
        }
    }

    fn is_module_or_builtins(&self, e: &Expr) -> bool {
        match e {
            Expr::Name(n) => {
                self.aliases.contains_key(n.id.as_str())
                    || matches!(n.id.as_str(), "__builtins__" | "builtins" | "__builtin__")
            }
            Expr::Attribute(_) => self.qualified(e).is_some(),
            Expr::Call(c) => {
                matches!(&*c.func, Expr::Name(n) if matches!(n.id.as_str(), "globals" | "locals" | "vars"))
            }
            _ => false,
        }
    }
}

impl<'a> Visitor<'a> for Analyzer {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for a in &i.names {
                    self.check_module(a.range.start(), a.name.id.as_str());
                }
            }
            Stmt::ImportFrom(i) => {
                if i.level > 0 {
                    self.push(i.range.start(), "import-relative", "relative imports cannot work: only model.py is shipped; put the code in model.py".into());
                } else if let Some(m) = &i.module {
                    let before = self.raw.len();
                    self.check_module(m.range.start(), m.id.as_str());
                    if self.raw.len() == before {
                        for a in &i.names {
                            let full = format!("{}.{}", m.id, a.name.id);
                            if let Some((rule, msg)) = dangerous_name(&full) {
                                self.push(
                                    a.range.start(),
                                    rule,
                                    format!("import of `{full}`: {msg}"),
                                );
                            } else if let Some((b, reason)) = blocked_reason(&full) {
                                self.push(
                                    a.range.start(),
                                    "import-blocked",
                                    format!(
                                        "import of `{full}` is blocked ({b}: {reason}); remove it"
                                    ),
                                );
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(n) => {
                let id = n.id.as_str();
                if let Some((_, rule, why)) = DYNAMIC_BUILTINS.iter().find(|(b, _, _)| *b == id) {
                    if !self.aliases.contains_key(id) {
                        self.push(
                            n.range.start(),
                            rule,
                            format!("`{id}` {why}; this is refused in model.py, remove it"),
                        );
                    }
                } else if let Some(q) = self.aliases.get(id).cloned()
                    && q != id
                    && let Some((rule, msg)) = dangerous_name(&q)
                {
                    self.push(n.range.start(), rule, format!("`{id}` is `{q}`: {msg}"));
                }
            }
            Expr::Attribute(at) => {
                let attr = at.attr.id.as_str();
                if DUNDER_ATTRS.contains(&attr) {
                    self.push(
                        at.attr.range.start(),
                        "dunder-access",
                        format!("access to `.{attr}` is a known sandbox-escape route; remove it"),
                    );
                }
                if let Some(q) = self.qualified(expr)
                    && let Some((rule, msg)) = dangerous_name(&q)
                {
                    self.push(at.range.start(), rule, format!("`{q}`: {msg}"));
                    return; // don't report the inner parts of the same chain again
                }
            }
            Expr::Call(c) => {
                if let Expr::Name(f) = &*c.func {
                    let fname = f.id.as_str();
                    if matches!(fname, "getattr" | "setattr" | "delattr" | "hasattr")
                        && !self.aliases.contains_key(fname)
                    {
                        let obj = c.arguments.args.first();
                        match c.arguments.args.get(1) {
                            Some(Expr::StringLiteral(s)) => {
                                let lit = s.value.to_str();
                                if DUNDER_ATTRS.contains(&lit)
                                    || (lit.starts_with("__")
                                        && lit.ends_with("__")
                                        && lit != "__name__"
                                        && lit != "__class__"
                                        && lit != "__doc__")
                                {
                                    self.push(s.range.start(), "dunder-access", format!("{fname}(…, {lit:?}) reaches a dunder attribute (sandbox-escape route); remove it"));
                                }
                            }
                            Some(name_arg) => {
                                if obj.is_some_and(|o| self.is_module_or_builtins(o)) {
                                    self.push(name_arg.range().start(), "dynamic-attribute", format!("{fname}() with a computed name on a module or the builtins can reach anything (eval, os, …); use the attribute directly"));
                                } else {
                                    self.push(name_arg.range().start(), "dynamic-attribute-warning", format!("{fname}() with a computed attribute name; fine on your own objects, but make sure it never reaches modules or builtins"));
                                }
                            }
                            None => {}
                        }
                    }
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOAD: &str = "\ndef load_model(weights_path, num_classes=2):\n    pass\n";

    fn rules(src: &str) -> Vec<(String, u32, u32)> {
        analyze(&format!("{src}{LOAD}"), "model.py")
            .into_iter()
            .map(|f| (f.rule, f.line.unwrap(), f.column.unwrap()))
            .collect()
    }
    fn has(src: &str, rule: &str) -> bool {
        rules(src).iter().any(|(r, _, _)| r == rule)
    }

    #[test]
    fn clean_model_passes() {
        let src = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\nfrom safetensors.torch import load_file\nimport numpy as np\nfrom typing import Optional\nclass M(nn.Module):\n    def forward(self, x):\n        return F.relu(x)\n";
        assert_eq!(rules(src), vec![]);
    }

    #[test]
    fn example_models_are_clean() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
        for m in ["image-detector", "video-detector", "audio-detector"] {
            let p = format!("{root}/{m}/model.py");
            if let Ok(src) = std::fs::read_to_string(&p) {
                let f = analyze(&src, "model.py");
                assert!(f.is_empty(), "{p}: {f:?}");
            }
        }
    }

    #[test]
    fn os_variants_are_blocked_with_position() {
        assert_eq!(
            rules("import os.path\n")[0],
            ("import-blocked".into(), 1, 8)
        );
        assert!(has("from os import path\n", "import-blocked"));
        let r = rules("import torch, os\n");
        assert_eq!(r, vec![("import-blocked".into(), 1, 15)]);
        assert!(has(
            "import subprocess as sp\nsp.run(['ls'])\n",
            "import-blocked"
        ));
        assert!(has("from google.cloud import storage\n", "import-blocked"));
    }

    #[test]
    fn imports_inside_functions_and_try_are_seen() {
        let r = rules("def f():\n    import socket\n");
        assert_eq!(r, vec![("import-blocked".into(), 2, 12)]);
        let r = rules("try:\n    import requests\nexcept ImportError:\n    pass\n");
        assert_eq!(r[0].1, 2);
        assert!(has(
            "if True:\n    from pickle import loads\n",
            "import-blocked"
        ));
    }

    #[test]
    fn unknown_import_not_allowed() {
        assert!(has("import yaml\n", "import-not-allowed"));
        assert!(has("from . import helper\n", "import-relative"));
        assert!(!has(
            "import torchvision.models as tvm\n",
            "import-not-allowed"
        ));
    }

    #[test]
    fn dynamic_code() {
        assert!(has("__import__('o' + 's')\n", "dynamic-code"));
        assert!(has("eval('1')\n", "dynamic-code"));
        assert!(has("f = exec\n", "dynamic-code"));
        assert!(has("compile('x', 'y', 'exec')\n", "dynamic-code"));
        let r = rules("import importlib\nm = importlib.import_module('os')\n");
        assert!(
            r.iter()
                .any(|(rule, l, _)| rule == "import-blocked" && *l == 1),
            "{r:?}"
        );
        assert!(
            r.iter()
                .any(|(rule, l, _)| rule == "dynamic-code" && *l == 2),
            "{r:?}"
        );
        assert!(has("open('/etc/passwd')\n", "file-access"));
        assert!(has("g = globals()\n", "dynamic-code"));
    }

    #[test]
    fn builtins_and_dunders() {
        let r = rules("name = 'ev' + 'al'\nf = getattr(__builtins__, name)\n");
        assert!(
            r.iter().any(|(rule, _, _)| rule == "dunder-access"),
            "{r:?}"
        );
        assert!(
            r.iter()
                .any(|(rule, l, c)| rule == "dynamic-attribute" && *l == 2 && *c == 27),
            "{r:?}"
        );
        assert!(has(
            "x = ().__class__.__bases__[0].__subclasses__()\n",
            "dunder-access"
        ));
        assert!(has("def f():\n    pass\nf.__globals__\n", "dunder-access"));
        assert!(has("getattr(int, '__subclasses__')\n", "dunder-access"));
        // computed names on own objects: warning only
        let f = analyze(
            &format!("class A:\n    def g(self, n):\n        return getattr(self, n)\n{LOAD}"),
            "model.py",
        );
        assert_eq!(f.len(), 1);
        assert!(is_warning_rule(&f[0].rule));
        // computed name on a module: error
        assert!(has(
            "import torch\ngetattr(torch, 'lo' + 'ad')\n",
            "dynamic-attribute"
        ));
    }

    #[test]
    fn torch_load_and_hub_through_aliases() {
        assert!(has("import torch\ntorch.load('x')\n", "torch-load"));
        let r = rules("import torch as t\nsd = t.load('w.pt')\n");
        assert_eq!(r, vec![("torch-load".into(), 2, 6)]);
        assert!(has("from torch import load as L\nL('x')\n", "torch-load"));
        let r = rules("import torch\nm = torch.hub.load('a', 'b')\n");
        assert_eq!(
            r.iter().filter(|(rule, _, _)| rule == "torch-hub").count(),
            1,
            "{r:?}"
        );
        assert!(has("from torch import hub\n", "torch-hub"));
    }

    #[test]
    fn load_model_signature() {
        let f = analyze("import torch\n", "model.py");
        assert_eq!(f[0].rule, "load-model-missing");
        let f = analyze("def load_model(path):\n    pass\n", "model.py");
        assert_eq!(f[0].rule, "load-model-signature");
        assert_eq!((f[0].line, f[0].column), (Some(1), Some(5)));
        assert!(
            analyze(
                "def load_model(weights_path, **kw):\n    pass\n",
                "model.py"
            )
            .is_empty()
        );
        // nested definition is not module-level
        let f = analyze(
            "class X:\n    def load_model(self, weights_path, num_classes=2):\n        pass\n",
            "model.py",
        );
        assert_eq!(f[0].rule, "load-model-missing");
    }

    #[test]
    fn syntax_errors_have_position() {
        let f = analyze("def f(:\n  pass\n", "model.py");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "python-syntax");
        assert_eq!(f[0].line, Some(1));
        assert!(f[0].column.is_some());
        // PEP 701 f-string nesting parses
        assert!(analyze(&format!("x = f\"{{'a' + f'{{1}}'}}\"\n{LOAD}"), "model.py").is_empty());
    }

    #[test]
    fn every_finding_reported_not_only_first() {
        let r = rules("import os\nimport sys\neval('x')\n");
        assert_eq!(r.len(), 3, "{r:?}");
    }
}

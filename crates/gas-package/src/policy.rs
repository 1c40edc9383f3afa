//! What `model.py` may reach: the module allow/block lists, the vetted attribute API of the
//! allowed modules, and names refused wherever they appear. Data only; [`crate::analyzer`]
//! applies it.
//!
//! Provenance. The network publishes the imports its evaluator permits in the GASBench model
//! specification (`docs/Safetensors.md`, section "Allowed Imports"): allowed `torch` (with
//! `torch.nn`, `torch.nn.functional`, `torch.cuda.amp`), `torchvision` (`.models`,
//! `.transforms`), `torchaudio`, `transformers`, `timm`, `einops`, `safetensors`
//! (`.torch`), `flash_attn`, `PIL` (`PIL.Image`), `cv2`, `skimage`, `decord`, `numpy`, `scipy`
//! (`.ndimage`, `.signal`), `fvcore`, `ultralytics`, and from the standard library `math`,
//! `functools`, `typing`, `collections`, `dataclasses`, `enum`, `abc`, `pathlib`; blocked
//! groups (system, network, serialization, code execution, JIT, low-level, multiprocessing,
//! training-only, logging, cloud, databases, other), blocked calls (`eval`, `exec`, `compile`,
//! `__import__`, `getattr`, `setattr`, `globals`, `locals`) and blocked submodules
//! (`torch.utils.cpp_extension`, `torch.jit.script`, `torch.jit.trace`, `numpy.ctypeslib`).
//! [`NETWORK_ALLOWED_IMPORTS`], [`NETWORK_BLOCKED_IMPORTS`] and [`NETWORK_BLOCKED_CALLS`]
//! restate that list; tests check that every allowed import passes and every blocked one is
//! refused here. Our own list is stricter inside the allowed modules: the attribute table
//! [`API`] closes the routes the network's import-level list leaves open (module-valued
//! attributes, unpickling loaders, code generators).

/// Top-level modules (and their submodules, subject to [`API`]) a model may import.
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
    "ultralytics",
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

/// The network's published allowed imports (see the module doc), as our own data.
pub const NETWORK_ALLOWED_IMPORTS: &[&str] = &[
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.cuda.amp",
    "torchvision",
    "torchvision.models",
    "torchvision.transforms",
    "torchaudio",
    "transformers",
    "timm",
    "einops",
    "safetensors",
    "safetensors.torch",
    "flash_attn",
    "PIL",
    "PIL.Image",
    "cv2",
    "skimage",
    "decord",
    "numpy",
    "scipy",
    "scipy.ndimage",
    "scipy.signal",
    "fvcore",
    "ultralytics",
    "math",
    "functools",
    "typing",
    "collections",
    "dataclasses",
    "enum",
    "abc",
    "pathlib",
];

/// The network's published blocked imports (see the module doc), as our own data.
pub const NETWORK_BLOCKED_IMPORTS: &[&str] = &[
    "os",
    "sys",
    "subprocess",
    "shutil",
    "socket",
    "requests",
    "urllib",
    "http",
    "asyncio",
    "aiohttp",
    "httpx",
    "ftplib",
    "smtplib",
    "telnetlib",
    "pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "joblib",
    "importlib",
    "builtins",
    "code",
    "runpy",
    "numba",
    "cython",
    "ctypes",
    "cffi",
    "mmap",
    "signal",
    "multiprocessing",
    "concurrent",
    "threading",
    "apex",
    "deepspeed",
    "tensorboard",
    "wandb",
    "mlflow",
    "boto3",
    "google.cloud",
    "azure",
    "sqlite3",
    "psycopg2",
    "pymongo",
    "redis",
    "tempfile",
    "glob",
    "h5py",
    "pty",
    "tty",
    "termios",
    "torch.utils.cpp_extension",
    "torch.jit.script",
    "torch.jit.trace",
    "numpy.ctypeslib",
];

/// The network's published blocked calls.
pub const NETWORK_BLOCKED_CALLS: &[&str] = &[
    "eval",
    "exec",
    "compile",
    "__import__",
    "getattr",
    "setattr",
    "globals",
    "locals",
];

const SYSTEM: &str = "system access (files, processes, environment)";
const NETWORK: &str = "network access; the sandbox has no network";
const UNPICKLE: &str = "unpickling runs arbitrary code";
const CODE: &str = "runs or loads code at run time, bypassing this check";
const NATIVE: &str = "calls native code";
const PROCESSES: &str = "starts processes or threads";
const TRAINING: &str = "training-only library";
const LOGGING: &str = "logging/monitoring needs files or network the sandbox has not";
const CLOUD: &str = "cloud/network access";
const DATABASE: &str = "database access";
const FILES: &str = "file system access; the weights path is given to load_model()";

/// Blocked modules with the reason given in the error. Dotted entries match that prefix.
pub const BLOCKED_MODULES: &[(&str, &str)] = &[
    ("apex", TRAINING),
    ("deepspeed", TRAINING),
    ("tensorboard", LOGGING),
    ("tensorboardX", LOGGING),
    ("wandb", LOGGING),
    ("mlflow", LOGGING),
    ("os", SYSTEM),
    ("posix", SYSTEM),
    ("nt", SYSTEM),
    (
        "sys",
        "interpreter internals (sys.modules reaches every module)",
    ),
    ("subprocess", PROCESSES),
    ("_posixsubprocess", PROCESSES),
    ("pty", "pseudo-terminals"),
    ("tty", "terminal control"),
    ("termios", "terminal control"),
    ("fcntl", "file descriptor control (ioctl)"),
    ("shutil", FILES),
    ("tempfile", FILES),
    ("glob", FILES),
    ("io", FILES),
    ("fileinput", FILES),
    ("linecache", FILES),
    ("zipfile", FILES),
    ("tarfile", FILES),
    ("h5py", FILES),
    ("requests", NETWORK),
    ("urllib", NETWORK),
    ("urllib3", NETWORK),
    ("http", NETWORK),
    ("socket", NETWORK),
    ("ssl", NETWORK),
    ("asyncio", NETWORK),
    ("aiohttp", NETWORK),
    ("httpx", NETWORK),
    ("ftplib", NETWORK),
    ("smtplib", NETWORK),
    ("telnetlib", NETWORK),
    ("xmlrpc", NETWORK),
    ("socketserver", NETWORK),
    ("webbrowser", PROCESSES),
    ("huggingface_hub", NETWORK),
    ("pickle", UNPICKLE),
    ("_pickle", UNPICKLE),
    ("cPickle", UNPICKLE),
    ("copyreg", UNPICKLE),
    ("shelve", UNPICKLE),
    ("dill", UNPICKLE),
    ("cloudpickle", UNPICKLE),
    ("joblib", UNPICKLE),
    ("marshal", "loads code objects"),
    ("importlib", "dynamic imports bypass this check"),
    ("imp", "dynamic imports bypass this check"),
    ("pkgutil", "dynamic imports bypass this check"),
    ("zipimport", "dynamic imports bypass this check"),
    (
        "builtins",
        "reaches the builtins (eval, exec, open, __import__)",
    ),
    (
        "__builtin__",
        "reaches the builtins (eval, exec, open, __import__)",
    ),
    ("code", CODE),
    ("codeop", CODE),
    ("runpy", CODE),
    ("pydoc", CODE),
    (
        "inspect",
        "reaches frames, globals and the source of other modules",
    ),
    ("gc", "reaches every live object"),
    ("types", "builds functions and code objects"),
    ("codecs", "source codecs"),
    ("numba", "JIT compilation of arbitrary code"),
    ("cython", "compiles native code"),
    ("Cython", "compiles native code"),
    ("ctypes", NATIVE),
    ("_ctypes", NATIVE),
    ("cffi", NATIVE),
    ("mmap", "maps files and memory"),
    ("signal", "signal handlers"),
    ("multiprocessing", PROCESSES),
    ("concurrent", PROCESSES),
    ("threading", PROCESSES),
    ("_thread", PROCESSES),
    ("boto3", CLOUD),
    ("google.cloud", CLOUD),
    ("azure", CLOUD),
    ("sqlite3", DATABASE),
    ("psycopg2", DATABASE),
    ("pymongo", DATABASE),
    ("redis", DATABASE),
];

/// How an attribute path below an allowed module is treated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Policy {
    /// A module whose public names are allowed (each name still passes the per-name checks
    /// in the analyzer); anything below an allowed name is allowed the same way.
    Open,
    /// A module of which only these names are allowed; below an allowed name, `Open`.
    Only(&'static [&'static str]),
    /// Refused, with the rule id and the reason + fix (applies to everything below).
    Deny(&'static str, &'static str),
}

use Policy::{Deny, Only, Open};

const LOAD_FIX: &str =
    "load weights with safetensors.torch.load_file(weights_path) and model.load_state_dict()";

/// The vetted attribute API of the allowed modules: the most specific entry for a dotted
/// path decides. Every allowed top-level module has an entry. Entries with `Open`/`Only`
/// are modules (an allowed module may not be bound to a name or passed around as a value).
pub(crate) const API: &[(&str, Policy)] = &[
    // ---- torch
    ("torch", Open),
    (
        "torch.load",
        Deny(
            "torch-load",
            "torch.load unpickles and can run arbitrary code: load weights with safetensors.torch.load_file(weights_path)",
        ),
    ),
    (
        "torch.serialization",
        Deny(
            "torch-load",
            "torch.serialization unpickles (torch.load) and reaches pickle: load weights with safetensors.torch.load_file(weights_path)",
        ),
    ),
    (
        "torch.package",
        Deny(
            "torch-load",
            "torch.package imports pickled code: ship the model code in model.py and the weights as safetensors",
        ),
    ),
    (
        "torch.save",
        Deny(
            "file-access",
            "torch.save writes pickle files; the sandbox gives the model no place to keep them: remove it",
        ),
    ),
    (
        "torch.from_file",
        Deny(
            "file-access",
            "torch.from_file reads arbitrary files: the weights path is given to load_model()",
        ),
    ),
    (
        "torch.hub",
        Deny(
            "torch-hub",
            "torch.hub downloads code and weights from the network, which the sandbox has not: ship the weights in the package",
        ),
    ),
    (
        "torch.jit",
        Only(&[
            "is_scripting",
            "is_tracing",
            "unused",
            "ignore",
            "Final",
            "annotate",
            "Attribute",
        ]),
    ),
    (
        "torch.jit.load",
        Deny(
            "torch-load",
            "torch.jit.load unpickles: load weights with safetensors.torch.load_file(weights_path)",
        ),
    ),
    (
        "torch.jit.script",
        Deny(
            "api-denied",
            "TorchScript compilation is blocked by the network: use the eager module",
        ),
    ),
    (
        "torch.jit.trace",
        Deny(
            "api-denied",
            "TorchScript tracing is blocked by the network: use the eager module",
        ),
    ),
    ("torch.fx", Only(&["wrap"])),
    (
        "torch.multiprocessing",
        Deny(
            "api-denied",
            "starts processes: run the model in one process",
        ),
    ),
    (
        "torch.distributed",
        Deny(
            "api-denied",
            "distributed training/inference needs processes and network the sandbox has not: remove it",
        ),
    ),
    (
        "torch.ops",
        Deny(
            "api-denied",
            "torch.ops reaches custom operators and torch.ops.load_library loads native code: use torch / torch.nn functions",
        ),
    ),
    (
        "torch.classes",
        Deny(
            "api-denied",
            "torch.classes loads native code (load_library): use torch / torch.nn functions",
        ),
    ),
    (
        "torch.library",
        Deny(
            "api-denied",
            "torch.library defines and loads custom operators: use torch / torch.nn functions",
        ),
    ),
    ("torch.utils", Only(&["checkpoint", "hooks", "dlpack"])),
    (
        "torch.utils.cpp_extension",
        Deny(
            "api-denied",
            "compiles and loads native code (blocked by the network): use torch / torch.nn functions",
        ),
    ),
    (
        "torch.utils.model_zoo",
        Deny(
            "torch-hub",
            "downloads and unpickles weights: ship the weights in the package",
        ),
    ),
    (
        "torch.onnx",
        Deny("api-denied", "exports files: not needed to run a model"),
    ),
    (
        "torch.export",
        Deny(
            "api-denied",
            "serializes programs: not needed to run a model",
        ),
    ),
    (
        "torch.testing",
        Deny("api-denied", "test helpers: not needed to run a model"),
    ),
    ("torch.nn", Open),
    ("torch.nn.functional", Open),
    ("torch.nn.init", Open),
    ("torch.nn.utils", Open),
    ("torch.nn.modules", Open),
    ("torch.nn.parameter", Open),
    ("torch.nn.attention", Open),
    ("torch.cuda", Open),
    ("torch.cuda.amp", Open),
    ("torch.amp", Open),
    ("torch.backends", Open),
    ("torch.backends.cudnn", Open),
    ("torch.backends.cuda", Open),
    ("torch.fft", Open),
    ("torch.linalg", Open),
    ("torch.special", Open),
    ("torch.autograd", Open),
    ("torch.distributions", Open),
    ("torch.optim", Open),
    ("torch.func", Open),
    ("torch.sparse", Open),
    ("torch.random", Open),
    ("torch.utils.checkpoint", Open),
    // ---- torchvision
    ("torchvision", Open),
    ("torchvision.models", Open),
    ("torchvision.transforms", Open),
    ("torchvision.transforms.functional", Open),
    ("torchvision.transforms.v2", Open),
    ("torchvision.ops", Open),
    (
        "torchvision.io",
        Deny(
            "file-access",
            "reads and writes media files: the worker passes decoded tensors to forward()",
        ),
    ),
    (
        "torchvision.datasets",
        Deny(
            "api-denied",
            "downloads data sets: the benchmark passes the samples to forward()",
        ),
    ),
    (
        "torchvision.utils",
        Only(&["make_grid", "draw_bounding_boxes"]),
    ),
    // ---- torchaudio
    (
        "torchaudio",
        Only(&["transforms", "functional", "compliance", "models"]),
    ),
    // ---- transformers
    ("transformers", Open),
    (
        "transformers.dynamic_module_utils",
        Deny(
            "remote-code",
            "imports Python files at run time (trust_remote_code): put the code in model.py",
        ),
    ),
    (
        "transformers.pipeline",
        Deny(
            "api-denied",
            "pipelines download models and processors: build the model from config.json in load_model()",
        ),
    ),
    (
        "transformers.pipelines",
        Deny(
            "api-denied",
            "pipelines download models and processors: build the model from config.json in load_model()",
        ),
    ),
    (
        "transformers.HfArgumentParser",
        Deny(
            "string-annotation",
            "evaluates the annotations of dataclasses (typing.get_type_hints): remove it",
        ),
    ),
    (
        "transformers.hf_argparser",
        Deny(
            "string-annotation",
            "evaluates the annotations of dataclasses (typing.get_type_hints): remove it",
        ),
    ),
    (
        "transformers.testing_utils",
        Deny("api-denied", "test helpers start processes: remove it"),
    ),
    (
        "transformers.commands",
        Deny("api-denied", "command-line tools: remove it"),
    ),
    (
        "transformers.integrations",
        Deny("api-denied", "logging/cloud integrations: remove it"),
    ),
    ("transformers.utils", Only(&["logging", "ModelOutput"])),
    (
        "transformers.modeling_utils",
        Only(&["PreTrainedModel", "ModuleUtilsMixin"]),
    ),
    ("transformers.models", Open),
    ("transformers.modeling_outputs", Open),
    // ---- safetensors
    (
        "safetensors",
        Only(&["torch", "numpy", "safe_open", "SafetensorError"]),
    ),
    (
        "safetensors.torch",
        Only(&["load_file", "load", "safe_open"]),
    ),
    ("safetensors.numpy", Only(&["load_file", "load"])),
    // ---- einops, flash_attn
    ("einops", Open),
    ("einops.layers", Open),
    ("einops.layers.torch", Open),
    ("flash_attn", Open),
    // ---- timm
    ("timm", Open),
    ("timm.models", Open),
    ("timm.layers", Open),
    ("timm.data", Open),
    ("timm.models.load_checkpoint", Deny("torch-load", LOAD_FIX)),
    ("timm.models.load_state_dict", Deny("torch-load", LOAD_FIX)),
    (
        "timm.models.resume_checkpoint",
        Deny("torch-load", LOAD_FIX),
    ),
    ("timm.models.load_pretrained", Deny("torch-hub", LOAD_FIX)),
    (
        "timm.utils",
        Deny("api-denied", "training utilities: remove it"),
    ),
    // ---- media
    (
        "PIL",
        Only(&[
            "Image",
            "ImageOps",
            "ImageFilter",
            "ImageEnhance",
            "ImageDraw",
            "ImageChops",
            "ImageColor",
            "ImageStat",
            "ImageFile",
            "ImageSequence",
            "ImageFont",
            "ImageTransform",
            "ImagePalette",
            "ImageMode",
            "ImageCms",
            "features",
            "UnidentifiedImageError",
        ]),
    ),
    ("PIL.Image", Open),
    ("PIL.ImageOps", Open),
    ("PIL.ImageFilter", Open),
    ("PIL.ImageEnhance", Open),
    (
        "PIL.ImageMath",
        Deny(
            "dynamic-code",
            "ImageMath evaluates expression strings: use numpy or torch",
        ),
    ),
    ("cv2", Open),
    ("skimage", Open),
    ("decord", Open),
    ("fvcore", Only(&["nn", "transforms"])),
    ("ultralytics", Only(&["nn"])),
    ("ultralytics.nn", Only(&["modules"])),
    ("ultralytics.nn.modules", Open),
    // ---- numpy
    ("numpy", Open),
    (
        "numpy.load",
        Deny(
            "numpy-load",
            "numpy.load can unpickle objects: ship weights as safetensors",
        ),
    ),
    (
        "numpy.lib",
        Only(&["stride_tricks", "scimath", "mixins", "NumpyVersion"]),
    ),
    (
        "numpy.lib.format",
        Deny(
            "numpy-load",
            "reads .npy files, with pickles: ship weights as safetensors",
        ),
    ),
    (
        "numpy.lib.npyio",
        Deny(
            "numpy-load",
            "numpy.load can unpickle objects: ship weights as safetensors",
        ),
    ),
    ("numpy.lib.stride_tricks", Open),
    (
        "numpy.ctypeslib",
        Deny("api-denied", "reaches ctypes (native code): remove it"),
    ),
    (
        "numpy.f2py",
        Deny("api-denied", "compiles native code: remove it"),
    ),
    (
        "numpy.distutils",
        Deny("api-denied", "compiles native code: remove it"),
    ),
    (
        "numpy.testing",
        Deny("api-denied", "test helpers start processes: remove it"),
    ),
    (
        "numpy.core",
        Deny(
            "private-attribute",
            "numpy internals: use the public numpy API",
        ),
    ),
    (
        "numpy.DataSource",
        Deny("api-denied", "opens files and URLs: remove it"),
    ),
    (
        "numpy.fromfile",
        Deny("file-access", "reads arbitrary files: remove it"),
    ),
    (
        "numpy.loadtxt",
        Deny("file-access", "reads arbitrary files: remove it"),
    ),
    (
        "numpy.genfromtxt",
        Deny("file-access", "reads arbitrary files: remove it"),
    ),
    (
        "numpy.memmap",
        Deny("file-access", "maps arbitrary files: remove it"),
    ),
    ("numpy.save", Deny("file-access", "writes files: remove it")),
    (
        "numpy.savez",
        Deny("file-access", "writes files: remove it"),
    ),
    (
        "numpy.savez_compressed",
        Deny("file-access", "writes files: remove it"),
    ),
    (
        "numpy.savetxt",
        Deny("file-access", "writes files: remove it"),
    ),
    ("numpy.random", Open),
    ("numpy.linalg", Open),
    ("numpy.fft", Open),
    ("numpy.typing", Open),
    ("numpy.polynomial", Open),
    ("numpy.ma", Open),
    // ---- scipy
    ("scipy", Open),
    ("scipy.ndimage", Open),
    ("scipy.signal", Open),
    (
        "scipy.io",
        Deny("file-access", "reads and writes files: remove it"),
    ),
    (
        "scipy.datasets",
        Deny("api-denied", "downloads data sets: remove it"),
    ),
    // ---- standard library: only their documented, non-module public API
    ("math", Open),
    ("__future__", Open),
    (
        "functools",
        Only(&[
            "partial",
            "partialmethod",
            "reduce",
            "lru_cache",
            "cache",
            "cached_property",
            "wraps",
            "update_wrapper",
            "total_ordering",
            "cmp_to_key",
            "singledispatch",
            "singledispatchmethod",
            "WRAPPER_ASSIGNMENTS",
            "WRAPPER_UPDATES",
        ]),
    ),
    (
        "typing",
        Only(&[
            "Any",
            "Optional",
            "Union",
            "List",
            "Dict",
            "Tuple",
            "Set",
            "FrozenSet",
            "Type",
            "Callable",
            "Iterable",
            "Iterator",
            "Sequence",
            "Mapping",
            "MutableMapping",
            "MutableSequence",
            "Generator",
            "Literal",
            "Final",
            "ClassVar",
            "TypeVar",
            "Generic",
            "Protocol",
            "NamedTuple",
            "TypedDict",
            "NoReturn",
            "Never",
            "Self",
            "Annotated",
            "TypeAlias",
            "ParamSpec",
            "Concatenate",
            "TYPE_CHECKING",
            "cast",
            "overload",
            "final",
            "no_type_check",
            "runtime_checkable",
            "Hashable",
            "Sized",
            "SupportsInt",
            "SupportsFloat",
            "SupportsIndex",
            "DefaultDict",
            "OrderedDict",
            "Counter",
            "Deque",
            "NewType",
            "Unpack",
            "TypeVarTuple",
            "Required",
            "NotRequired",
            "AnyStr",
        ]),
    ),
    (
        "typing.get_type_hints",
        Deny(
            "string-annotation",
            "typing.get_type_hints evaluates annotation strings as code: remove it",
        ),
    ),
    (
        "collections",
        Only(&[
            "OrderedDict",
            "defaultdict",
            "namedtuple",
            "deque",
            "Counter",
            "ChainMap",
            "UserDict",
            "UserList",
            "UserString",
            "abc",
        ]),
    ),
    (
        "collections.abc",
        Only(&[
            "Callable",
            "Iterable",
            "Iterator",
            "Sequence",
            "MutableSequence",
            "Mapping",
            "MutableMapping",
            "Set",
            "MutableSet",
            "Hashable",
            "Sized",
            "Container",
            "Collection",
            "Generator",
            "Reversible",
            "KeysView",
            "ValuesView",
            "ItemsView",
        ]),
    ),
    (
        "dataclasses",
        Only(&[
            "dataclass",
            "field",
            "fields",
            "asdict",
            "astuple",
            "replace",
            "is_dataclass",
            "Field",
            "InitVar",
            "MISSING",
            "KW_ONLY",
            "FrozenInstanceError",
        ]),
    ),
    (
        "enum",
        Only(&[
            "Enum", "IntEnum", "StrEnum", "Flag", "IntFlag", "auto", "unique", "EnumMeta",
            "EnumType",
        ]),
    ),
    (
        "abc",
        Only(&[
            "ABC",
            "ABCMeta",
            "abstractmethod",
            "abstractclassmethod",
            "abstractstaticmethod",
            "abstractproperty",
        ]),
    ),
    (
        "pathlib",
        Only(&["Path", "PurePath", "PurePosixPath", "PureWindowsPath"]),
    ),
];

/// Module attributes that may be assigned (flags, not monkey-patching).
pub(crate) const ASSIGNABLE: &[&str] = &[
    "torch.backends.cudnn.benchmark",
    "torch.backends.cudnn.deterministic",
    "torch.backends.cudnn.enabled",
    "torch.backends.cudnn.allow_tf32",
    "torch.backends.cuda.matmul.allow_tf32",
];

/// Names of modules that are refused as an attribute of anything (`torch.os`, `pathlib.os`,
/// `enum.bltns`, `x.torch`): a module reached through another module or object escapes the
/// attribute table. The blocked modules count too (see [`is_module_like_name`]).
const MODULE_LIKE_NAMES: &[&str] = &[
    "bltns",
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
    "ultralytics",
    "numpy",
    "np",
    "nn",
    "scipy",
    "functools",
    "typing",
    "collections",
    "dataclasses",
    "enum",
    "pathlib",
    "platform",
    "sysconfig",
    "site",
    "traceback",
    "weakref",
    "operator",
    "pwd",
    "grp",
    "getpass",
    "resource",
    "ensurepip",
    "pip",
    "setuptools",
    "distutils",
    "pkg_resources",
    "environ",
];

/// Blocked module names that are also ordinary attribute names (`self.code`, `x.signal`,
/// `cfg.types`): refused below an allowed module, not on arbitrary objects. What those
/// modules would give is refused by name instead ([`DANGEROUS_ATTRS`]).
const AMBIGUOUS_MODULE_NAMES: &[&str] = &[
    "code", "signal", "types", "io", "glob", "site", "resource", "operator", "platform", "tty",
    "nt",
];

/// True for a name that is (or aliases) a module an attribute must not reach; `on_module`:
/// the attribute is taken on an allowed module (stricter).
pub(crate) fn is_module_like_name(name: &str, on_module: bool) -> bool {
    if !on_module && AMBIGUOUS_MODULE_NAMES.contains(&name) {
        return false;
    }
    MODULE_LIKE_NAMES.contains(&name) || BLOCKED_MODULES.iter().any(|(m, _)| *m == name)
}

/// Attribute names refused on any object: escape helpers, loaders and process functions
/// that legitimate model code never names.
pub(crate) const DANGEROUS_ATTRS: &[(&str, &str, &str)] = &[
    (
        "load_state_dict_from_url",
        "torch-hub",
        "downloads and unpickles weights: ship the weights in the package",
    ),
    (
        "download_url_to_file",
        "torch-hub",
        "downloads files: ship everything in the package",
    ),
    (
        "load_url",
        "torch-hub",
        "downloads and unpickles weights: ship the weights in the package",
    ),
    (
        "hf_hub_download",
        "torch-hub",
        "downloads files: ship everything in the package",
    ),
    (
        "snapshot_download",
        "torch-hub",
        "downloads files: ship everything in the package",
    ),
    (
        "load_library",
        "api-denied",
        "loads native code: use torch / torch.nn functions",
    ),
    (
        "loads",
        "api-denied",
        "deserializes (pickle/marshal-style loaders run code): ship weights as safetensors",
    ),
    (
        "_exec_with_source",
        "dynamic-code",
        "executes generated source: remove it",
    ),
    (
        "LowLevelCallable",
        "api-denied",
        "calls native function pointers: use numpy / scipy functions",
    ),
    (
        "CodeType",
        "dynamic-code",
        "builds code objects from bytes: remove it",
    ),
    (
        "FunctionType",
        "dynamic-code",
        "builds functions from code objects and globals: remove it",
    ),
    (
        "InteractiveInterpreter",
        "dynamic-code",
        "executes code from strings: remove it",
    ),
    (
        "InteractiveConsole",
        "dynamic-code",
        "executes code from strings: remove it",
    ),
    (
        "interact",
        "dynamic-code",
        "executes code from strings: remove it",
    ),
    ("FileIO", "file-access", "opens files: remove it"),
    (
        "from_file",
        "file-access",
        "reads arbitrary files (torch.UntypedStorage.from_file …): the weights path is given to load_model()",
    ),
    (
        "fromfile",
        "file-access",
        "reads arbitrary files: remove it",
    ),
    ("tofile", "file-access", "writes files: remove it"),
    (
        "open_memmap",
        "file-access",
        "maps arbitrary files: remove it",
    ),
    ("open_code", "file-access", "opens files: remove it"),
    ("system", "api-denied", "runs shell commands: remove it"),
    ("popen", "api-denied", "runs shell commands: remove it"),
    ("Popen", "api-denied", "runs processes: remove it"),
    ("check_output", "api-denied", "runs processes: remove it"),
    ("getoutput", "api-denied", "runs processes: remove it"),
    ("execv", "api-denied", "replaces the process: remove it"),
    ("execve", "api-denied", "replaces the process: remove it"),
    ("execvp", "api-denied", "replaces the process: remove it"),
    ("spawnv", "api-denied", "runs processes: remove it"),
    ("fork", "api-denied", "starts processes: remove it"),
    ("forkpty", "api-denied", "starts processes: remove it"),
    (
        "kill",
        "api-denied",
        "sends signals to processes: remove it",
    ),
    (
        "killpg",
        "api-denied",
        "sends signals to processes: remove it",
    ),
    ("getenv", "api-denied", "reads the environment: remove it"),
    ("putenv", "api-denied", "changes the environment: remove it"),
    (
        "read_text",
        "file-access",
        "reads files: the weights path is given to load_model()",
    ),
    (
        "read_bytes",
        "file-access",
        "reads files: the weights path is given to load_model()",
    ),
    ("write_text", "file-access", "writes files: remove it"),
    ("write_bytes", "file-access", "writes files: remove it"),
    ("unlink", "file-access", "deletes files: remove it"),
    ("rmdir", "file-access", "deletes directories: remove it"),
    ("symlink_to", "file-access", "creates links: remove it"),
    ("hardlink_to", "file-access", "creates links: remove it"),
    ("chmod", "file-access", "changes file modes: remove it"),
    ("lchmod", "file-access", "changes file modes: remove it"),
    ("iterdir", "file-access", "lists directories: remove it"),
    ("rglob", "file-access", "lists directories: remove it"),
];

/// Frame, code and generator internals: each reaches globals or builtins of other code.
pub(crate) const FRAME_ATTRS: &[&str] = &[
    "gi_frame",
    "gi_code",
    "gi_yieldfrom",
    "cr_frame",
    "cr_code",
    "cr_await",
    "ag_frame",
    "ag_code",
    "tb_frame",
    "tb_next",
    "f_back",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_code",
    "f_trace",
    "co_code",
    "co_consts",
    "func_globals",
];

/// Dunder attributes allowed on any object: construction, naming and protocol methods.
/// Every other dunder (`__dict__`, `__globals__`, `__subclasses__`, `__reduce__`,
/// `__getattribute__`, `__traceback__`, `__self__`, `__builtins__` …) is refused.
pub(crate) const SAFE_DUNDERS: &[&str] = &[
    "__init__",
    "__class__",
    "__name__",
    "__qualname__",
    "__doc__",
    "__module__",
    "__version__",
    "__call__",
    "__len__",
    "__iter__",
    "__next__",
    "__getitem__",
    "__setitem__",
    "__contains__",
    "__repr__",
    "__str__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__hash__",
    "__bool__",
    "__int__",
    "__float__",
    "__index__",
    "__enter__",
    "__exit__",
    "__post_init__",
    "__add__",
    "__sub__",
    "__mul__",
    "__truediv__",
    "__floordiv__",
    "__matmul__",
    "__neg__",
    "__annotations__",
    "__wrapped__",
    "__getattr__",
    "__setattr__",
    "__slots__",
    "__all__",
    "__constants__",
];

/// Dunder names a model may use as plain names (`if __name__ == "__main__"`, `__all__ = …`).
pub(crate) const SAFE_DUNDER_NAMES: &[&str] = &[
    "__name__",
    "__doc__",
    "__file__",
    "__all__",
    "__version__",
    "__author__",
    "__class__",
    "__qualname__",
    "__module__",
    "__slots__",
    "__annotations__",
    "__constants__",
];

/// Builtins refused wherever they are named (called, passed around, or shadowed by an
/// import): rule and reason + fix.
pub(crate) const REFUSED_BUILTINS: &[(&str, &str, &str)] = &[
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
        "help",
        "dynamic-code",
        "runs the interactive help (imports modules, starts a pager)",
    ),
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
        "getattr",
        "dynamic-attribute",
        "reads attributes by computed name (refused by the network too); use `obj.name`, or a dict / nn.ModuleDict for computed names",
    ),
    (
        "setattr",
        "dynamic-attribute",
        "writes attributes by computed name (refused by the network too); use `obj.name = …`, or a dict / nn.ModuleDict",
    ),
    (
        "delattr",
        "dynamic-attribute",
        "deletes attributes by computed name; use `del obj.name`",
    ),
    (
        "__builtins__",
        "dunder-access",
        "reaches the builtins module",
    ),
    (
        "__loader__",
        "dunder-access",
        "reaches the module loader (reads files, imports)",
    ),
    (
        "__spec__",
        "dunder-access",
        "reaches the module loader (reads files, imports)",
    ),
    ("__build_class__", "dunder-access", "interpreter internals"),
];

/// Keyword arguments refused in any call: they make libraries run code or unpickle files.
pub(crate) const REFUSED_KEYWORDS: &[(&str, &str, &str)] = &[
    (
        "trust_remote_code",
        "remote-code",
        "makes transformers import Python files at run time: put the code in model.py and drop trust_remote_code",
    ),
    (
        "checkpoint_path",
        "torch-load",
        "makes timm load (and possibly unpickle) a file: load weights with safetensors.torch.load_file(weights_path) and model.load_state_dict()",
    ),
    (
        "pretrained_cfg_overlay",
        "torch-load",
        "makes timm load weights from a file or the network: load weights with safetensors.torch.load_file(weights_path)",
    ),
];

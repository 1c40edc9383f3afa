//! The worker venv's runtime as the network has it: which modules a `model.py` may import and
//! which versions the network runs (`python/requirements.txt`, the network's own pins), used to
//! turn "No module named X" into one line that says what to do.

use gas_package::analyzer::{ALLOWED_MODULES, BLOCKED_MODULES};

/// The worker requirements: the network's pins, one `package==version` a line.
const REQUIREMENTS: &str = include_str!("../../../python/requirements.txt");

/// Allowed by the network's model spec but not installed by its benchmark.
const NOT_INSTALLED_BY_NETWORK: &[(&str, &str)] = &[
    (
        "flash_attn",
        "it builds only against a CUDA toolkit and the network's benchmark does not install it either",
    ),
    (
        "ultralytics",
        "the network's benchmark does not install it (it is not among its pinned packages), so the import fails there too",
    ),
];

/// The pip package that provides an import name, where the two differ.
fn package_of(module: &str) -> &str {
    match module {
        "PIL" => "pillow",
        "cv2" => "opencv-python-headless",
        "skimage" => "scikit-image",
        "sklearn" => "scikit-learn",
        "yaml" => "PyYAML",
        m => m,
    }
}

/// `package==version` from the worker requirements, if pinned there.
pub fn network_pin(module: &str) -> Option<&'static str> {
    let pkg = package_of(module).to_ascii_lowercase().replace('_', "-");
    REQUIREMENTS
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .find(|l| {
            l.split("==")
                .next()
                .is_some_and(|name| name.trim().to_ascii_lowercase().replace('_', "-") == pkg)
        })
}

/// One line for a module the model imports (directly or through a library) that the worker's
/// venv lacks: the module, whether the network allows or blocks it, and the fix.
pub fn missing_module_line(module: &str) -> String {
    let top = module.split('.').next().unwrap_or(module);
    let blocked = BLOCKED_MODULES.iter().find(|(name, _)| {
        module == *name || module.starts_with(&format!("{name}.")) || top == *name
    });
    if let Some((name, why)) = blocked {
        return format!(
            "model.py needs module `{module}`, which the network blocks ({name}: {why}); remove the import"
        );
    }
    if let Some((_, why)) = NOT_INSTALLED_BY_NETWORK.iter().find(|(m, _)| *m == top) {
        return format!(
            "model.py needs module `{module}`: the network's model spec allows it, but {why}; the worker venv does not have it; drop the dependency"
        );
    }
    if ALLOWED_MODULES.contains(&top) {
        let fix = match network_pin(top) {
            Some(pin) => format!(
                "run scripts/setup.sh (it installs the network's runtime), or `pip install {pin}` (the network's version) into the venv given with --python"
            ),
            None => "run scripts/setup.sh (it installs the network's runtime)".to_string(),
        };
        return format!(
            "model.py needs module `{module}`, which the network allows, but this worker venv lacks it: {fix}"
        );
    }
    format!(
        "model.py needs module `{module}`, which is not on the network's allow list and is not in the worker venv (a library the model imports may need it); use only the allowed modules (torch, torchvision, torchaudio, transformers, timm, einops, safetensors, PIL, cv2, skimage, decord, fvcore, numpy, scipy, and a few of the standard library)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_come_from_the_requirements() {
        assert!(network_pin("timm").unwrap().starts_with("timm=="));
        assert!(network_pin("PIL").unwrap().starts_with("pillow=="));
        assert!(
            network_pin("cv2")
                .unwrap()
                .starts_with("opencv-python-headless==")
        );
        assert!(network_pin("torch").unwrap().starts_with("torch=="));
        assert_eq!(network_pin("nonexistent_pkg"), None);
    }

    #[test]
    fn lines_say_allowed_or_blocked_and_the_fix() {
        let l = missing_module_line("timm");
        assert!(
            l.contains("`timm`") && l.contains("allows") && l.contains("pip install timm=="),
            "{l}"
        );
        let l = missing_module_line("timm.models");
        assert!(l.contains("allows") && l.contains("timm=="), "{l}");
        let l = missing_module_line("requests");
        assert!(
            l.contains("blocks") && l.contains("remove the import"),
            "{l}"
        );
        let l = missing_module_line("flash_attn");
        assert!(l.contains("CUDA"), "{l}");
        let l = missing_module_line("xformers");
        assert!(l.contains("not on the network's allow list"), "{l}");
        assert_eq!(l.lines().count(), 1);
    }
}

"""Render the Dockerfile (and .dockerignore) of a serving or training image.

Two stages. The builder makes a virtualenv from the hash-locked wheels; the final stage copies
only that venv and the bundles, so no compiler, pip, cache, wheel or test directory is left.
Layers are ordered by how often they change: dependencies, then Dockyard, then the bundles,
so a rebuild after retraining reuses every dependency layer. A slim image has a third stage
before them that compiles numpy without BLAS (see :mod:`dockyard.packaging.sources`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dockyard.packaging.system_libraries import Link, dockerfile_lines

VENV = "/opt/venv"
MODELS_DIR = "/models"
# Where the builder stage unpacks locks and wheels; never part of the final image.
STAGING = "/opt/dockyard-build"
# A slim image's numpy: its pinned source archive, and the build tools that compile it.
SOURCE_LOCK = "source.lock"
TOOLS_LOCK = "build-tools.lock"
# meson options of numpy's build: no BLAS, no LAPACK, and no error for their absence.
NUMPY_SETUP_ARGS = ("-Dallow-noblas=true", "-Dblas=none", "-Dlapack=none")
_TOOLS_VENV = "/opt/numpy-build"
_COMPILED = f"{STAGING}/compiled"
PORT = 8000
TRAINING_LOCK = "/opt/dockyard/training.lock"
GOLDEN_MODULE = "dockyard.predictor.golden"
# Numeric, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd entry.
UID = 10001

# Files only a compiler, a type checker or a debugger reads.
_BUILD_ONLY = (
    "*.pyx", "*.pxd", "*.pxi", "*.pyi", "*.c", "*.cpp", "*.h", "*.hpp", "*.js.map", "*.css.map",
)  # fmt: skip
# Paths below site-packages that no server loads. onnxruntime's Python module carries the
# whole runtime statically linked (31 MB); the wheel adds a second copy as libonnxruntime.so
# for C API users, plus offline model tooling (33 MB together, more than a quarter of a slim
# image). The Swagger UI page loads swagger-ui-bundle.js; the ES-module builds, the
# unbundled core and the standalone preset are for JavaScript bundlers and other layouts.
# (numpy.f2py stays although no server uses it: scipy's array API layer touches every
# attribute of numpy on import.)
_UNUSED = (
    "onnxruntime/capi/libonnxruntime.so.*",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "swagger_ui_bundle/vendor/*/swagger-ui-es-bundle*.js",
    "swagger_ui_bundle/vendor/*/swagger-ui.js",
    "swagger_ui_bundle/vendor/*/swagger-ui-standalone-preset.js",
)

DOCKERIGNORE = """\
# The context holds only what the Dockerfile copies; anything else dropped here stays out.
*
!Dockerfile
!requirements.lock
!dockyard.lock
!dist/
!wheels/
!sources/
!source.lock
!build-tools.lock
!models/
**/__pycache__
**/.DS_Store
"""


# The container healthcheck, shared by the Dockerfile's HEALTHCHECK and compose files.
HEALTHCHECK_INTERVAL = "10s"
HEALTHCHECK_TIMEOUT = "3s"
HEALTHCHECK_START_PERIOD = "30s"
HEALTHCHECK_RETRIES = 3


def venv_site_packages(python: str) -> str:
    return f"{VENV}/lib/python{python}/site-packages"


def healthcheck_command(python: str) -> list[str]:
    """Standard library only, run as a file so it never pays for importing the model stack."""
    return ["python", "-I", f"{venv_site_packages(python)}/dockyard/packaging/healthcheck.py"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    version: str
    digest: str
    description: str = ""
    created: str = ""
    runtime: Literal["sklearn", "onnx"] = "sklearn"
    """The runtime the bundle records: its verified ONNX export, or scikit-learn."""


@dataclass(frozen=True, slots=True)
class SourceArchive:
    """numpy's source release, compiled without BLAS in ``build_base`` for a slim image."""

    build_base: str
    filename: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ImageSpec:
    base_image: str
    python: str
    """``major.minor`` of the image's Python; it names the venv's site-packages."""
    dockyard_version: str
    offline: bool
    models: Sequence[ModelSpec] = field(default_factory=tuple)
    kind: Literal["serve", "train"] = "serve"
    slim: bool = False
    """Serves ONNX exports with onnxruntime; no scikit-learn, scipy, pandas or skops."""
    numpy_source: SourceArchive | None = None
    """numpy to compile without BLAS (a slim image); None: numpy's wheel, if any."""
    links: Sequence[Link] = ()
    """System libraries locked wheels link without shipping them (LightGBM's OpenMP)."""

    @property
    def runtime(self) -> str:
        """What serves the models: the value of ``DOCKYARD_RUNTIME`` in the image. Each
        bundle is served by the runtime it records; ``auto`` when they record different ones
        (the image has both installed, so each gets its own)."""
        if self.slim:
            return "onnx"
        recorded = {m.runtime for m in self.models}
        return recorded.pop() if len(recorded) == 1 else "auto"

    @property
    def onnx(self) -> bool:
        """Whether the image installs ONNX Runtime: a slim image, or a bundle records it."""
        return self.slim or any(m.runtime == "onnx" for m in self.models)

    @property
    def build_base(self) -> str | None:
        return self.numpy_source.build_base if self.numpy_source else None

    @property
    def site_packages(self) -> str:
        return venv_site_packages(self.python)


def _quote(value: str) -> str:
    flat = " ".join(value.split())
    return '"' + flat.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(_quote(i) for i in items) + "]"


def labels(spec: ImageSpec) -> dict[str, str]:
    """OCI annotations plus Dockyard's own: what is inside, and which exact bundle bytes."""
    out = {
        "org.opencontainers.image.title": ",".join(m.name for m in spec.models) or "dockyard-train",
        "org.opencontainers.image.vendor": "Dockyard",
        "io.dockyard.version": spec.dockyard_version,
        "io.dockyard.kind": spec.kind,
    }
    if spec.kind == "serve":
        out["io.dockyard.runtime"] = spec.runtime
    if spec.models:
        out["org.opencontainers.image.version"] = ",".join(m.version for m in spec.models)
        out["org.opencontainers.image.description"] = (
            "; ".join(m.description for m in spec.models if m.description)
            or "Dockyard model server"
        )
        created = max((m.created for m in spec.models), default="")
        if created:
            # The newest bundle's training time, not the build time: the same inputs give
            # the same image configuration.
            out["org.opencontainers.image.created"] = created
        out["io.dockyard.models"] = ",".join(m.name for m in spec.models)
        for m in spec.models:
            out[f"io.dockyard.model.{m.name}.version"] = m.version
            out[f"io.dockyard.model.{m.name}.bundle-sha256"] = m.digest
            if spec.kind == "serve":
                out[f"io.dockyard.model.{m.name}.runtime"] = "onnx" if spec.slim else m.runtime
        if len(spec.models) == 1:
            out["io.dockyard.model.name"] = spec.models[0].name
            out["io.dockyard.model.version"] = spec.models[0].version
            out["io.dockyard.bundle.sha256"] = spec.models[0].digest
    return out


def _compile_numpy(source: SourceArchive) -> list[str]:
    """The stage that compiles numpy without BLAS, offline, from the context's sources/."""
    pip = f"{_TOOLS_VENV}/bin/python -m pip"
    offline = f"--no-cache-dir --no-deps --no-index --find-links {STAGING}/sources"
    archive = f"{STAGING}/sources/{source.filename}"
    settings = " ".join(f"-Csetup-args={a}" for a in NUMPY_SETUP_ARGS)
    return [
        f"FROM {source.build_base} AS numpy",
        "# numpy from its pinned source archive, without BLAS or LAPACK: ONNX Runtime does a slim",
        "# server's arithmetic, and the OpenBLAS in numpy's wheel is 28 MB. The build tools'",
        f"# wheels are pinned too ({TOOLS_LOCK}); this stage needs no network.",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 \\",
        f'    PATH="{_TOOLS_VENV}/bin:${{PATH}}"',
        f"RUN python3 -m venv {_TOOLS_VENV}",
        f"COPY {TOOLS_LOCK} {STAGING}/",
        f"COPY sources/ {STAGING}/sources/",
        # The archive by path, not through a requirements file: pip applies -C options given
        # on its command line only to requirements given there too.
        f"RUN {pip} install {offline} --require-hashes -r {STAGING}/{TOOLS_LOCK} \\",
        f'    && echo "{source.sha256}  {archive}" | sha256sum --check --strict \\',
        f"    && {pip} wheel {offline} --no-build-isolation --wheel-dir {_COMPILED} \\",
        f"        {settings} \\",
        f"        {archive}",
        "",
    ]


def _builder(spec: ImageSpec) -> list[str]:
    install = f"{VENV}/bin/python -m pip install --no-cache-dir --no-deps --no-compile"
    pip = f"{install} --require-hashes"
    source = (
        f"--no-index --find-links {STAGING}/wheels"
        if spec.offline
        else f"--find-links {STAGING}/wheels"
    )
    prune = " ".join(f"-o -name '{p}'" for p in _BUILD_ONLY)
    lines = [
        f"FROM {spec.base_image} AS builder",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1",
        "# 'python3 -m venv' works alike on the official python image and on Debian's python3.",
        f"RUN python3 -m venv {VENV}",
        f"COPY requirements.lock {STAGING}/",
    ]
    if spec.offline:
        lines.append(f"COPY wheels/ {STAGING}/wheels/")
    else:
        lines.append(f"RUN mkdir -p {STAGING}/wheels")
    first = [f"RUN {pip} \\"]
    if spec.build_base:
        # numpy's wheel from the compile stage: made here from hash-pinned inputs, so it has
        # no published hash of its own to require. A build image whose C library is newer
        # than the base's would give a numpy that fails here, not when the server starts.
        lines.append(f"COPY --from=numpy {_COMPILED}/ {_COMPILED}/")
        first = [
            f"RUN {install} --no-index {_COMPILED}/numpy-*.whl \\",
            f'    && {VENV}/bin/python -c "import numpy" \\',
            f"    && {pip} \\",
        ]
    lines += [
        "# Dependencies first: they change rarely, so this layer survives retraining.",
        "# Test suites, caches and build-only files (C sources, headers, Cython, stubs, source",
        "# maps) and the tooling listed in dockyard/packaging/dockerfile.py are never read by a",
        "# running server: they go.",
        *first,
        f"        {source} -r {STAGING}/requirements.lock \\",
        f"    && find {VENV} -depth -type d \\( -name tests -o -name __pycache__ \\) -exec rm -rf {{}} + \\",
        f"    && find {VENV}/lib -type f \\( -false {prune} \\) -delete \\",
        f"    && rm -rf {' '.join(f'{spec.site_packages}/{p}' for p in _UNUSED)}",
        f"COPY dockyard.lock dist/ {STAGING}/dist/",
        "# Then Dockyard itself; pip leaves with it; shared objects lose their symbol tables",
        "# and what a server imports at start is compiled once (see dockyard/packaging/).",
        f"RUN {pip} \\",
        f"        --no-index --find-links {STAGING}/dist -r {STAGING}/dist/dockyard.lock \\",
        f"    && {VENV}/bin/python -m pip uninstall --yes --quiet pip setuptools \\",
        f"    && {VENV}/bin/python -I {spec.site_packages}/dockyard/packaging/stripping.py {VENV}/lib \\",
        f"    && {VENV}/bin/python -I {spec.site_packages}/dockyard/packaging/precompile.py",
    ]
    if spec.kind == "serve" and spec.models:
        # The bundles' golden answers, recomputed by this image's own stack: a build whose
        # libraries answer differently from the ones the model was saved with fails here.
        # The final stage copies the bundles itself, so retraining still rebuilds only them.
        models = " ".join(f"{STAGING}/models/{m.name}" for m in spec.models)
        lines += [
            "# Golden answers: the image must answer the bundles' probe rows as recorded.",
            f"COPY models/ {STAGING}/models/",
            f"RUN DOCKYARD_RUNTIME={spec.runtime} {VENV}/bin/python -I -m {GOLDEN_MODULE} {models}",
        ]
    return lines


def _final(spec: ImageSpec) -> list[str]:
    lines = [
        f"FROM {spec.base_image}",
        f'ENV PATH="{VENV}/bin:${{PATH}}" \\',
        "    PYTHONDONTWRITEBYTECODE=1 \\",
        "    PYTHONUNBUFFERED=1 \\",
        "    HOME=/tmp \\",
        # The runtime each bundle records, and no silent fallback: a server must refuse to
        # start on a bundle ONNX Runtime cannot open rather than serve it another way.
        *([f"    DOCKYARD_RUNTIME={spec.runtime} \\"] if spec.kind == "serve" else []),
        f"    PORT={PORT}",
        f"COPY --from=builder {VENV} {VENV}",
        *dockerfile_lines(spec.links, spec.site_packages, offline=spec.offline),
    ]
    if spec.kind == "train":
        return [
            *lines,
            "# The lock this environment was built from: save_bundle() copies it into the bundle.",
            f"COPY requirements.lock {TRAINING_LOCK}",
            f"ENV DOCKYARD_TRAINING_LOCK={TRAINING_LOCK}",
            "WORKDIR /out",
            f"USER {UID}:{UID}",
            _json_instruction("ENTRYPOINT", ["dockyard", "train"]),
            _json_instruction("CMD", ["--help"]),
            *(f"LABEL {k}={_quote(v)}" for k, v in labels(spec).items()),
        ]
    serve = ["dockyard", "serve", *(f"{MODELS_DIR}/{m.name}" for m in spec.models)]
    serve += ["--host", "0.0.0.0", "--port", str(PORT)]  # noqa: S104 - inside the container
    lines += [
        f"WORKDIR {MODELS_DIR}",
        f"USER {UID}:{UID}",
        f"EXPOSE {PORT}",
        "# Standard library only, run as a file so it never pays for importing the model stack.",
        f"HEALTHCHECK --interval={HEALTHCHECK_INTERVAL} --timeout={HEALTHCHECK_TIMEOUT} "
        f"--start-period={HEALTHCHECK_START_PERIOD} --retries={HEALTHCHECK_RETRIES} \\",
        "    " + _json_instruction("CMD", healthcheck_command(spec.python)),
        "# Exec form: the server is PID 1 and receives docker stop's SIGTERM itself.",
        "STOPSIGNAL SIGTERM",
        _json_instruction("CMD", serve),
        "# Bundles last: retraining invalidates only the layers from here on.",
    ]
    lines += [f"COPY models/{m.name}/ {MODELS_DIR}/{m.name}/" for m in spec.models]
    label_items = list(labels(spec).items())
    lines.append("LABEL " + " \\\n      ".join(f"{k}={_quote(v)}" for k, v in label_items))
    return lines


def _json_instruction(name: str, argv: Sequence[str]) -> str:
    return f"{name} {_json_list(argv)}"


def render(spec: ImageSpec) -> str:
    """The Dockerfile text for ``spec``."""
    what = (
        "serving " + ", ".join(f"{m.name} {m.version}" for m in spec.models)
        if spec.kind == "serve"
        else "training (dockyard train)"
    )
    header = [
        f"# Dockyard {spec.dockyard_version}: image for {what}.",
        "# Written by 'dockyard build'; build this context anywhere with: docker build -t IMAGE .",
        "# Every wheel is pinned with its sha256 in requirements.lock and dockyard.lock.",
        *(
            [
                f"# numpy is compiled from the source pinned in {SOURCE_LOCK}, by the tools in {TOOLS_LOCK}."
            ]
            if spec.build_base
            else []
        ),
        "",
    ]
    compile_stage = _compile_numpy(spec.numpy_source) if spec.numpy_source else []
    stages = [*compile_stage, *_builder(spec), "", *_final(spec)]
    return "\n".join([*header, *stages]) + "\n"

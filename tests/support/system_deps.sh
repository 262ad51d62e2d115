#!/usr/bin/env bash
# The one place that installs what the test suite needs from outside Python: Debian's Chromium
# (the dashboard's browser tests, driven by Playwright) and Prometheus (the exported alert rules,
# evaluated for real). Python-side tools (SeaweedFS's `weed`, the KServe schema, ...) come from the
# lock file or the repository. Idempotent: packages already present are not touched, so a second
# run installs nothing and needs no network. Waits for the dpkg lock instead of failing on it.
#
#   sudo tests/support/system_deps.sh        # or: make deps
#   tests/support/system_deps.sh --check     # exit 1 and name what is missing; installs nothing
set -euo pipefail

# package=a file it installs that the tests use
NEEDS=(
  chromium=/usr/bin/chromium
  prometheus=/usr/bin/prometheus
)

missing=()
for need in "${NEEDS[@]}"; do
  [[ -x "${need#*=}" ]] || missing+=("${need%%=*}")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "system deps: all present (${NEEDS[*]%%=*})"
  exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
  echo "system deps missing: ${missing[*]} (run: sudo tests/support/system_deps.sh)" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "system deps missing: ${missing[*]}; installing them needs root: sudo $0" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "system deps missing: ${missing[*]}; this script installs Debian packages and apt-get is absent" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -y -q)
echo "system deps: installing ${missing[*]}"
start=$SECONDS
# A stale package index names versions the mirror no longer has: refresh it once when an
# install fails, then try again.
if ! "${APT[@]}" install --no-install-recommends "${missing[@]}"; then
  "${APT[@]}" update
  "${APT[@]}" install --no-install-recommends "${missing[@]}"
fi
for need in "${NEEDS[@]}"; do
  if [[ ! -x "${need#*=}" ]]; then
    echo "system deps: ${need%%=*} installed but ${need#*=} is missing" >&2
    exit 1
  fi
done
echo "system deps: installed ${missing[*]} in $((SECONDS - start)) s"

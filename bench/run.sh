#!/usr/bin/env bash
# `make bench`: build the peers' own environments if needed, then run the harness with the project's venv.
# Writes bench/results.md and bench/results.json, then runs the backfill-at-scale benchmark
# (bench/scale.py), which writes bench/scale_results.json and appends its section to results.md.
# Env knobs (all optional):
#   BENCH_QUICK=1           small sizes (smoke run, ~1-2 min; scale: 4 series x 3 days, ~4 min)
#   BENCH_SKIP_VENVS=1      do not create peer venvs (peers without one are reported "unavailable")
#   BENCH_ARGS="..."        extra arguments passed to bench/harness.py
#   BENCH_SKIP_SCALE=1      skip bench/scale.py
#   BENCH_SCALE_ARGS="..."  arguments for bench/scale.py (default: 50 series x 30 days, ~17 min on an idle 2-core machine)
# `bash bench/run.sh --venvs-only` only builds the environments; other arguments go to bench/harness.py
# (e.g. `bash bench/run.sh --quick`).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="${BENCH_PYTHON:-$ROOT/.venv/bin/python}"
if [ ! -x "$PY" ]; then PY="$(command -v python3)"; fi
# The peers' venvs use the same base interpreter as the project's venv (Python 3.11).
BASE_PY="$("$PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"

log() { echo "[bench] $*" >&2; }

# make_venv NAME MARKER_MODULE PIP_ARGS...
make_venv() {
    local name="$1" marker="$2"; shift 2
    local dir="$HERE/.venv-$name"
    if [ -x "$dir/bin/python" ] && "$dir/bin/python" -c "import $marker" >/dev/null 2>&1; then
        return 0
    fi
    log "creating $dir ($*)"
    rm -rf "$dir"
    "$BASE_PY" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    if ! "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >"$dir/install.log" 2>&1; then
        log "install of $name failed (see $dir/install.log); it will be reported as unavailable"
        return 0
    fi
    "$dir/bin/python" -c "import $marker" >/dev/null 2>&1 || log "$name installed but '$marker' does not import"
}

if [ "${BENCH_SKIP_VENVS:-0}" != "1" ]; then
    # E-Divisive means (MongoDB): pins numpy<2 and Python ~3.11 -> own venv.
    make_venv edivisive signal_processing_algorithms.energy_statistics.energy_statistics \
        "signal-processing-algorithms==2.1.6" &
    p1=$!
    # Apache Otava (Hunter): pins numpy==2.2.0 and scipy<1.17 -> own venv.
    make_venv otava otava.analysis "apache-otava==0.8.0" &
    p2=$!
    # ruptures has no pin that conflicts with the project: it runs in the project's process.
    if ! "$PY" -c "import ruptures" >/dev/null 2>&1; then
        log "installing ruptures into the project venv"
        "$PY" -m pip install -q --disable-pip-version-check "ruptures==1.1.10" || log "ruptures did not install"
    fi
    wait "$p1" "$p2" || true
fi

if [ "${1:-}" = "--venvs-only" ]; then exit 0; fi

cd "$ROOT"
ARGS=()
QUICK="${BENCH_QUICK:-0}"
for a in "$@"; do if [ "$a" = "--quick" ]; then QUICK=1; fi; done
if [ "$QUICK" = "1" ]; then ARGS+=(--quick); fi
# shellcheck disable=SC2206
ARGS+=(${BENCH_ARGS:-})
"$PY" -m bench.harness "${ARGS[@]}" "$@"

# Backfill at scale: the real Dagster graph in a temporary DAGSTER_HOME / data dir (never the project's).
if [ "${BENCH_SKIP_SCALE:-0}" != "1" ]; then
    SCALE_ARGS=()
    if [ "$QUICK" = "1" ]; then SCALE_ARGS+=(--series 4 --days 3 --micro-fits 12); fi
    # shellcheck disable=SC2206
    SCALE_ARGS+=(${BENCH_SCALE_ARGS:-})
    log "backfill at scale: bench/scale.py ${SCALE_ARGS[*]}"
    "$PY" -m bench.scale "${SCALE_ARGS[@]}"
elif [ -f "$HERE/scale_results.json" ]; then
    # keep results.md's scale section (the harness rewrote the file) from the last scale run, dated
    "$PY" -m bench.scale --merge-only
fi

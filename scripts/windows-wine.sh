#!/usr/bin/env bash
# Runs the test suite for Windows (x86_64-pc-windows-gnu) under Wine, and
# type-checks the crate for macOS (x86_64-apple-darwin).
#
#   scripts/windows-wine.sh            install what is missing, then test
#   scripts/windows-wine.sh --no-install   only use what is already there
#
# Exit status: 0 when every target passed; 1 when a test failed or hung;
# 77 when the tools cannot be had on this machine (nothing was run), so that
# CI can report it and go on.
#
# What it needs, and installs where it can: Wine (Debian's `wine64`), the
# MinGW-w64 cross compiler (`gcc-mingw-w64-x86-64`), and the rustup targets.
# Wine 8 lacks `bcryptprimitives.dll`, which Rust's std needs at start-up;
# scripts/wine/bcryptprimitives.c is the repository's own stand-in, built
# into the Wine prefix (target/wineprefix, so nothing outside target/ is
# touched).
#
# Tests that need Python are not run: they start CPython from pyenv, and a
# Windows build would need a Windows CPython. Files that mix both have their
# Python tests skipped by name below.
set -uo pipefail
cd "$(dirname "$0")/.."

WIN=x86_64-pc-windows-gnu
MAC=x86_64-apple-darwin
# Each test binary gets this long under Wine before it counts as hung.
PER_TARGET_TIMEOUT=${PER_TARGET_TIMEOUT:-180}
install=yes
[ "${1:-}" = "--no-install" ] && install=no

skip() {
    echo "windows-wine: SKIPPED, $*" >&2
    exit 77
}

have() { command -v "$1" >/dev/null 2>&1; }

# --- Tools -----------------------------------------------------------------
mkdir -p target
if ! have wine || ! have x86_64-w64-mingw32-gcc; then
    if [ "$install" = yes ] && have apt-get && [ "$(id -u)" = 0 ]; then
        echo "== installing wine, wine64 and gcc-mingw-w64-x86-64 (apt)"
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y wine wine64 gcc-mingw-w64-x86-64; } \
            >target/windows-wine-apt.log 2>&1 ||
            echo "windows-wine: apt-get failed (see target/windows-wine-apt.log)" >&2
    fi
fi
have wine || skip "Wine is not installed and could not be (apt: wine wine64)"
have x86_64-w64-mingw32-gcc || skip "the MinGW-w64 cross compiler is missing (apt: gcc-mingw-w64-x86-64)"

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in "$WIN" "$MAC"; do
    if ! grep -qx "$t" <<<"$installed_targets"; then
        if [ "$install" = yes ] && have rustup; then
            echo "== rustup target add $t"
            rustup target add "$t" >/dev/null 2>&1 || true
        fi
    fi
done
installed_targets=$(rustup target list --installed 2>/dev/null || true)
grep -qx "$WIN" <<<"$installed_targets" || skip "the Rust target $WIN is not installed (rustup target add $WIN)"

failed=0

# --- macOS: type-check only --------------------------------------------------
if grep -qx "$MAC" <<<"$installed_targets"; then
    echo "== cargo check --target $MAC --all-targets --all-features"
    if cargo check --quiet --target "$MAC" --all-targets --all-features; then
        echo "macos check: ok"
    else
        echo "macos check: FAILED"
        failed=1
    fi
else
    echo "macos check: SKIPPED (rustup target add $MAC failed)"
fi

# --- Wine prefix and the bcryptprimitives stand-in ---------------------------
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
export WINEDEBUG=-all
export WINEPREFIX="$PWD/target/wineprefix"
export WINEDLLOVERRIDES="mscoree,mshtml="
# tests/support/examples.rs would run cargo, a Linux program, from inside
# Wine; the examples are built below instead.
export STDRPC_EXAMPLES_PREBUILT=1
mkdir -p target
if [ ! -f "$WINEPREFIX/system.reg" ]; then
    echo "== creating the Wine prefix $WINEPREFIX"
    wineboot -i >/dev/null 2>&1 || skip "wineboot could not create $WINEPREFIX"
fi
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$dll" ] || [ scripts/wine/bcryptprimitives.c -nt "$dll" ]; then
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" \
        scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32 ||
        skip "could not build the bcryptprimitives stand-in"
fi

# --- Build -------------------------------------------------------------------
echo "== cargo build --target $WIN (tests and examples)"
if ! cargo test --quiet --target "$WIN" --no-run --lib --tests ||
    ! cargo build --quiet --target "$WIN" --examples; then
    echo "windows build: FAILED"
    exit 1
fi

# --- Run -----------------------------------------------------------------------
# Every test target in tests/ runs, so a new test file is covered without
# editing this list, except the ones that only talk to CPython (the Python
# interop tests need a Windows CPython, which this machine does not have).
# Files that mix both skip their Python tests by name.
python_only=" crypto_vs_python pickle_python python_handshake python_manager "
declare -A python_tests=(
    [examples]="kv_store_and_stock_python_authenticate_to_each_other the_posts_python_clients_run_against_the_example_servers example_servers_in_strict_mode_refuse_legacy_md5"
    [idle_shutdown]="shutdown_closes_an_idle_stock_python_proxy"
    [interpreters]="an_environment_variable_overrides_the_search every_minor_version_is_found_and_reports_itself"
    [protocol_doc]="documented_python_clients_typed_and_untyped"
    [python_bounds]="stock_python_clients_see_bounded_errors"
)
targets=("--lib|")
for file in tests/*.rs; do
    name=$(basename "$file" .rs)
    case "$python_only" in *" $name "*) continue ;; esac
    args=""
    for test in ${python_tests[$name]:-}; do
        args="$args --skip $test"
    done
    targets+=("$name|$args")
done
for entry in "${targets[@]}"; do
    name=${entry%%|*}
    args=${entry#*|}
    if [ "$name" = "--lib" ]; then
        sel=(--lib)
        label=lib
    else
        sel=(--test "$name")
        label=$name
    fi
    started=$(date +%s)
    log="target/wine-test-$label.log"
    # shellcheck disable=SC2086
    timeout -k 10 "$PER_TARGET_TIMEOUT" \
        cargo test --quiet --target "$WIN" "${sel[@]}" -- $args >"$log" 2>&1
    rc=$?
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        # Wine itself (its wineserver) now and then stalls a process that
        # runs natively in seconds; a target that hangs is run once more,
        # and said so, before it counts as hung. A second hang fails.
        echo "wine $label: HUNG after ${PER_TARGET_TIMEOUT}s; what it printed last:"
        grep -E '^test .* has been running' "$log" | sed 's/^/    /'
        tail -5 "$log" | sed 's/^/    | /'
        echo "wine $label: running it once more"
        mv "$log" "$log.hung"
        started=$(date +%s)
        # shellcheck disable=SC2086
        timeout -k 10 "$PER_TARGET_TIMEOUT" \
            cargo test --quiet --target "$WIN" "${sel[@]}" -- $args >"$log" 2>&1
        rc=$?
    fi
    secs=$(($(date +%s) - started))
    summary=$(grep -E '^test result:' "$log" | tail -1 | sed 's/^test result: //; s/; finished in.*//')
    if [ $rc = 0 ]; then
        echo "wine $label: ok ($summary) ${secs}s"
    elif [ $rc = 124 ] || [ $rc = 137 ]; then
        echo "wine $label: HUNG (killed after ${PER_TARGET_TIMEOUT}s; log $log)"
        grep -E '^test .* has been running' "$log" | sed 's/^/    /'
        failed=1
    else
        echo "wine $label: FAILED (${summary:-exit $rc}) ${secs}s; log $log"
        grep -E '^test .* FAILED$|^    [a-z_:]+$' "$log" | sed 's/^/    /' | head -20
        failed=1
    fi
done
# Stray Wine processes (the wineserver) end on their own; make sure of it.
wineserver -k >/dev/null 2>&1 || true
exit $failed

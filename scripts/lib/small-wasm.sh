# Sourced by scripts/build-embed and scripts/build-hosted-wasm: one recipe
# for the browser's wasm, so the embed and the hosted page cannot drift apart.
#
# The flags are unstable ones, allowed on the pinned stable compiler by
# RUSTC_BOOTSTRAP for these builds alone (the server and the tests never see
# it): the standard library is rebuilt with the same options, and a panic
# aborts at once instead of formatting a message nobody reads (a panic shows
# in the console as "unreachable"). Together they take about a tenth off the
# gzipped wasm (see the README's "Size").
#
# Both builds share target/embed, and with it the rebuilt standard library
# and every dependency compiled with the same features.

# Expects the repository root as the working directory, and tools/ on PATH.
small_wasm_work=target/embed

# Builds package $1 for the browser, with the features $4 if given, and
# leaves $small_wasm_work/$2/$3.wasm (optimised) and $3.min.js (its minified
# glue).
# The standard library is built with its `optimize_for_size` feature: the
# smaller of its implementations where it has two (sorting, formatting
# numbers), each still O(n log n) or linear; 319 bytes off the embed's
# gzipped total (2026-12-02).
small_wasm_build() {
  local package=$1 dir="$small_wasm_work/$2" name=$3 features=${4:-}
  RUSTC_BOOTSTRAP=1 \
  RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none" \
    cargo build --package "$package" --lib --target wasm32-unknown-unknown --profile wasm-release \
      ${features:+--features "$features"} \
      -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size --target-dir "$small_wasm_work"

  rm -rf "$dir" && mkdir -p "$dir"
  wasm-bindgen --target web --no-typescript --out-dir "$dir" --out-name "$name" \
    "$small_wasm_work/wasm32-unknown-unknown/wasm-release/${package//-/_}.wasm"
  small_wasm_opt "$dir/${name}_bg.wasm" "$dir/$name.wasm" ${REINS_EMBED_KEEP_NAMES:+-g}
  terser "$dir/$name.js" --module --compress --mangle --output "$dir/$name.min.js"
}

# Optimises wasm-bindgen's output $1 into $2 as every browser build is
# optimised; further arguments go to wasm-opt (`-g` keeps the names).
small_wasm_opt() {
  local input=$1 output=$2
  shift 2
  # The arguments cargo-leptos gives wasm-opt, read from Cargo.toml's
  # `wasm-opt-features` so the builds cannot drift apart.
  local wasm_opt_args
  mapfile -t wasm_opt_args < <(sed -n '/^wasm-opt-features = \[/,/^\]/{s/^ *"\(.*\)",\{0,1\}$/\1/p}' Cargo.toml)
  ((${#wasm_opt_args[@]})) || { echo "No wasm-opt-features in Cargo.toml" >&2; return 1; }
  # Before cargo-leptos's arguments (-Oz and the features): control flow
  # flattened and rebuilt, and -Oz run until it changes nothing more. 3 KB
  # gzipped smaller than -Oz alone (201,177 -> 198,177 bytes of the embed's
  # wasm, measured 2026-11-30) for about 25 s more.
  # And first, the exports of wasm-streams' three classes taken out, with the
  # code only they reach: Leptos always builds server_fn for the browser, and
  # server_fn brings wasm-streams, whose exported classes wasm-opt must
  # otherwise keep. Reins has no server functions, so nothing makes those
  # classes (a streaming server function would need them back). 1.3 KB
  # gzipped off the embed's wasm and 1.9 KB off the hosted page's
  # (2026-12-02); the glue's classes stay, never used.
  wasm-opt --remove-exports --pass-arg='remove-exports@*intounderlying*' \
    --flatten --rereloop "${wasm_opt_args[@]}" -Oz --converge \
    "$input" -o "$output" "$@"
}

# Writes $1.gz and $1.br, at the highest levels, for the server to send.
compress() {
  gzip -9 --keep --no-name --force "$1"
  node -e 'const zlib = require("zlib"), fs = require("fs");
    fs.writeFileSync(process.argv[1] + ".br", zlib.brotliCompressSync(fs.readFileSync(process.argv[1]),
      { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }));' "$1"
}

# The first 16 hex digits of the SHA-256 of file $1: names by content.
content_hash() {
  sha256sum "$1" | cut -c1-16
}

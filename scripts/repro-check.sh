#!/usr/bin/env bash
# Reproducible-build check: builds the package twice, from the lock file, in
# two fresh temporary copies of the repository (at different paths), and
# compares
#   - the SHA-256 of the two `npm pack` tarballs, and
#   - the sorted `sha256sum` list of every file under dist/.
# Prints both digests; exits 1 with a diff if anything differs, 0 otherwise.
#
# Usage: scripts/repro-check.sh [--ref REF]
#   default   the repository's current files: tracked + untracked-not-ignored,
#             as found in the working tree (in a fresh clone: exactly HEAD);
#   --ref REF the committed tree of REF (via `git archive`), ignoring local edits.
#
# Each copy runs `npm ci --no-audit --no-fund` (which compiles via `prepare`),
# then `npm pack --ignore-scripts` (packs what npm ci built, without compiling
# a second time). The user's npm cache is reused (--prefer-offline).
# SOURCE_DATE_EPOCH is the last commit time (fixed fallback without commits).
set -euo pipefail

die() { echo "repro-check: $*" >&2; exit 2; }

ref=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ref) [ $# -ge 2 ] || die "--ref needs a value"; ref="$2"; shift 2 ;;
    --ref=*) ref="${1#--ref=}"; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1" ;;
  esac
done

command -v npm >/dev/null || die "npm not found"
command -v sha256sum >/dev/null || die "sha256sum not found"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if root=$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null); then
  in_git=1
else
  root=$(cd "$script_dir/.." && pwd)
  in_git=0
fi
[ -f "$root/package-lock.json" ] || die "no package-lock.json in $root"

# Same inputs on every machine: modes, sort order, time zone, timestamps.
umask 022
export LC_ALL=C TZ=UTC
if [ "$in_git" = 1 ] && epoch=$(git -C "$root" log -1 --format=%ct ${ref:+"$ref"} 2>/dev/null) && [ -n "$epoch" ]; then
  :
else
  epoch=315532800 # 1980-01-01T00:00:00Z; the repository has no commit yet
fi
export SOURCE_DATE_EPOCH="$epoch"
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false

work=$(mktemp -d "${TMPDIR:-/tmp}/cairn-repro.XXXXXX")
child=""
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
  # Interrupted while npm runs: stop it before deleting its directory (npm
  # does not always exit on the first SIGTERM), then remove everything.
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$child" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run DIR LOG CMD...: CMD in DIR, output appended to LOG; in the background
# and waited for, so that a signal reaches the traps at once.
run() {
  local dir="$1" log="$2" rc=0
  shift 2
  (cd "$dir" && exec "$@") >>"$log" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

# Copy the sources into $1.
copy_sources() {
  local dest="$1"
  mkdir -p "$dest"
  if [ -n "$ref" ]; then
    [ "$in_git" = 1 ] || die "--ref needs a git repository"
    git -C "$root" archive --format=tar "$ref" | tar -x -C "$dest"
  elif [ "$in_git" = 1 ]; then
    # Tracked and untracked-but-not-ignored files that exist in the tree
    # (a tracked file deleted locally is skipped, as in the working tree).
    (cd "$root" && git ls-files -z --cached --others --exclude-standard \
      | while IFS= read -r -d '' f; do if [ -f "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done \
      | tar --null --no-recursion -T - -cf -) | tar -x -C "$dest"
  else
    (cd "$root" && tar -cf - --exclude=./node_modules --exclude=./dist --exclude=./data \
      --exclude=./.git --exclude=./.tap --exclude=./coverage --exclude='*.tgz' .) | tar -x -C "$dest"
  fi
}

# Build a copy of the snapshot in $1, leave the tarball in $1.pack/ and the dist manifest in $1.dist.sha256.
build() {
  local dir="$1" log="$1.log"
  mkdir -p "$dir"
  cp -a "$work/src/." "$dir/"
  mkdir -p "$dir.pack"
  echo "== build in $dir" >&2
  if ! { run "$dir" "$log" npm ci --no-audit --no-fund --prefer-offline \
        && run "$dir" "$log" npm pack --ignore-scripts --pack-destination "$dir.pack"; }; then
    tail -n 40 "$log" >&2
    die "build failed in $dir (log above)"
  fi
  [ -d "$dir/dist" ] || die "npm ci produced no dist/ in $dir"
  (cd "$dir" && find dist -type f -print0 | sort -z | xargs -0 sha256sum) >"$dir.dist.sha256"
  # An absolute path of the build directory inside dist/ (e.g. source maps
  # with an absolute sourceRoot) makes output depend on where it was built.
  if grep -rlF -- "$dir" "$dir/dist" >"$dir.abs" 2>/dev/null; then
    echo "repro-check: files under dist/ embed the build path $dir:" >&2
    sed "s|^$dir/||" "$dir.abs" >&2
  fi
}

start=$SECONDS
echo "repro-check: sources from ${ref:-working tree} of $root, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH" >&2
# One snapshot of the sources for both builds (the working tree may be
# edited while this runs), then two copies at different path names and
# lengths on purpose.
copy_sources "$work/src"
a="$work/a"
b="$work/build-second"
build "$a"
build "$b"

tgz_a=$(find "$a.pack" -maxdepth 1 -name '*.tgz' | head -n 1)
tgz_b=$(find "$b.pack" -maxdepth 1 -name '*.tgz' | head -n 1)
if [ -z "$tgz_a" ] || [ -z "$tgz_b" ]; then die "npm pack produced no tarball"; fi

sum() { sha256sum "$1" | cut -d' ' -f1; }
pack_a=$(sum "$tgz_a"); pack_b=$(sum "$tgz_b")
dist_a=$(sum "$a.dist.sha256"); dist_b=$(sum "$b.dist.sha256")
files=$(wc -l <"$a.dist.sha256" | tr -d ' ')

echo "tarball $(basename "$tgz_a")"
echo "  build 1 sha256: $pack_a"
echo "  build 2 sha256: $pack_b"
echo "dist/ ($files files), sha256 of the sorted sha256sum list"
echo "  build 1 sha256: $dist_a"
echo "  build 2 sha256: $dist_b"

status=0
if [ "$dist_a" != "$dist_b" ]; then
  status=1
  echo "DIFFERENT: dist/ (sha256sum lists, build 1 vs build 2):"
  diff -u --label build1/dist --label build2/dist "$a.dist.sha256" "$b.dist.sha256" || true
fi
if [ "$pack_a" != "$pack_b" ]; then
  status=1
  echo "DIFFERENT: npm pack tarball (listing, build 1 vs build 2):"
  diff -u --label build1.tgz --label build2.tgz \
    <(tar -tvzf "$tgz_a" | sort -k6) <(tar -tvzf "$tgz_b" | sort -k6) || true
  echo "content digests:"
  diff -u --label build1.tgz --label build2.tgz \
    <(mkdir -p "$a.x" && tar -xzf "$tgz_a" -C "$a.x" && cd "$a.x" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
    <(mkdir -p "$b.x" && tar -xzf "$tgz_b" -C "$b.x" && cd "$b.x" && find . -type f -print0 | sort -z | xargs -0 sha256sum) || true
fi
if [ -s "$a.abs" ] || [ -s "$b.abs" ]; then
  status=1
  echo "NOT PATH-INDEPENDENT: dist/ embeds the absolute build directory (see above)"
fi

elapsed=$((SECONDS - start))
if [ "$status" = 0 ]; then
  echo "REPRODUCIBLE (${elapsed}s)"
else
  echo "NOT REPRODUCIBLE (${elapsed}s)"
fi
exit "$status"
